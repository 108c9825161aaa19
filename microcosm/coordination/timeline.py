"""Who led when: a timeline of an election, sampled from each instance's own `GET /status` (chapter 08).

    timeline = Timeline(reporters).start()    # one thread per instance asks it, every 50 ms, what it believes
    timeline.mark("leader killed")            # an event of the experiment, drawn as a line across the lanes
    ...
    timeline.stop()
    timeline.chart()                          # one lane per instance: leading (with its token), following, silent
    timeline.first_leader_after(t)            # (seconds, instance): the first to lead after a moment

Each instance is asked on its own, so an instance that does not answer (killed, or paused with SIGSTOP) is drawn
"silent" without holding up the others. What an instance says is what it *believes*: a paused leader that wakes
says "leader" until its ZooKeeper client learns that its session is gone, and the chart shows those moments as
two lanes leading at once. That is the gap fencing closes.
"""
from __future__ import annotations

import html
import threading
import time

from ..show import SVGChart

EVERY = 0.05
COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2")  # a colour per term (token)


class Timeline:
    """Samples (seconds, state, token) per instance; state is "leader", "follower" or "silent"."""

    def __init__(self, instances, every: float = EVERY):
        self.instances = list(instances)
        self.every = every
        self.samples: dict[str, list[tuple[float, str, int | None]]] = {i.name: [] for i in self.instances}
        self.marks: list[tuple[float, str]] = []
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    def start(self) -> "Timeline":
        for instance in self.instances:
            thread = threading.Thread(target=self._watch, args=(instance,), daemon=True, name=f"timeline-{instance.name}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> "Timeline":
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        return self

    def mark(self, label: str) -> float:
        """Note an event of the experiment now; returns its time (seconds since the start)."""
        at = self.now()
        self.marks.append((at, label))
        return at

    def _watch(self, instance) -> None:
        while not self._stop.is_set():
            at = self.now()
            try:
                status = instance.get("/status", timeout=max(0.2, 4 * self.every)).json()
                state, token = ("leader", status.get("token")) if status.get("leader") else ("follower", None)
            except Exception:  # no answer: dead, paused, or not started yet
                state, token = "silent", None
            self.samples[instance.name].append((at, state, token))
            self._stop.wait(self.every)

    # --- reading it ------------------------------------------------------------------------------------
    def runs(self, name: str) -> list[tuple[float, float, str, int | None]]:
        """(from, to, state, token): the samples of one instance merged where they say the same."""
        out: list[list] = []
        for at, state, token in self.samples[name]:
            if out and (out[-1][2], out[-1][3]) == (state, token):
                out[-1][1] = at
            else:
                if out:
                    out[-1][1] = at
                out.append([at, at, state, token])
        return [tuple(run) for run in out]

    def leaders_at(self, at: float) -> set[str]:
        """The instances that believed they led at `at` (by their latest sample up to then)."""
        leaders = set()
        for name, samples in self.samples.items():
            last = [s for s in samples if s[0] <= at]
            if last and last[-1][1] == "leader":
                leaders.add(name)
        return leaders

    def first_leader_after(self, at: float, other_than: str | None = None) -> tuple[float, str] | None:
        """The first sample after `at` in which an instance (not `other_than`) leads: (seconds, name)."""
        found = [(t, name) for name, samples in self.samples.items() if name != other_than
                 for t, state, _ in samples if t > at and state == "leader"]
        return min(found) if found else None

    def overlap(self) -> float:
        """Seconds during which two or more instances believed they led at once."""
        times = sorted({t for samples in self.samples.values() for t, _, _ in samples})
        return sum(b - a for a, b in zip(times, times[1:]) if len(self.leaders_at(a)) > 1)

    def chart(self, width: int = 680) -> SVGChart:
        """One lane per instance: a thick bar while it leads (coloured by its term, token written on it), a thin
        grey line while it follows, a pale red band while it answers nothing; each mark a dashed line."""
        end = max([self.now() if not self._stop.is_set() else 0]
                  + [s[-1][0] for s in self.samples.values() if s] + [at for at, _ in self.marks] + [1.0])
        left, lane = 120, 34
        x = lambda t: left + (width - left - 20) * t / end
        tokens = sorted({tok for s in self.samples.values() for _, st, tok in s if st == "leader" and tok is not None})
        colour = {tok: COLOURS[i % len(COLOURS)] for i, tok in enumerate(tokens)}
        top = 18 * max(1, len(self.marks)) + 10  # each mark's label on a row of its own: none overlaps another
        parts = []
        for row, name in enumerate(self.samples):
            y = top + row * lane
            parts.append(f"<text x='0' y='{y + 15}' font-size='12'>{html.escape(name)}</text>")
            for start, stop, state, token in self.runs(name):
                w = max(x(stop) - x(start), 1.5)
                if state == "leader":
                    parts.append(f"<rect x='{x(start):.1f}' y='{y + 2}' width='{w:.1f}' height='18' "
                                 f"fill='{colour.get(token, '#888')}'><title>{html.escape(name)} leads, token {token}, "
                                 f"{start:.2f}-{stop:.2f} s</title></rect>")
                    if w > 60:
                        parts.append(f"<text x='{x(start) + 4:.1f}' y='{y + 15}' font-size='10' fill='white'>"
                                     f"token {token}</text>")
                elif state == "silent":
                    parts.append(f"<rect x='{x(start):.1f}' y='{y + 2}' width='{w:.1f}' height='18' fill='#f6c6c6'>"
                                 f"<title>{html.escape(name)} does not answer, {start:.2f}-{stop:.2f} s</title></rect>")
                else:
                    parts.append(f"<line x1='{x(start):.1f}' x2='{x(start) + w:.1f}' y1='{y + 11}' y2='{y + 11}' "
                                 f"stroke='#999' stroke-width='2'/>")
        bottom = top + len(self.samples) * lane
        for i, (at, label) in enumerate(self.marks):
            right = x(at) > width - 200  # near the right edge, the label goes to the line's left
            parts.append(f"<line x1='{x(at):.1f}' x2='{x(at):.1f}' y1='{14 + 18 * i}' y2='{bottom}' stroke='#333' "
                         f"stroke-dasharray='4 3'/><text x='{x(at) + (-3 if right else 3):.1f}' y='{12 + 18 * i}' "
                         f"font-size='11' text-anchor='{'end' if right else 'start'}'>{html.escape(label)} ({at:.1f} s)</text>")
        step = max(1, round(end / 10))
        for t in range(0, int(end) + 1, step):
            parts.append(f"<text x='{x(t):.1f}' y='{bottom + 14}' font-size='10' text-anchor='middle'>{t} s</text>")
        legend = (f"<rect x='{left}' y='{bottom + 22}' width='14' height='10' fill='{COLOURS[0]}'/>"
                  f"<text x='{left + 18}' y='{bottom + 31}' font-size='11'>leads (colour: its term)</text>"
                  f"<line x1='{left + 170}' x2='{left + 184}' y1='{bottom + 27}' y2='{bottom + 27}' stroke='#999' "
                  f"stroke-width='2'/><text x='{left + 188}' y='{bottom + 31}' font-size='11'>follows</text>"
                  f"<rect x='{left + 250}' y='{bottom + 22}' width='14' height='10' fill='#f6c6c6'/>"
                  f"<text x='{left + 268}' y='{bottom + 31}' font-size='11'>answers nothing (killed or paused)</text>")
        return SVGChart(f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{bottom + 40}' "
                        f"style='font-family:sans-serif'>{''.join(parts)}{legend}</svg>",
                        f"who led when: {len(self.samples)} instances over {end:.1f} s")
