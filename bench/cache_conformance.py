"""Where a shared cache departs from RFC 9111 on the same input: a table of probes, run against any cache.

    python bench/cache_conformance.py            # nginx proxy_cache (and microcosm's edge, once it is built)

Each probe sends a few requests through the cache to the probe origin (bench/cache_probe_origin.py), which
answers with the headers the probe asks for and counts the requests that reach it. A probe passes when the
count is one a conforming shared cache would make (some rules are a MAY: then more than one count conforms),
and, for the Age probe, when the answer served from the cache carries `Age`. bench/cdn_vs_nginx.py runs it
beside its throughput figures.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from urllib.parse import quote

import requests


@dataclass
class Probe:
    name: str
    rule: str  # what RFC 9111 (or 9110) says, with its section
    sets: tuple  # response headers the origin sends, "Name:value"
    steps: tuple  # (method, request headers, seconds to wait first)
    conforming: tuple  # origin request counts a conforming shared cache may make (the first: what it should)
    wants_age: bool = False  # the last answer (served from the cache) must carry Age
    fail_after: int = 0  # the origin answers 503 after this many requests (0: never)
    last_status: tuple = ()  # the statuses the client may get last (empty: any)


GET = ("GET", {}, 0)
EN, FR = ("GET", {"Accept-Language": "en"}, 0), ("GET", {"Accept-Language": "fr"}, 0)
AUTH = ("GET", {"Authorization": "Bearer alice-token"}, 0)

PROBES = [
    Probe("fresh response reused", "a fresh stored response is reused (4)", ("Cache-Control:max-age=60",),
          (GET, GET, GET), (1,)),
    Probe("Age sent on a hit", "a response served from the cache carries Age (4, 5.1)", ("Cache-Control:max-age=60",),
          (GET, ("GET", {}, 1.2)), (1,), wants_age=True),
    Probe("s-maxage over max-age", "a shared cache uses s-maxage, not max-age (5.2.2.10)",
          ("Cache-Control:max-age=1, s-maxage=60",), (GET, ("GET", {}, 2.2)), (1,)),
    Probe("s-maxage=0 with max-age=60", "s-maxage=0: stale at once for a shared cache (5.2.2.10)",
          ("Cache-Control:max-age=60, s-maxage=0",), (GET, GET), (2,)),
    Probe("Age from upstream counted", "age on arrival counts: max-age=3 with Age: 2 is stale 1.5 s later (4.2.3)",
          ("Cache-Control:max-age=3", "Age:2"), (GET, ("GET", {}, 1.5)), (2,)),
    Probe("Expires (with Date)", "Expires gives freshness when there is no max-age (5.3)", ("Expires:@+60",),
          (GET, GET), (1,)),
    Probe("heuristic freshness", "MAY cache with only Last-Modified, e.g. 10% of its age (4.2.2)",
          ("Last-Modified:@-86400",), (GET, GET), (1, 2)),
    Probe("Vary: two variants kept", "a response per Vary-selected variant; each one reused (4.1)",
          ("Cache-Control:max-age=60", "Vary:Accept-Language"), (EN, FR, EN, FR), (2,)),
    Probe("Vary: *", "Vary: * never matches a later request (4.1)", ("Cache-Control:max-age=60", "Vary:*"),
          (GET, GET), (2,)),
    Probe("private", "a shared cache MUST NOT store a private response (5.2.2.7)",
          ("Cache-Control:private, max-age=60",), (GET, GET), (2,)),
    Probe("no-store", "MUST NOT store (5.2.2.5)", ("Cache-Control:no-store, max-age=60",), (GET, GET), (2,)),
    Probe("no-cache response", "MUST validate before each reuse (5.2.2.4); no validator, so a full fetch",
          ("Cache-Control:no-cache, max-age=60",), (GET, GET), (2,)),
    Probe("Authorization on the request", "a shared cache MUST NOT reuse it without public/s-maxage (3.5)",
          ("Cache-Control:max-age=60",), (AUTH, AUTH, GET), (3,)),
    Probe("Authorization with public", "public allows a shared cache to store and reuse it (3.5)",
          ("Cache-Control:public, max-age=60",), (AUTH, AUTH), (1,)),
    Probe("Set-Cookie with public", "Set-Cookie does not prevent storing (RFC 9111 7.3 names the risk)",
          ("Cache-Control:public, max-age=60", "Set-Cookie:session=abc"), (GET, GET), (1, 2)),
    Probe("client Cache-Control: no-cache", "the request asks for validation: not served from store (5.2.1.4)",
          ("Cache-Control:max-age=60",), (GET, ("GET", {"Cache-Control": "no-cache"}, 0)), (2,)),
    Probe("client max-age=0", "a stored response older than the request's max-age is not used (5.2.1.1)",
          ("Cache-Control:max-age=60",), (GET, ("GET", {"Cache-Control": "max-age=0"}, 1.1)), (2,)),
    Probe("POST invalidates the URI", "a successful unsafe request invalidates the target URI (4.4)",
          ("Cache-Control:max-age=60",), (GET, GET, ("POST", {}, 0), GET), (3,)),
    Probe("stale-if-error, origin failing", "RFC 5861 4: a stale answer may be served while the origin errs",
          ("Cache-Control:max-age=1, stale-if-error=60",), (GET, ("GET", {}, 2.2)), (2,), fail_after=1,
          last_status=(200,)),
    Probe("must-revalidate, origin failing", "MUST NOT serve it stale: an error, not the old answer (5.2.2.2)",
          ("Cache-Control:max-age=1, must-revalidate, stale-if-error=60",), (GET, ("GET", {}, 2.2)), (2,),
          fail_after=1, last_status=(503, 504)),
    Probe("HEAD from a stored GET", "a stored GET may answer a HEAD (4)", ("Cache-Control:max-age=60",),
          (GET, ("HEAD", {}, 0)), (1, 2)),
]


def run_probe(probe: Probe, cache_url: str, origin_url: str, tag: str) -> dict:
    """Send the probe's requests through the cache; what reached the origin, and what the cache said."""
    key = f"{tag}-{abs(hash(probe.name)) % 10**8}"
    target = f"/probe/{key}?" + "&".join("set=" + quote(s, safe="") for s in probe.sets)
    target += f"&fail_after={probe.fail_after}" if probe.fail_after else ""
    statuses, last = [], None
    for method, headers, wait in probe.steps:
        time.sleep(wait)
        last = requests.request(method, cache_url + target, headers=headers, timeout=10)
        statuses.append(last.headers.get("X-Cache", "-"))
    count = requests.get(f"{origin_url}/count/{key}", timeout=10).json()["count"]
    age_ok = (not probe.wants_age) or (last is not None and "Age" in last.headers)
    status_ok = not probe.last_status or (last is not None and last.status_code in probe.last_status)
    return {"count": count, "statuses": statuses, "age": last.headers.get("Age") if last is not None else None,
            "status": last.status_code if last is not None else None,
            "conforms": count in probe.conforming and age_ok and status_ok}


