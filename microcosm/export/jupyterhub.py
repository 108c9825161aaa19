"""A class of learners on a JupyterHub: Zero to JupyterHub's values, each learner's server sized from measurements.

    python -m microcosm.export.jupyterhub [FILE]   # write it (default: this checkout's deploy/jupyterhub/values.yaml,
                                                   # and nbgrader-exchange.yaml beside it; tests check both are current)

Every learner runs the whole system in their own server, beside JupyterLab and a kernel, so a user's memory is:

    the whole system's processes (footprint.py: RSS of each, x its instances in SYSTEM)
  + JupyterLab's server and a kernel with microcosm's modules (bench/jupyterlab_memory.py, below)
  guarantee = that x 1.25, rounded up to 128 MiB     what the scheduler reserves for each learner
  limit     = 2 x guarantee                          chapter 08's 3-server ensemble (+190 MB), Locust in 11

CPU: the system idles near zero; a load test in a chapter takes what it gets up to the 2 cores the workbook was
measured on, so guarantee half a core and limit 2 (a learner's load test slows their neighbours, never stops them).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

from . import footprint

JUPYTERLAB = {"source": "bench/jupyterlab_memory.py, 2026-11-29 07:12 UTC, 2 cores, load average 7.6",
              "server_mb": 122.5, "server_and_kernel_mb": 199.3}  # RSS, MB (10**6 bytes)
HEADROOM, STEP_MIB = 1.25, 128
CPU_GUARANTEE, CPU_LIMIT = 0.5, 2
IMAGE = "registry.example.org/microcosm-singleuser"  # built from deploy/jupyterhub/Dockerfile: put yours here
HOME = "/opt/microcosm"  # where the image keeps the checkout; a learner's first start copies it into their home
EXCHANGE = "/srv/nbgrader/exchange"

NBGRADER_CONFIG = f'''# nbgrader on the hub: one course, its exchange on a volume every learner's server mounts
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "microcosm"
c.Exchange.root = "{EXCHANGE}"
'''


def system_mb(topology=None) -> float:
    """The measured RSS of every process of `topology` (default: the whole system), in MB."""
    from ..system import SYSTEM

    return sum(footprint.rss_mb(c.service) * c.count for c in (topology or SYSTEM))


def per_user() -> dict:
    """What one learner's server holds, and the memory and CPU the hub gives it."""
    measured = system_mb() + JUPYTERLAB["server_and_kernel_mb"]
    guarantee = math.ceil(measured * 1e6 * HEADROOM / 2**20 / STEP_MIB) * STEP_MIB
    return {"system_mb": round(system_mb(), 1), "jupyterlab_mb": JUPYTERLAB["server_and_kernel_mb"],
            "measured_mb": round(measured, 1), "guarantee_mib": guarantee, "limit_mib": 2 * guarantee}


def values(image: str = IMAGE, tag: str = "latest") -> dict:
    """Zero to JupyterHub's values (chart 4.4.0) for a class working through the workbook."""
    user = per_user()
    return {
        "singleuser": {
            "image": {"name": image, "tag": tag},
            # binder/start starts the session's Redis and ZooKeeper, then the server jupyterhub asks for
            "cmd": [f"{HOME}/binder/start", "jupyterhub-singleuser"],
            "defaultUrl": "/lab/tree/microcosm/notebooks/00_welcome.ipynb",
            "memory": {"guarantee": f"{user['guarantee_mib']}M", "limit": f"{user['limit_mib']}M"},
            "cpu": {"guarantee": CPU_GUARANTEE, "limit": CPU_LIMIT},
            "lifecycleHooks": {"postStart": {"exec": {"command": [
                "sh", "-c", f"[ -e ~/microcosm ] || cp -r {HOME} ~/microcosm"]}}},  # once: their edits are kept
            "extraFiles": {"nbgrader-config": {"mountPath": "/etc/jupyter/nbgrader_config.py",
                                               "stringData": NBGRADER_CONFIG}},
            "storage": {
                "extraVolumes": [{"name": "nbgrader-exchange",
                                  "persistentVolumeClaim": {"claimName": "nbgrader-exchange"}}],
                "extraVolumeMounts": [{"name": "nbgrader-exchange", "mountPath": EXCHANGE}],
            },
        },
    }


def exchange_claim(size: str = "1Gi") -> dict:
    """The volume nbgrader's exchange lives on: every learner's server mounts it, so ReadWriteMany."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "nbgrader-exchange"},
            "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": size}}}}


HEADER = """\
# Zero to JupyterHub (chart 4.4.0) values for a class working through microcosm.
# Written by `python -m microcosm.export.jupyterhub deploy/jupyterhub/values.yaml` from measured figures:
#   one learner = the whole system {system_mb} MB + JupyterLab and a kernel {jupyterlab_mb} MB = {measured_mb} MB RSS
#   memory guarantee {guarantee_mib} MiB (x{headroom}, rounded up to {step} MiB), limit {limit_mib} MiB (twice)
# Checked against the chart's values.schema.json (z2jh-4.4.0/) by tests/unit/test_jupyterhub_values.py.
# Put your image's name in singleuser.image; create the exchange volume first (nbgrader-exchange.yaml).
"""


def text(image: str = IMAGE, tag: str = "latest") -> str:
    import yaml

    class Dumper(yaml.SafeDumper):  # a file's text as a block, readable
        pass

    Dumper.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s
                                                                  else None))
    return (HEADER.format(**per_user(), headroom=HEADROOM, step=STEP_MIB)
            + yaml.dump(values(image, tag), Dumper=Dumper, sort_keys=False, width=1000))


def claim_text() -> str:
    import yaml

    return "# nbgrader's exchange: kubectl apply -f nbgrader-exchange.yaml (before helm install)\n" + yaml.safe_dump(
        exchange_claim(), sort_keys=False)


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m microcosm.export.jupyterhub",
                                     description="Write Zero to JupyterHub's values.yaml, each learner's server sized "
                                                 "from measurements, and nbgrader-exchange.yaml beside it.")
    parser.add_argument("file", nargs="?", type=Path,
                        default=Path(__file__).resolve().parents[2] / "deploy" / "jupyterhub" / "values.yaml",
                        help="where to write values.yaml (default: this checkout's deploy/jupyterhub/values.yaml)")
    target = parser.parse_args(sys.argv[1:] if argv is None else argv).file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text())
    (target.parent / "nbgrader-exchange.yaml").write_text(claim_text())
    print(f"wrote {target} and {target.parent / 'nbgrader-exchange.yaml'}")


if __name__ == "__main__":
    main()
