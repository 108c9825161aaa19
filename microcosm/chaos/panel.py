"""`chaos_panel(...)`: break the running system with buttons, and watch the SLO scorecard while you do.

    shop = Shoppers(system["catalog-lb"], system["orders"]).start()
    chaos_panel(system, shoppers=shop)

A dropdown of the system's processes (a `System` from microcosm.up(), a list of processes, or by default every
process this kernel started), a button per fault (faults.py: kill, pause, resume, slow by `ms`, isolate,
restart), three boxes for the prediction ("I predict it holds": availability, p99, orders), and "end
experiment", which puts every fault back and writes the verdict (each prediction against the scorecard of the
experiment's window) in the log. The first fault after a prediction opens an experiment (experiments.py).
A background thread redraws the process states and, with `shoppers`, the scorecard of the last `window` seconds
with its error budget as a bar; it only sets widget values. A button never raises into the page: an error is a
line in the log.
"""
from __future__ import annotations

import html
import threading
import time

from ..runtime.process import Process, before_stop_all, running
from .experiments import Experiment
from .slo import SLOs, scorecard
from .tally import tally_orders

BUTTONS = ("kill", "pause", "resume", "slow", "isolate", "restart")
KEEP_LINES = 60
ORDERS_TIMEOUT = 0.5  # seconds the live scorecard waits for orders' list before drawing without it

_panels: list["ChaosPanel"] = []


def _processes(source) -> list[Process]:
    if source is None:
        return list(running())
    if hasattr(source, "processes"):
        return list(source.processes())
    return [p for p in source if isinstance(p, Process)]


