"""A grade as a table a learner reads: the tests grouped by the lab's task, each with what it checks (its
docstring's first line), its result and points, the reason of each failure under it; a subtotal per task and
a total. As text (terminal, AssertionError) and as HTML (a notebook)."""
from __future__ import annotations

import html


def by_task(tests: list[dict]) -> list[tuple[str, list[dict]]]:
    """The tests grouped by their "task" field, tasks in the order of their first test ("" if none is named)."""
    groups: dict[str, list[dict]] = {}
    for test in tests:
        groups.setdefault(test.get("task") or "", []).append(test)
    return list(groups.items())


def _points(tests: list[dict]) -> str:
    return f"{sum(t['earned'] for t in tests)}/{sum(t['points'] for t in tests)}"


def _result(test: dict) -> str:
    return "pass" if test["passed"] else test["outcome"]


def _why(test: dict) -> str:
    """Why a test did not earn its points: its failure, or the must-pass failure that capped its task ("" if it did)."""
    if not test["passed"]:
        return test["message"] or test["outcome"]
    return test["message"] if test["earned"] < test["points"] else ""


MUST_PASS = "★ must pass: when one fails, its task earns less than half of its points"


def _mark(test: dict) -> str:
    return " ★" if test.get("must_pass") else ""


def heading(result: dict) -> list[str]:
    """What was graded and how the notebook ran (a grade from check() ran no notebook)."""
    if result.get("notebook"):
        lines = [f"{result['notebook']}  (lab {result['lab']})"]
    else:
        lines = [f"lab {result['lab']}: the files in {result.get('folder')}"
                 + (f", {result['task']} only" if result.get("task") else "")]
    ex = result.get("execution")
    if ex:
        cells = ", ".join(str(e["cell"] + 1) for e in ex["errors"])
        lines.append(f"  ran {ex['cells']} code cells in {ex['seconds']} s; {len(ex['errors'])} raised an error"
                     + (f" ({'cell' if len(ex['errors']) == 1 else 'cells'} {cells}, counting from 1)" if cells else ""))
        if ex.get("failure"):
            lines.append(f"  execution stopped: {ex['failure']}")
    return lines


def total(result: dict) -> str:
    return (f"total: {result['score']}/{result['max_score']} points, "
            f"{result['passed']} of {result['total']} tests passed")


def table(result: dict) -> str:
    """One grade as text: per task a heading line with its subtotal, then each test (result, points, name),
    what it checks under its name, and why it failed under that."""
    tests = result["tests"]
    width = max([len(_result(t)) for t in tests] + [4])
    pts = max([len(f"{t['earned']}/{t['points']}") for t in tests] + [3])
    indent = " " * (4 + width + 2 + pts + 2)
    out = heading(result) + [""]
    for task, group in by_task(tests):
        out.append(f"  {task or 'tests'}  ({_points(group)} points)")
        for t in group:
            earned = f"{t['earned']}/{t['points']}"
            out.append(f"    {_result(t).ljust(width)}  {earned.rjust(pts)}  {t['name']}{_mark(t)}")
            if t.get("doc"):
                out.append(f"{indent}{t['doc']}")
            if _why(t):
                out.append(f"{indent}why: {_why(t)}")
        out.append("")
    out.append(f"  {total(result)}")
    if any(t.get("must_pass") for t in tests):
        out.append(f"  {MUST_PASS}")
    return "\n".join(out)


_COLOURS = {"pass": "#1a7f37", "failed": "#cf222e", "error": "#cf222e"}


def html_table(result: dict) -> str:
    """The same grade as an HTML table, for a notebook's output."""
    esc = html.escape
    rows = []
    for task, group in by_task(result["tests"]):
        rows.append(f'<tr style="background:rgba(127,127,127,0.12)"><th colspan="2" style="text-align:left">'
                    f'{esc(task or "tests")}</th><th style="text-align:right">{_points(group)}</th></tr>')
        for t in group:
            outcome = _result(t)
            colour = _COLOURS.get(outcome, "#9a6700")
            what = f"<code>{esc(t['name'])}</code>{_mark(t)}"
            if t.get("doc"):
                what += f"<br>{esc(t['doc'])}"
            if _why(t):
                what += f'<br><span style="color:{colour}">why: {esc(_why(t))}</span>'
            rows.append(f'<tr><td style="color:{colour};font-weight:bold;vertical-align:top">{esc(outcome)}</td>'
                        f'<td style="text-align:left">{what}</td>'
                        f'<td style="text-align:right;vertical-align:top">{t["earned"]}/{t["points"]}</td></tr>')
    head = "<br>".join(esc(line.strip()) for line in heading(result))
    return (f"<div><p>{head}</p><table><thead><tr><th>result</th><th style='text-align:left'>test: what it checks"
            f"</th><th>points</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"<p><b>{esc(total(result))}</b>"
            f"{'<br>' + esc(MUST_PASS) if any(t.get('must_pass') for t in result['tests']) else ''}</p></div>")
