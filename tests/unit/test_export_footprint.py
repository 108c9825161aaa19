"""The export's two tables stay true: the measured memory it sizes containers from (the same figures as
bench/RESULTS.md), and which services keep data (so never autoscale)."""
from __future__ import annotations

import re
from pathlib import Path

from microcosm.export import footprint
from microcosm.export.plan import IN_MEMORY, KEEPS_DATA
from microcosm.services.loader import BUILTIN
from microcosm.system import SYSTEM

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "microcosm" / "services"
KEEPS_NOTHING_WORTH_A_VOLUME = {"web"}  # its data_dir holds only PUT /_web/config's settings, given at start instead


def test_every_process_of_the_whole_system_has_a_measured_figure():
    for c in SYSTEM:
        assert c.service in footprint.RSS_MB, f"{c.name} ({c.service}) would be sized from catalog's figure"


def test_the_figures_are_the_ones_bench_results_records():
    results = (ROOT / "bench" / "RESULTS.md").read_text()
    section = results[results.index("## Each process of the whole system, for the export's requests"):]
    end = section.find("\n## ", 3)
    section = section if end < 0 else section[:end]  # up to the next section, if any
    measured = {m.group(1): float(m.group(2)) for m in re.finditer(r"^\| (\S+)\s+\| \w+\s+\|\s+([\d.]+) \|",
                                                                      section, re.M)}
    aliases = {"catalog": "catalog-1", "balancer": "catalog-lb"}
    for service, rss in footprint.RSS_MB.items():
        if service == "legacy_stock":
            assert "| legacy_stock |   42.6 |" in results  # "Memory and imports of each process", after
            continue
        assert measured[aliases.get(service, service)] == rss, service


def test_requests_cover_what_was_measured_and_limits_leave_room():
    for service in footprint.RSS_MB:
        request, limit = footprint.memory_request_mib(service), footprint.memory_limit_mib(service)
        assert request * 2**20 >= 1.25 * footprint.RSS_MB[service] * 1e6 and request % 8 == 0
        assert limit >= 2 * request and limit >= 64


def test_every_built_in_service_that_writes_into_its_data_dir_keeps_data():
    """A service whose code reads config["data_dir"] keeps its data there: it gets a volume and no autoscaler."""
    writes = set()
    for name in BUILTIN:
        module = SERVICES / f"{name}.py"
        files = [module] if module.exists() else list((SERVICES / name).glob("*.py"))
        if any("data_dir" in f.read_text() for f in files):
            writes.add(name)
    assert writes - KEEPS_NOTHING_WORTH_A_VOLUME == KEEPS_DATA
    assert not (KEEPS_DATA & IN_MEMORY)
