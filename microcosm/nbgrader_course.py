"""An nbgrader course folder for microcosm's labs: the solution notebooks as nbgrader's source, and the settings.

    python -m microcosm.nbgrader_course ~/course      # source/<lab>/<lab>.ipynb for every lab, nbgrader_config.py
    cd ~/course
    nbgrader generate_assignment 01_microservices     # release/: the same learner notebook as labs/ (`make labs`)
    nbgrader release_assignment 01_microservices      # on a JupyterHub with nbgrader's exchange; then, later:
    nbgrader collect 01_microservices
    nbgrader autograde 01_microservices               # runs each submission; its check cells run the graded tests
    nbgrader generate_feedback 01_microservices

Run it again after `git pull` to refresh source/ (your own nbgrader_config.py is never overwritten; if it
lacks microcosm's settings you are told which). The autograder runs the learners' code, and the graded
tests start it as real processes: microcosm must be installed from this checkout (`make setup`, or
`pip install -e .`), where tests/grading/ is, and untrusted submissions belong in a container.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from microcosm import labs

MARK = "# microcosm's labs"
CONFIG = f'''{MARK}: nbgrader settings (written by `python -m microcosm.nbgrader_course`; add yours below)
from nbconvert.preprocessors import TagRemovePreprocessor
from nbgrader.converters import GenerateAssignment

c = get_config()  # noqa: F821 (nbgrader's config loader defines it)

# An answer sits between "{labs.BEGIN}" and "{labs.END}" lines; the learner gets the same stub as labs/.
c.ClearSolutions.begin_solution_delimeter = "{labs.BEGIN}"
c.ClearSolutions.end_solution_delimeter = "{labs.END}"
c.ClearSolutions.code_stub = {{"python": {labs.CODE_STUB!r}}}
c.ClearSolutions.text_stub = {labs.MARKDOWN_STUB!r}

# Cells tagged {labs.SOLUTION_ONLY} (notes for instructors) are not released.
c.TagRemovePreprocessor.enabled = True
c.TagRemovePreprocessor.remove_cell_tags = {{"{labs.SOLUTION_ONLY}"}}
c.GenerateAssignment.preprocessors = [TagRemovePreprocessor, *GenerateAssignment.class_traits()["preprocessors"].default()]

# A lab's cells start services, and each check cell runs a task's graded tests against live processes:
# minutes, not nbgrader's default 30 s a cell.
c.Execute.timeout = 900
'''


def make_course(folder: Path, only: list[str] | None = None, root: Path | None = None) -> list[Path]:
    """Write `folder`/source/<lab>/<lab>.ipynb for each lab (or those in `only`), with up-to-date nbgrader
    metadata, and `folder`/nbgrader_config.py unless there is one; returns the files written."""
    root = Path(root or labs.repo_root())
    folder.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in labs.sources(root) if not only or s.parent.name in only]
    missing = set(only or ()) - {s.parent.name for s in chosen}
    if missing:
        raise SystemExit(f"no solution notebook for: {', '.join(sorted(missing))}")
    points = labs.points_of(root)
    written = []
    for source in chosen:
        target = folder / "source" / source.parent.name / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(labs.annotated(source, points)[1], encoding="utf-8")
        written.append(target)
    config = folder / "nbgrader_config.py"
    if not config.exists():
        config.write_text(CONFIG, encoding="utf-8")
        written.append(config)
    elif MARK not in config.read_text(encoding="utf-8"):
        print(f"note: {config} is yours and lacks microcosm's settings; add these:\n\n{CONFIG}", file=sys.stderr)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m microcosm.nbgrader_course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the nbgrader course folder (made if missing)")
    parser.add_argument("labs", nargs="*", help="only these labs (default: every lab)")
    args = parser.parse_args(argv)
    for path in make_course(args.folder, args.labs or None):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
