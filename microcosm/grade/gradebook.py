"""A gradebook: one CSV row per submission (student, lab, points earned per test, total, max, and the written
answers as text), the student being the name of the folder the submission is in (submissions/alice/lab.ipynb)."""
from __future__ import annotations

import csv
from pathlib import Path

from .answers import answers
from .locate import released_lab


def students(notebooks: list[str | Path]) -> list[str]:
    """Who handed in each notebook: its folder's name (submissions/alice/lab.ipynb: alice); for notebooks that
    share a folder (submissions/alice.ipynb, submissions/bob.ipynb), their file names (alice, bob)."""
    paths = [Path(n).resolve() for n in notebooks]
    folders = [p.parent for p in paths]
    return [p.parent.name if folders.count(p.parent) == 1 else p.stem for p in paths]


def rows(results: list[dict]) -> tuple[list[str], list[dict]]:
    """The header and the rows for these grades (from grade()); a test or answer absent from a row is blank."""
    tests, written, out = [], [], []
    for result, student in zip(results, students([r["notebook"] for r in results])):
        row = {"student": student, "lab": result["lab"]}
        for t in result["tests"]:
            row[t["name"]] = t["earned"]
            if t["name"] not in tests:
                tests.append(t["name"])
        row["total"], row["max"] = result["score"], result["max_score"]
        released = released_lab(result["lab"])
        for name, text in (answers(released, Path(result["notebook"])) if released.is_file() else {}).items():
            row[name] = text
            if name not in written:
                written.append(name)
        out.append(row)
    return ["student", "lab", *tests, "total", "max", *written], out


def write_csv(results: list[dict], path: str | Path) -> None:
    """Write the gradebook of these grades to `path` (UTF-8, one header line, then a row per submission)."""
    header, table = rows(results)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows(table)
