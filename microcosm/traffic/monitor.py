"""`microcosm.monitor()`: the live traffic view in a cell.

A background thread reads new hops from Redis a few times a second into a `TrafficModel` and redraws three
widgets: the topology (instances grouped by service with their state, calls as arrows with their rate and
status classes; a CDN edge's row with its hit ratio, bytes saved and origin requests per second: caches.py),
latency percentiles per service (and a table of the edge caches), and a request inspector (any recent request,
or the slowest, as a waterfall). About once a second it also asks the balancers and the registry what state each
instance is in (states.py); ZooKeeper sessions come as hops, their holders report them (session_hops.py).
Two controls change the view: the window rates are averaged over (a short one shows a burst as a burst) and
whether control-plane traffic (heartbeats, watches, JWKS fetches, ZooKeeper sessions) is drawn.
The thread only sets widget values; it never prints or displays (ipykernel 7 loses output from threads).
Where no widget frontend runs (nbconvert, GitHub, nbval) the same output carries a static HTML picture.
"""
from __future__ import annotations

import threading
import time

from ..runtime.process import before_stop_all, running
from .hops import STREAM, newest_hops, read_hops
from .model import TrafficModel
from .render import latency_table, topology_svg, waterfall
from .render.caches import cache_table
from .states import InstanceStates

WINDOWS = (1, 2, 5, 10, 30, 60)  # seconds the learner may pick from (and any other given to monitor())

_current: "Monitor | None" = None


