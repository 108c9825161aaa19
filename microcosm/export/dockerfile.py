"""The services' container image: one image for every microcosm service; the command names the service.

It installs the package without its notebook side (JupyterLab, Locust, nbgrader ...: a service never imports
them) and sets the address a service binds in a container: MICROCOSM_HOST=0.0.0.0, MICROCOSM_PORT=8000 (see
microcosm.serve). It runs as a user without privileges, with its data in /data.
"""
from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from .plan import DATA, IMAGE, SERVICE_PORT

NOTEBOOK_ONLY = frozenset({"jupyterlab", "ipykernel", "ipywidgets", "jupyter-server-proxy", "locust", "nbgrader"})


PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"  # in a checkout, beside the package


def package_requirements() -> list[str]:
    """pyproject.toml's dependencies (the checkout the image is built from), else the installed package's."""
    try:
        import tomllib

        return tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    except (ImportError, OSError, KeyError):  # Python 3.10, or an installed package without its pyproject.toml
        return [r for r in metadata.requires("microcosm") or [] if "extra ==" not in r]


def service_requirements() -> list[str]:
    """What the services need: the package's requirements less the notebook's side."""
    wanted = []
    for requirement in package_requirements():
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
        if re.sub(r"[-_.]+", "-", name).lower() not in NOTEBOOK_ONLY:
            wanted.append(requirement)
    return wanted


def dockerfile(folder: str = "export") -> str:
    quoted = [r.replace('"', "'") for r in service_requirements()]  # a marker's quotes inside the shell's
    requirements = " ".join(f'"{r}"' for r in quoted)
    return f"""\
# The image every microcosm service runs from: `python -m microcosm.serve SERVICE` (compose.yaml and the
# Kubernetes manifests beside this file name the service and give its configuration). Build it from the project's
# folder (the one with pyproject.toml):
#     docker build -t {IMAGE} -f {folder}/Dockerfile .
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    MICROCOSM_HOST=0.0.0.0 MICROCOSM_PORT={SERVICE_PORT} MICROCOSM_PIN_CPU=0
WORKDIR /app
# what the services import, from pyproject.toml without the notebook's side, first: a layer kept between builds
RUN pip install {requirements}
COPY pyproject.toml README.md ./
COPY microcosm ./microcosm
RUN pip install --no-deps . \\
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin microcosm \\
    && mkdir -p {DATA} && chown microcosm {DATA}
USER 10001
EXPOSE {SERVICE_PORT}
CMD ["python", "-m", "microcosm.serve", "--help"]
"""


def dockerignore() -> str:
    """What the build sends to Docker: only what the image copies (BuildKit reads Dockerfile.dockerignore beside
    the Dockerfile), not the .venv, the notebooks' data or .git."""
    return "# the build context is the project's folder: send only what the Dockerfile copies\n" \
           "*\n!pyproject.toml\n!README.md\n!microcosm\n**/__pycache__\n"