class ChaosPanel:
    def __init__(self, source=None, *, shoppers=None, slos: SLOs | None = None, links: dict | None = None,
                 window: float = 30.0, refresh: float = 1.0, live: bool = True):
        self.source, self.shoppers, self.slos = source, shoppers, slos or SLOs()
        self.links = dict(links or {})  # process name -> the netem link in front of it (isolate cuts it)
        self.window, self.refresh_every = window, refresh
        self.lines: list[str] = []
        self.last_card = None  # the scorecard drawn last
        self.experiment: Experiment | None = None
        self.experiments: list[Experiment] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._build_widgets()
        self.refresh()
        self._thread = None
        if live:
            self._thread = threading.Thread(target=self._run, name="microcosm-chaos-panel", daemon=True)
            self._thread.start()

    # --- widgets ---------------------------------------------------------------------------------------------
    def _build_widgets(self):
        import ipywidgets as W

        self.target = W.Dropdown(description="process", layout=W.Layout(width="360px"))
        self.ms = W.BoundedIntText(value=300, min=1, max=60_000, description="slow ms", layout=W.Layout(width="160px"))
        self.buttons = {}
        for action in BUTTONS:
            button = W.Button(description=action, layout=W.Layout(width="90px"))
            button.on_click(lambda _, action=action: self.act(action))
            self.buttons[action] = button
        self.buttons["kill"].button_style = "danger"
        self.predictions = {slo: W.Checkbox(value=True, indent=False, description=slo, layout=W.Layout(width="150px"))
                            for slo in ("availability", "p99", "orders")}
        shop = self.shoppers
        if shop is None or shop.orders_url is None or not shop.checkout_every:  # no orders counted: no prediction
            self.predictions["orders"].layout.display = "none"
        self.end_button = W.Button(description="end experiment", icon="flag-checkered", layout=W.Layout(width="160px"))
        self.end_button.on_click(lambda _: self.end())
        self.states = W.HTML()
        self.card = W.HTML()
        self.log = W.HTML()
        self.widget = W.VBox([
            W.HTML("<b>chaos panel</b>"),
            W.HBox([self.target, self.ms]), W.HBox(list(self.buttons.values())),
            W.HBox([W.HTML("I predict it holds:", layout=W.Layout(width="140px")), *self.predictions.values(),
                    self.end_button]),
            self.states, self.card, self.log,
        ], layout=W.Layout(border="1px solid #d0d7de", padding="8px"))
        self.widget.add_class("microcosm-chaos-panel")

    def processes(self) -> list[Process]:
        return _processes(self.source)

    def _selected(self) -> Process:
        for p in self.processes():
            if p.name == self.target.value:
                return p
        raise ValueError(f"no process {self.target.value!r} in this system: pick one from the list")

    # --- acting ----------------------------------------------------------------------------------------------
    def _say(self, line: str) -> None:
        with self._lock:
            self.lines = (self.lines + [line])[-KEEP_LINES:]
            self.log.value = "<pre style='margin:0'>" + "\n".join(html.escape(x) for x in self.lines) + "</pre>"

    def predicted(self) -> dict:
        """The prediction in the boxes, as an experiment's `predict` (orders: none lost and none duplicated)."""
        p = {k: box.value for k, box in self.predictions.items()}
        out = {"availability": p["availability"], "p99": p["p99"]}
        shop = self.shoppers
        if shop is not None and shop.orders_url is not None and shop.checkout_every:  # orders are counted
            out.update({"lost orders": p["orders"], "duplicated orders": p["orders"]})
        return out

    def act(self, action: str, target: str | None = None):
        """Do `action` to the selected process (or `target`, by name), as its button does. Returns the Fault,
        or None when it failed (the log says why)."""
        if target is not None:
            self.target.value = target
        try:
            with self._lock:
                p = self._selected()
                if self.experiment is None:
                    self.experiment = Experiment(f"experiment {len(self.experiments) + 1}", self.shoppers,
                                                 self.predicted(), self.slos)
                    self.experiment.started = time.time()
                    words = ", ".join(f"{k} {'holds' if v else 'breaks'}" for k, v in self.experiment.predict.items())
                    self._say(f"{self.experiment.name}: predicted {words}")
                options = {"ms": int(self.ms.value)} if action == "slow" else {}
                if action == "isolate" and p.name in self.links:
                    options["link"] = self.links[p.name]
                fault = getattr(self.experiment, action)(p, **options)
            self._say(fault.line())
            return fault
        except Exception as error:  # noqa: BLE001 -- said in the log, never raised into the page
            self._say(f"{time.strftime('%H:%M:%S')} {action} failed: {error}")
            return None
        finally:
            self.refresh()

    def end(self) -> Experiment | None:
        """Put back every fault of the experiment and write its verdict in the log."""
        with self._lock:
            ex, self.experiment = self.experiment, None
        if ex is None:
            self._say("no experiment running: a fault starts one")
            return None
        try:
            ex.undo()
        except Exception as error:  # noqa: BLE001
            self._say(f"putting back failed: {error}")
        ex.ended = time.time()
        try:
            card = ex.judge()
        except Exception as error:  # noqa: BLE001 -- orders may not answer yet
            card = None
            self._say(f"no scorecard: {error}")
        self.experiments.append(ex)
        for fault in ex.faults:
            if fault.undone_at:
                self._say(f"{time.strftime('%H:%M:%S', time.localtime(fault.undone_at))} put back: "
                          f"{fault.action} {fault.target}")
        if card is not None:
            self._say(f"{ex.name}: {ex.predictions_right} of {len(ex.predict)} predictions right")
            for line in ex.verdict():
                self._say("  " + line)
        self.refresh()
        return ex

    # --- drawing ---------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        card = self.scorecard_html()  # outside the lock: a frozen orders must not hold the buttons up
        with self._lock:
            processes = self.processes()
            options = [(f"{p.name} ({p.status})", p.name) for p in processes]
            if options != list(self.target.options):
                keep = self.target.value
                self.target.options = options
                names = [name for _, name in options]
                self.target.value = keep if keep in names else (names[0] if names else None)
            self.states.value = " ".join(
                f"<span style='margin-right:12px'><span style='color:{_colour(p.status)}'>●</span> "
                f"{html.escape(p.name)}</span>" for p in processes)
            self.card.value = card

    def scorecard_html(self) -> str:
        if self.shoppers is None:
            return "<small>No load: give shoppers= (chaos.Shoppers) to see the scorecard.</small>"
        now = time.time()
        orders, note = None, ""
        if self.shoppers.orders_url is not None and self.shoppers.checkout_every:
            try:
                orders = tally_orders(self.shoppers.orders_url, self.shoppers.checkouts, self.shoppers.since_order_id,
                                      timeout=ORDERS_TIMEOUT)
            except Exception:  # noqa: BLE001 -- orders down or frozen: its orders cannot be counted now
                note = "<small>orders did not answer: lost and duplicated orders are counted once it does</small>"
        card = scorecard(self.shoppers.seen(now - self.window, now), self.slos, orders=orders,
                         title=f"the last {self.window:g} s, at {time.strftime('%H:%M:%S')}")
        self.last_card = card
        return card._repr_html_() + note

    def _run(self):
        while not self._stop.wait(self.refresh_every):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 -- the next tick tries again
                pass

    def stop(self) -> None:
        """Stop redrawing (faults in force stay: end the experiment to put them back)."""
        self._stop.set()
        if self._thread:
            self._thread.join(2)

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        bundle["text/html"] = (f"<div class='microcosm-chaos-snapshot'>{self.states.value}{self.card.value}"
                               f"{self.log.value}</div>")
        return bundle


def _colour(status: str) -> str:
    return "#1a7f37" if status in ("running", "attached") else "#bf8700" if status == "paused" else "#cf222e"


def chaos_panel(source=None, *, shoppers=None, slos: SLOs | None = None, links: dict | None = None,
                window: float = 30.0, refresh: float = 1.0) -> ChaosPanel:
    """The chaos panel over `source` (a System, a list of processes; by default all this kernel started)."""
    panel = ChaosPanel(source, shoppers=shoppers, slos=slos, links=links, window=window, refresh=refresh)
    _panels.append(panel)
    if _stop_panels not in before_stop_all:
        before_stop_all.append(_stop_panels)
    return panel


def _stop_panels() -> None:
    while _panels:
        _panels.pop().stop()
