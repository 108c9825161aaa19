"""The same topology, exported: Docker Compose, Kubernetes manifests and a container image for the services.

    microcosm.export()                                  # the whole system, into ./export
    microcosm.export(SYSTEM.scaled(catalog=3), folder="k8s", formats=["kubernetes"])

    plan.py        the topology as containers: references resolved to DNS names, a fixed port, data on volumes
    footprint.py   the measured memory of each process, and the requests and limits that follow
    compose.py     compose.yaml: a service per component, replicas, health checks, depends_on, volumes
    kubernetes.py  Deployments and Services, ZooKeeper's StatefulSet, ConfigMaps, the Secret, an Ingress, autoscalers
    dockerfile.py  the image every service runs from
    summary.py     what each component becomes in the cluster, as a table for a notebook

The tests validate what is written against the official schemas (compose-spec, Kubernetes), offline.
"""
from __future__ import annotations

import os
from pathlib import Path


class ExportError(ValueError):
    """A topology, folder or format that cannot be exported, and what to change."""


FORMATS = ("compose", "kubernetes")


def export(topology=None, folder="export", formats=FORMATS, *, domain: str = "microcosm.localhost",
           secret: str | None = None) -> dict[str, list[Path]]:
    """Write `topology` (default: the whole system) into `folder` as each of `formats`, and the services'
    Dockerfile. Returns format -> the files written. The launch secret is made now unless `secret` is given;
    it goes to Kubernetes' Secret and Compose's launch-secret.env, never into a ConfigMap or compose.yaml."""
    import secrets

    import yaml

    from ..system.bring_up import as_topology
    from . import compose, dockerfile, kubernetes

    formats = _formats(formats)
    topology = as_topology(topology)
    _check_folder(folder)
    secret = secret or secrets.token_urlsafe(32)
    files = {"dockerfile": {"Dockerfile": dockerfile.dockerfile(str(folder)),
                            "Dockerfile.dockerignore": dockerfile.dockerignore()}}
    if "compose" in formats:  # every file made before any is written: an error leaves the folder as it was
        units, published = compose.units(topology)
        files["compose"] = {"compose.yaml": _HEADER + yaml.safe_dump(compose.compose(units, published),
                                                                     sort_keys=False, width=1000),
                            compose.SECRET_FILE: f"MICROCOSM_ADMIN_SECRET={secret}\n"}
    if "kubernetes" in formats:
        units, hosts = kubernetes.units(topology, domain)
        files["kubernetes"] = {f"kubernetes/{name}": _HEADER + yaml.safe_dump_all(docs, sort_keys=False, width=1000)
                               for name, docs in kubernetes.manifests(units, secret, hosts).items()}
    root = _folder(folder)
    if "kubernetes" in files:
        (root / "kubernetes").mkdir(exist_ok=True)
    private = {compose.SECRET_FILE, f"kubernetes/{kubernetes.SECRET_FILE}"}
    return {kind: [_write(root / name, text, private=name in private) for name, text in texts.items()]
            for kind, texts in files.items()}


_HEADER = "# written by microcosm.export() from a microcosm topology: export again rather than edit\n"


def _formats(formats) -> list[str]:
    if isinstance(formats, str):
        formats = [formats]
    try:
        formats = list(formats)
    except TypeError:
        raise ExportError(f"formats is a list of {', '.join(FORMATS)}; got {formats!r:.80}") from None
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ExportError(f"unknown format {unknown[0]!r:.80}: the formats are {', '.join(FORMATS)}" if unknown
                          else f"no format asked for: give one or more of {', '.join(FORMATS)}")
    return formats


def _check_folder(folder) -> Path:
    if not isinstance(folder, (str, os.PathLike)) or not str(folder):
        raise ExportError(f"folder is a path (a str or Path) to write into, got {folder!r:.80}")
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise ExportError(f"{root} is a file, not a folder: give a folder to write the exported files into")
    return root


def _folder(folder) -> Path:
    root = _check_folder(folder)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"cannot make the folder {root}: {error.strerror}") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write into {root}: permission denied")
    return root


def _write(path: Path, text: str, private: bool = False) -> Path:
    if private:  # the secret: readable by its owner only, made so before anything is written into it
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


__all__ = ["ExportError", "FORMATS", "export"]
