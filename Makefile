# The two commands a learner needs:   make lab    make test
# Both set everything up first (system packages when missing, .venv); a second run is quick.
SHELL := /bin/bash
PY    := .venv/bin/python
# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ROOT_ARG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: setup lab test labs book bench clean distclean

setup:
	@bash scripts/setup.sh

# JupyterLab served from the repository's root (so notebooks/, labs/ and solutions/ are all reachable),
# opening on notebooks/. Extra options: make lab JUPYTER_ARGS=--no-browser
lab: setup
	.venv/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks $(ROOT_ARG) $(JUPYTER_ARGS)

# Every test: unit, integration (real Redis and ZooKeeper), grading (both ways), notebooks (nbval).
# Two workers (pytest-xdist), each running whole test files (a notebook's cells, a module's fixtures stay
# together): most tests wait on processes they launched, so two run side by side in about 2/3 of the time.
# Extra options: make test PYTEST_ARGS="-x tests/unit"; one process: make test TEST_WORKERS=0
TEST_WORKERS ?= 2
test: setup
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# Regenerate labs/ from solutions/.
labs: setup
	$(PY) -m microcosm.labs generate

# The readable edition: every chapter executed top to bottom, rendered to HTML in build/book/ (open
# build/book/index.html). Some chapters only: make book CHAPTERS="00 03_load_balancer"
book: setup
	$(PY) scripts/book.py $(CHAPTERS)

# The benchmarks' baselines need nginx (the balancer's yardstick) and wrk (the load generator): from apt.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
bench: setup
	@[ -x /usr/sbin/nginx ] && command -v wrk >/dev/null || \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx-light wrk
	$(PY) bench/run.py

# Caches and test leftovers; `make distclean` also removes .venv.
clean:
	rm -rf .pytest_cache test-artifacts build dist *.egg-info
	find . -path ./.venv -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf .venv