class Monitor:
    def __init__(self, redis_client, *, window: float = 10.0, refresh: float = 0.3, stream: str = STREAM,
                 live: bool = True, control: bool = False, states_every: float = 1.0):
        self.client, self.stream, self.refresh_every = redis_client, stream, refresh
        self.model = TrafficModel(window, control=control)
        self.states, self.states_every, self._states_at = InstanceStates(), states_every, 0.0
        self._drawn, self._next_draw = None, 0.0  # what the picture shows, and when it may be redrawn
        self.last_id = self._stream_end()
        self._standing_sessions()
        self.errors = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._build_widgets()
        self.refresh()
        self._thread = None
        if live:
            self._thread = threading.Thread(target=self._run, name="microcosm-monitor", daemon=True)
            self._thread.start()

    def _stream_end(self) -> str:
        """Start from now: the view shows this monitor's traffic, not what an earlier cell sent."""
        try:
            last = self.client.xrevrange(self.stream, count=1)
            return (last[0][0].decode() if isinstance(last[0][0], bytes) else last[0][0]) if last else "0"
        except Exception:
            return "0"

    def _standing_sessions(self, seconds: float = 5.0) -> None:
        """ZooKeeper sessions are a standing state, not traffic: start from what their holders said last."""
        try:
            recent = newest_hops(self.client, 1000, self.stream)
        except Exception:
            return
        since = time.time() - seconds
        self.model.add([h for h in recent if h.get("kind") == "session" and h["ts"] >= since])

    # --- widgets -----------------------------------------------------------------------------------
    def _build_widgets(self):
        import ipywidgets as W

        self.topology = W.HTML(layout=W.Layout(overflow="auto"))
        windows = sorted(set(WINDOWS) | {self.model.window})
        self.window_pick = W.Dropdown(options=[(f"{w:g} s", w) for w in windows], value=self.model.window,
                                      description="rates over", layout=W.Layout(width="180px"))
        self.control_box = W.Checkbox(value=self.model.control, indent=False,
                                      description="control plane (heartbeats, watches, JWKS, ZooKeeper sessions)")
        self.window_pick.observe(lambda change: self._set(window=change["new"]), names="value")
        self.control_box.observe(lambda change: self._set(control=change["new"]), names="value")
        self.stats = W.HTML()
        self.status = W.HTML()
        self.pick = W.Dropdown(options=[], description="request", layout=W.Layout(width="420px"))
        self.slowest_button = W.Button(description="slowest request", icon="hourglass-end")
        self.inspector = W.HTML()
        self.pick.observe(lambda change: self._inspect(change["new"]), names="value")
        self.slowest_button.on_click(lambda _: self.show_slowest())
        self.widget = W.VBox([
            W.HBox([W.HTML("<b>microcosm traffic</b>", layout=W.Layout(margin="0 24px 0 0")),
                    self.window_pick, self.control_box]), self.topology,
            W.HBox([self.stats], layout=W.Layout(margin="8px 0")),
            W.HBox([self.pick, self.slowest_button]), self.inspector, self.status,
        ], layout=W.Layout(border="1px solid #d0d7de", padding="8px"))
        self.widget.add_class("microcosm-monitor")

    def _set(self, window: float | None = None, control: bool | None = None) -> None:
        with self._lock:
            if window is not None:
                self.model.window = float(window)
            if control is not None:
                self.model.control = bool(control)
            self._draw(force=True)

    def _inspect(self, request_id):
        if request_id:
            self.inspector.value = waterfall(self.model, request_id)

    def show_slowest(self) -> str | None:
        """Show the slowest recent request in the inspector and return its id."""
        slowest = self.model.slowest(1)
        if not slowest:
            return None
        options = list(self.pick.options)
        if slowest[0] not in options:
            self.pick.options = [slowest[0]] + options
        self.pick.value = slowest[0]
        self._inspect(slowest[0])
        return slowest[0]

    # --- updating ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read new hops and redraw (the background thread calls this a few times a second)."""
        with self._lock:
            processes = list(running())
            for p in processes:
                if p.kind == "service" and (p.alive or p.name in self.model.service_of):
                    self.model.declare(p.service_name, p.name)
            if time.monotonic() - self._states_at >= self.states_every:
                self._states_at = time.monotonic()
                self.model.set_states(self.states.read(processes, self.model.launched))
                self.model.set_groups(self.states.groups(processes, self.model.consumers()))
            try:
                hops, self.last_id = read_hops(self.client, self.stream, self.last_id)
                redis_ok = True
            except Exception:
                hops, redis_ok = [], False
                self.errors += 1
            self.model.add(hops)
            self._draw()
            latest = self.model.latest(15)
            if latest and latest != list(self.pick.options)[:15]:
                keep = self.pick.value
                self.pick.options = latest
                self.pick.value = keep if keep in latest else None
            self.status.value = (f'<small style="color:#8c959f">{self.model.total} hops seen · updated '
                                 f'{time.strftime("%H:%M:%S")}</small>' if redis_ok else
                                 '<small style="color:#cf222e">Redis unreachable: the traffic view pauses; '
                                 'services keep answering.</small>')

    def _draw(self, force: bool = False) -> None:
        """Redraw when something drawn may have changed, and with at most about a tenth of a core: a picture
        that took t seconds to make waits 9 t before the next (a 20-service picture takes tens of ms)."""
        model = self.model
        model.expire()
        seen = (model.total, len(model.recent), sorted(model.states.items()), len(model.launched),
                model.window, model.control, round(model.span(), 1), model.control and model.session_changes)
        now = time.monotonic()
        if not force and (seen == self._drawn or now < self._next_draw):
            return
        started = time.perf_counter()
        self.topology.value = topology_svg(model)
        self.stats.value = latency_table(model) + cache_table(model)
        self._drawn, self._next_draw = seen, now + 9 * (time.perf_counter() - started)

    def _run(self):
        while not self._stop.wait(self.refresh_every):
            try:
                self.refresh()
            except Exception:  # never let a drawing bug kill the view; the next tick tries again
                self.errors += 1

    def settle(self, quiet: float = 0.25, at_most: float = 2.0) -> None:
        """Read until no new hop has come for `quiet` seconds: services send their hops in batches a tenth of
        a second apart, so traffic sent a moment ago may still be on its way."""
        deadline = time.monotonic() + at_most
        seen, last_change = self.model.total, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last_change < quiet:
            time.sleep(0.05)
            self.refresh()
            if self.model.total != seen:
                seen, last_change = self.model.total, time.monotonic()

    def stop(self) -> None:
        """Stop watching; the view keeps its last picture, with the traffic still on its way."""
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        self.settle()
        with self._lock:
            self._draw(force=True)
        self.status.value = (f'<small style="color:#8c959f">{self.model.total} hops seen · stopped at '
                             f'{time.strftime("%H:%M:%S")}; run microcosm.monitor() to watch again</small>')

    # --- display -----------------------------------------------------------------------------------
    def snapshot_html(self) -> str:
        """A static picture of the view now: what nbconvert, GitHub and nbval show."""
        return (f'<div class="microcosm-snapshot">{topology_svg(self.model, "microcosm traffic")}'
                f'{latency_table(self.model)}{cache_table(self.model)}</div>')

    def snapshot(self):
        """Display the view as it is now as plain HTML (stays visible without a widget frontend)."""
        from IPython.display import HTML

        self._states_at = 0.0  # ask the balancers and the registry afresh
        self.settle()
        return HTML(self.snapshot_html())

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        bundle["text/html"] = self.snapshot_html()
        return bundle


def monitor(*, window: float = 10.0, refresh: float = 0.3, control: bool = False) -> Monitor:
    """The live traffic view of every service this kernel runs. Calling it again replaces the previous one.

    `window`: the seconds that rates and percentiles are taken over (a short window shows a burst as a
    burst; counts on the edges run from when watching began). `control=True` also draws the control plane:
    heartbeats and watches at the registry, JWKS fetches at the identity provider, and ZooKeeper with each
    instance's session to it (its state, what it holds, a leader's fencing token, sessions lost)."""
    global _current
    if window <= 0 or refresh <= 0:
        raise ValueError("window and refresh must be positive numbers of seconds")
    from ..runtime.infra import redis

    if _current is not None:
        _current.stop()
    _current = Monitor(redis().client(decode_responses=False), window=window, refresh=refresh, control=control)
    if _stop_current not in before_stop_all:
        before_stop_all.append(_stop_current)
    return _current


def _stop_current() -> None:
    """microcosm.stop_all() ends the live view before it stops the Redis the view reads."""
    if _current is not None:
        _current.stop()
