"""How a lab's points add up: each passed test earns its points, except in a task where a must-pass test failed."""
from __future__ import annotations


def cap_tasks(results: list[dict]) -> None:
    """A task with a failed must-pass test earns less than half its points: (points - 1) // 2 at the most.

    A limiter that lets a stampede through, or a verifier that takes an unsigned token, is not two-thirds right.
    The passed tests of a capped task keep their points in order until the cap is spent; each says why."""
    for task in dict.fromkeys(r["task"] for r in results):
        mine = [r for r in results if r["task"] == task]
        failed = [r["name"] for r in mine if r["must_pass"] and not r["passed"]]
        if not failed:
            continue
        left = (sum(r["points"] for r in mine) - 1) // 2
        for r in mine:
            if r["passed"]:
                r["earned"] = min(r["points"], left)
                left -= r["earned"]
                if r["earned"] < r["points"]:
                    r["message"] = f"passed, but {task} is capped below half: must-pass {failed[0]} failed"


def best_possible(tests: list[dict]) -> int:
    """The most these tests of one task can still earn: every test not failed yet passing, under the cap if a
    must-pass test has failed."""
    best = sum(t["points"] for t in tests if t["outcome"] in ("passed", "not run"))
    if any(t["must_pass"] and t["outcome"] not in ("passed", "not run") for t in tests):
        best = min(best, (sum(t["points"] for t in tests) - 1) // 2)
    return best


def under_half(tests: list[dict]) -> bool:
    """Whether every task of these tests is sure to earn less than half of its points, whatever runs next."""
    tasks = {t["task"] for t in tests}
    return bool(tasks) and all(
        2 * best_possible([t for t in tests if t["task"] == task]) < sum(t["points"] for t in tests if t["task"] == task)
        for task in tasks)
