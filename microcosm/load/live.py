"""A load run as it happens, in the cell that started it: one HTML output replaced about once a second.

It is a display with an id (IPython's `display(..., display_id=True)` and `.update(...)`), not a widget: it
updates live in JupyterLab, and the saved notebook (and the executed edition) keeps its last state, the chart
of the whole run. Outside IPython there is nothing to show and it does nothing.
"""
from __future__ import annotations

import html
import time

from .chart import history_svg

EVERY = 0.5  # seconds between two pictures, at the most: "live" is at least once a second


class LiveView:
    def __init__(self, scenario: str, url: str, users: int, duration: float):
        self.scenario, self.url, self.users, self.duration = scenario, url, users, duration
        self.handle, self.updates, self._last, self._shown = None, 0, 0.0, ""
        try:
            from IPython import get_ipython
            from IPython.display import HTML, display
        except ImportError:
            return
        if get_ipython() is None:
            return
        self._html = HTML
        self.handle = display(HTML(self._page([], 0.0, (), "starting Locust …")), display_id=True)

    @property
    def shown(self) -> bool:
        return self.handle is not None

    def _page(self, history, elapsed, events, status) -> str:
        bar = (f"<progress max='{self.duration:g}' value='{min(elapsed, self.duration):.1f}' "
               f"style='width:160px;vertical-align:middle'></progress>")
        head = (f"<div class='load-status'>{bar} <b>{html.escape(self.scenario)}</b> · {self.users} users against "
                f"{html.escape(self.url)} · {html.escape(status)}</div>")
        return f"<div class='load-live'>{head}{history_svg(history, events, self.duration)}</div>"

    def update(self, history: list[dict], elapsed: float, events, *, force: bool = False) -> None:
        """Draw the run so far (at most every EVERY seconds unless `force`)."""
        if self.handle is None or (not force and time.monotonic() - self._last < EVERY):
            return
        if history:
            last = history[-1]
            status = (f"{min(elapsed, self.duration):.0f} of {self.duration:g} s · {last['users']} users · "
                      f"{last['rps']:g} req/s · {last['fps']:g} failed/s")
        else:
            status = f"{max(elapsed, 0):.0f} of {self.duration:g} s · waiting for the first second of figures …"
        page = self._page(history, elapsed, events, status)
        if page != self._shown:
            self.handle.update(self._html(page))
            self._shown, self.updates = page, self.updates + 1
        self._last = time.monotonic()

    def finish(self, history: list[dict], events, status: str) -> None:
        """The last picture: the whole run, and how it ended."""
        self.update(history, self.duration, events, force=True)
        if self.handle is not None:
            self.handle.update(self._html(self._page(history, self.duration, events, status)))