def run_all(cache_url: str, origin_url: str) -> dict[str, dict]:
    tag = uuid.uuid4().hex[:8]
    return {p.name: run_probe(p, cache_url, origin_url, tag) for p in PROBES}


def verdict(probe: Probe, result: dict | None) -> str:
    if result is None:
        return "not run"
    if result["conforms"]:
        return "conforms" if result["count"] == probe.conforming[0] else "conforms (the MAY not taken)"
    if probe.wants_age and result["count"] in probe.conforming:
        return "departs: no Age header"
    if probe.last_status and result["count"] in probe.conforming:
        return f"departs: answered {result['status']}"
    more = result["count"] > probe.conforming[-1]
    return "departs: " + ("went to the origin when it could reuse" if more else "reused when it must not")


def report(results: dict[str, dict[str, dict]]) -> str:
    """results: cache name -> run_all(...) (or {} when that cache could not run)."""
    from common import table  # bench/common.py

    names = list(results)
    headers = ["behaviour", "RFC 9111 (5861)", "origin requests (conforming)"] + [
        f"{n}: origin requests, X-Cache" for n in names] + [f"{n}: verdict" for n in names]
    rows = []
    for p in PROBES:
        row = [p.name, p.rule, " or ".join(map(str, p.conforming))]
        for n in names:
            r = results[n].get(p.name)
            row.append(f"{r['count']}, {'/'.join(r['statuses'])}" + (f", Age {r['age']}" if p.wants_age else "")
                       + (f", answered {r['status']}" if p.last_status else "") if r else "-")
        row += [verdict(p, results[n].get(p.name)) for n in names]
        rows.append(row)
    return table(headers, rows, align="l" * len(headers))


def main() -> None:
    import cdn_vs_nginx  # bench/cdn_vs_nginx.py starts the origin, nginx and the edge

    print(cdn_vs_nginx.conformance_section(log=print))


if __name__ == "__main__":
    main()
