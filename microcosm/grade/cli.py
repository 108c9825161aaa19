"""The grader's command line: `python -m microcosm.grade NOTEBOOK... [--json] [--csv FILE]`."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import __doc__ as DESCRIPTION
from .gradebook import write_csv
from .running import CELL_TIMEOUT, TEST_TIMEOUT, grade
from .tables import table


def in_parallel(args) -> list[dict]:
    """Every notebook's result, in order, graded `args.jobs` at a time: each by a grader process of its own (its
    own kernel, its own processes and folders), so a notebook waiting on its services leaves the cores to others."""
    def one(notebook: Path) -> dict:
        argv = [sys.executable, "-m", "microcosm.grade", "--json", str(notebook), "--cell-timeout",
                str(args.cell_timeout), "--test-timeout", str(args.test_timeout)] + (["--lab", args.lab] if args.lab else []) \
            + (["--keep"] if args.keep else [])
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"grading {notebook} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return json.loads(done.stdout)["results"][0]

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        return list(pool.map(one, args.notebooks))


def one_by_one(args):
    for notebook in args.notebooks:
        if not args.json:
            print(f"grading {notebook} ...", file=sys.stderr, flush=True)
        yield grade(notebook, lab=args.lab, keep=args.keep, cell_timeout=args.cell_timeout,
                    test_timeout=args.test_timeout)


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
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="grade N notebooks at a time, each in a process of its own (default 1)")
    args = parser.parse_args(argv)
    for notebook in args.notebooks:
        if not notebook.is_file():
            parser.error(f"no such notebook: {notebook}")
    if args.jobs > 1 and len(args.notebooks) > 1:
        if not args.json:
            print(f"grading {len(args.notebooks)} notebooks, {args.jobs} at a time ...", file=sys.stderr, flush=True)
        graded = in_parallel(args)
    else:
        graded = one_by_one(args)
    results = []
    for result in graded:
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
