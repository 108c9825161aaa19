"""The chaos panel's buttons, clicked as the page clicks them, act on real processes; the log and the
scorecard say what happened."""
from __future__ import annotations


import pytest

from microcosm.chaos import Shoppers, faults
from microcosm.chaos.panel import ChaosPanel
from microcosm.testing import process_state, wait_until


@pytest.fixture
def shop(catalog_and_orders):
    catalog, orders = catalog_and_orders
    shoppers = Shoppers(catalog, orders, users=2, checkout_every=2, retry_pause=0.05).start()
    yield catalog, orders, shoppers
    shoppers.stop()
    faults.undo_all(restart_killed=False)


def test_buttons_pause_resume_kill_restart_real_processes(shop):
    catalog, orders, shoppers = shop
    panel = ChaosPanel([catalog, orders], shoppers=shoppers, live=False)
    assert [name for _, name in panel.target.options] == [catalog.name, orders.name]
    panel.target.value = catalog.name
    panel.buttons["pause"].click()
    assert process_state(catalog.pid) == "T"
    assert f"{catalog.name} (paused)" in [label for label, _ in panel.target.options]
    panel.buttons["resume"].click()
    assert process_state(catalog.pid) in ("S", "R")
    pid = catalog.pid
    panel.buttons["kill"].click()
    assert not catalog.alive and process_state(pid) in ("", "Z")
    panel.buttons["pause"].click()  # a fault on a dead process: a line in the log, not an exception
    assert "pause failed" in panel.lines[-1] and "not running" in panel.lines[-1]
    panel.buttons["restart"].click()
    assert catalog.alive and catalog.pid != pid and catalog.get("/products/1").status_code == 200
    assert [line.split()[1] for line in panel.lines if "(pid " in line] == ["pause", "resume", "kill", "restart"]


def test_slow_then_end_experiment_puts_back_and_gives_a_verdict(shop):
    catalog, orders, shoppers = shop
    panel = ChaosPanel([catalog, orders], shoppers=shoppers, live=False)
    panel.predictions["p99"].value = False  # I predict p99 breaks
    panel.target.value = catalog.name
    panel.ms.value = 700
    panel.buttons["slow"].click()
    assert catalog.get("/_chaos").json()["delay_ms"] == 700
    assert wait_until(lambda: sum(o.ms >= 700 for o in shoppers.observations) >= 4)
    panel.refresh()
    assert "microcosm-budget" in panel.card.value and panel.last_card.p99_ms >= 700
    panel.end_button.click()
    assert catalog.get("/_chaos").json()["delay_ms"] == 0 and not faults.in_force()
    ex = panel.experiments[-1]
    assert ex.card.requests == len(shoppers.seen(ex.started, ex.ended)) > 0
    assert ex.card.verdicts["p99"] is False  # 700 ms waits against a 500 ms p99
    assert any(line.strip() == "p99: predicted missed, was missed ✔ as predicted" for line in panel.lines)
    assert any(line.startswith("experiment 1: predicted availability holds, p99 breaks") for line in panel.lines)


def test_the_panel_lists_every_process_this_kernel_started_by_default(shop):
    catalog, orders, _ = shop
    panel = ChaosPanel(live=False)
    names = [name for _, name in panel.target.options]
    assert catalog.name in names and orders.name in names
    assert "No load" in panel.card.value


def test_a_frozen_orders_does_not_hold_the_panel_up(shop):
    catalog, orders, shoppers = shop
    panel = ChaosPanel([catalog, orders], shoppers=shoppers, live=False)
    panel.act("pause", orders.name)
    assert process_state(orders.pid) == "T"
    assert "orders did not answer" in panel.card.value  # drawn without orders' figures, not stuck waiting
    assert panel.last_card.orders is None
    panel.end()
    assert process_state(orders.pid) in ("S", "R")
    panel.refresh()
    assert panel.last_card.orders is not None and "orders did not answer" not in panel.card.value
