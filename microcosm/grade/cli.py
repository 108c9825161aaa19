"""The grader's command line: `python -m microcosm.grade NOTEBOOK... [--json] [--csv FILE]`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __doc__ as DESCRIPTION
from .gradebook import write_csv
from .running import CELL_TIMEOUT, TEST_TIMEOUT, grade
from .tables import table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m microcosm.grade", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path, help="lab notebooks to grade")
    parser.add_argument("--json", action="store_true", help="print one JSON document with every result")
    parser.add_argument("--csv", type=Path, metavar="FILE",
                        help="also write a gradebook: a row per submission (student = its folder's name)")
    parser.add_argument("--lab", help="the lab these notebooks are (default: from metadata or file name)")
    parser.add_argument("--keep", action="store_true", help="keep each notebook's grading folder, and say where")
    parser.add_argument("--cell-timeout", type=float, default=CELL_TIMEOUT, help="seconds per notebook cell")
    parser.add_argument("--test-timeout", type=float, default=TEST_TIMEOUT, help="seconds per graded test")
    args = parser.parse_args(argv)
    for notebook in args.notebooks:
        if not notebook.is_file():
            parser.error(f"no such notebook: {notebook}")
    results = []
    for notebook in args.notebooks:
        if not args.json:
            print(f"grading {notebook} ...", file=sys.stderr, flush=True)
        result = grade(notebook, lab=args.lab, keep=args.keep, cell_timeout=args.cell_timeout,
                       test_timeout=args.test_timeout)
        results.append(result)
        if not args.json:
            print(table(result) + "\n", flush=True)
            if result["folder"]:
                print(f"  kept: {result['folder']}\n")
    if args.csv:
        write_csv(results, args.csv)
        if not args.json:
            print(f"gradebook: {args.csv} ({len(results)} {'row' if len(results) == 1 else 'rows'})", flush=True)
    if args.json:
        print(json.dumps({"results": results, "score": sum(r["score"] for r in results),
                          "max_score": sum(r["max_score"] for r in results)}, indent=1))
    elif len(results) > 1:
        print("summary")
        for r in results:
            print(f"  {r['score']:>4}/{r['max_score']:<4} {r['notebook']}")
    return 0
