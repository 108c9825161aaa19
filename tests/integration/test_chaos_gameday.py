"""A game day over a small real system: four faults in turn under shoppers, each put back, and the scorecard
computed from what the shoppers saw, checked against orders' own counts."""
from __future__ import annotations

import pytest

import microcosm
from microcosm.chaos import faults
from microcosm.chaos.gameday import Step, default_script, game_day
from microcosm.chaos.panel import ChaosPanel
from microcosm.system import Component, Topology, url, urls
from microcosm.testing import process_state

pytestmark = pytest.mark.timeout(120)

SHOP = Topology(
    Component("catalog", count=2),
    Component("catalog-lb", "balancer", upstream="catalog", backends=urls("catalog")),
    Component("orders", catalog_url=url("catalog-lb")),
)


@pytest.fixture(scope="module")
def shop():
    microcosm.down()
    system = microcosm.up(SHOP)
    yield system
    faults.undo_all(restart_killed=False)
    microcosm.down()


def test_a_game_day_puts_every_fault_back_and_prints_its_computed_scorecard(shop):
    orders = shop["orders"]
    before = orders.metrics()["routes"].get("POST /orders", {"count": 0})["count"]
    steps = [Step("a catalog instance crashes", "kill", "catalog-1", 0.6),
             Step("orders freezes", "pause", "orders", 0.6, predict={"lost orders": True}),
             Step("a catalog instance slows down", "slow", "catalog-2", 0.6, options={"ms": 300}),
             Step("the balancer starves", "slow", "catalog-lb", 0.6, options={"share": 0.3})]
    printed = []
    report = game_day(shop, steps, catalog=shop["catalog-lb"], orders=orders, users=2, calm=0.3,
                      out=printed.append, timeout=2.0)
    shoppers = report.shoppers
    assert [ex.name for ex in report.experiments] == [s.name for s in steps]
    assert all(ex.card.requests > 0 for ex in report.experiments)
    assert all(f.undone_at for ex in report.experiments for f in ex.faults) and not faults.in_force()
    assert all(p.alive and process_state(p.pid) != "T" for p in shop.processes())
    assert shop["catalog-2"].get("/_chaos").json()["delay_ms"] == 0
    card = report.card
    assert card.requests == len(shoppers.observations)
    assert card.failures == sum(o.status == 0 or o.status >= 500 for o in shoppers.observations)
    checkouts = sum(o.kind == "checkout" for o in shoppers.observations)
    assert checkouts == orders.metrics()["routes"]["POST /orders"]["count"] - before  # orders' own count
    stored = [o for o in orders.get("/orders", params={"limit": 1000}).json()["orders"]
              if o["id"] > shoppers.since_order_id]
    assert card.orders.stored == len(stored) == card.orders.placed  # one order per checkout, keyed retries
    assert (card.orders.lost, card.orders.duplicated, card.orders.exact) == (0, 0, True)
    assert report.experiments[1].verdict() == ["lost orders: predicted met, was met ✔ as predicted"]
    text = "\n".join(printed)
    assert "a catalog instance crashes: kill catalog-1 for 0.6 s" in text
    assert f"{card.failures} spent" in text and "game day: 4 faults" in text


def test_the_default_script_names_only_what_the_system_runs(shop):
    steps = default_script(shop)
    assert [(s.action, s.target) for s in steps] == [("kill", "catalog-1"), ("pause", "orders"),
                                                     ("slow", "catalog-2")]
    with pytest.raises(ValueError, match="no process named 'redis'"):
        game_day(shop, [Step("Redis freezes", "pause", "redis")], catalog=shop["catalog-lb"], out=None)


def test_the_panel_over_a_system_lists_its_processes_and_acts_on_them(shop):
    panel = ChaosPanel(shop, live=False)
    assert [name for _, name in panel.target.options] == [p.name for p in shop.processes()]
    lb = shop["catalog-lb"]
    fault = panel.act("slow", "catalog-lb")  # a proxy: throttled by signals, not sent a /_chaos it would forward
    assert "SIGSTOP/SIGCONT" in fault.detail
    assert all(c.get("/_chaos").json()["delay_ms"] == 0 for c in shop["catalog"])
    panel.end()
    assert not faults.in_force() and process_state(lb.pid) in ("S", "R")
