"""The services' image: python:3.11-slim, what the services import from pyproject.toml (not the notebook's side),
the address a container binds, no root. (No Docker here to build it: the test proves what it can without.)"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import microcosm
from microcosm.export.dockerfile import NOTEBOOK_ONLY, dockerfile, service_requirements
from microcosm.system import SYSTEM

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None


def test_the_image_is_python_311_slim_bound_to_every_address_on_port_8000_as_a_plain_user(tmp_path):
    written = microcosm.export(SYSTEM, folder=tmp_path / "out", formats=["compose"])
    text = written["dockerfile"][0].read_text()
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("FROM")] == ["FROM python:3.11-slim"]
    assert "MICROCOSM_HOST=0.0.0.0 MICROCOSM_PORT=8000" in text and "EXPOSE 8000" in lines
    assert "USER 10001" in lines and "RUN pip install --no-deps . \\" in lines
    assert f"-f {tmp_path / 'out'}/Dockerfile ." in text  # how to build it, from the project's folder
    ignore = written["dockerfile"][1]
    assert ignore.name == "Dockerfile.dockerignore"  # beside the Dockerfile: the build sends only what it copies
    kept = [line[1:] for line in ignore.read_text().splitlines() if line.startswith("!")]
    copied = [w for line in lines if line.startswith("COPY ") for w in line.split()[1:-1]]
    assert sorted(kept) == sorted(copied) == ["README.md", "microcosm", "pyproject.toml"]


def test_it_installs_what_pyproject_lists_for_the_services_and_nothing_of_the_notebook(tmp_path):
    install = next(line for line in dockerfile().splitlines() if line.startswith("RUN pip install \""))
    if tomllib is not None:
        from microcosm.export.dockerfile import PYPROJECT

        listed = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
        assert service_requirements() == [r for r in listed if r.split(">")[0].split("[")[0] not in NOTEBOOK_ONLY]
    for wanted in ("flask", "waitress", "redis", "hiredis", "kazoo", "aiohttp", "pyjwt[crypto]", "argon2-cffi"):
        assert f'"{wanted}>=' in install, wanted
    for unwanted in NOTEBOOK_ONLY:
        assert f'"{unwanted}' not in install, unwanted


def test_every_service_of_the_system_loads_without_the_notebook_s_packages():
    """What the image leaves out (JupyterLab, Locust, nbgrader, and the dev extra's PyYAML) is never imported by
    `python -m microcosm.serve` or a service of the whole system: each is blocked here, and each loads."""
    blocked = ["jupyterlab", "ipykernel", "ipywidgets", "IPython", "jupyter_server", "jupyter_server_proxy",
               "locust", "gevent", "nbgrader", "nbformat", "nbclient", "traitlets", "yaml", "pytest"]
    services = sorted({c.service for c in SYSTEM if not c.infrastructure})
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {blocked!r}:
                    raise ImportError("not in the image: " + name)
        sys.meta_path.insert(0, Block())
        import microcosm.serve
        from microcosm.services.loader import load_module
        for name in {services!r}:
            load_module(name)
        print("loaded", len({services!r}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["loaded", str(len(services))]
