"""`python -m microcosm up|status|down`: the whole system from a terminal (microcosm/system/cli.py)."""
import sys

from .system.cli import main

sys.exit(main())
