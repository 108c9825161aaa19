"""Is an exported file valid? Each checked against the official schema of what reads it, offline.

    compose_errors(document)             the compose-spec JSON schema (as PyPI's check-jsonschema ships it)
    kubernetes_errors(resource, "1.33")  the Kubernetes API's schemas (PyPI's kubernetes-validate), strict:
                                         a field the API does not know is an error
    hub_values_errors(values)            Zero to JupyterHub's values.schema.json (chart 4.4.0, in deploy/jupyterhub/),
                                         checked as helm checks it: over the chart's defaults with yours merged in
    verdict(written)                     every file microcosm.export() wrote, checked: counts and the errors

Each returns a list of errors, empty when the file is valid; none needs the network.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

KUBERNETES = "1.33"
HUB_CHART = Path(__file__).resolve().parents[2] / "deploy" / "jupyterhub" / "z2jh-4.4.0"


@lru_cache(maxsize=None)
def compose_schema() -> dict:
    return json.loads((resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text())


def compose_errors(document: dict) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(compose_schema(), format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in validator.iter_errors(document)]


def kubernetes_errors(resource: dict, release: str = KUBERNETES) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(resource, release, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = "/".join(map(str, error.absolute_path))
        return [f"{resource.get('kind')} {resource.get('metadata', {}).get('name')}: {where}: {error.message}"]
    return []


def merged(defaults, mine):
    """helm's merge of a values file over the chart's defaults: maps merged key by key, anything else replaced."""
    if isinstance(defaults, dict) and isinstance(mine, dict):
        return {k: merged(defaults[k], v) if k in defaults else v for k, v in mine.items()} | {
            k: v for k, v in defaults.items() if k not in mine}
    return mine


def hub_values_errors(values: dict, chart: Path = HUB_CHART) -> list[str]:
    import jsonschema

    schema = json.loads((chart / "values.schema.json").read_text())
    defaults = yaml.safe_load((chart / "values.yaml").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}"
            for e in validator.iter_errors(merged(defaults, values))]


def verdict(written: dict, release: str = KUBERNETES) -> dict:
    """What microcosm.export() returned, every file read back and checked: {"compose": (documents, errors),
    "kubernetes": (resources, errors)} for the formats written."""
    found = {}
    if "compose" in written:
        documents = [yaml.safe_load(p.read_text()) for p in written["compose"] if p.suffix == ".yaml"]
        found["compose"] = (len(documents), [e for d in documents for e in compose_errors(d)])
    if "kubernetes" in written:
        manifests = [r for p in written["kubernetes"] for r in yaml.safe_load_all(p.read_text()) if r]
        found["kubernetes"] = (len(manifests), [e for r in manifests for e in kubernetes_errors(r, release)])
    return found
