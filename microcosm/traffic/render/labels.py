"""Labels that never overlap: a label goes to the first free spot among its candidates, free meaning clear of
every box, every label already placed and every edge (edges are kept as polylines, sampled from their curves).

Text widths are estimated, not measured (the picture is made in Python, without a browser): the estimate is
on the wide side for the fonts a browser picks for sans-serif (DejaVu Sans, Arial, Helvetica), and every
label keeps a margin around it. The browser test measures the real boxes.
"""
from __future__ import annotations

from dataclasses import dataclass

EM = {"digit": 0.64, "narrow": 0.32, "wide": 0.92, "upper": 0.72, "other": 0.6}
MARGIN = 3  # px kept free around a label


def text_width(text: str, size: float = 12, bold: bool = False) -> float:
    """An upper estimate of `text`'s width in px at `size` px in a sans-serif font."""
    total = 0.0
    for ch in text:
        if ch.isdigit():
            total += EM["digit"]
        elif ch in "ilj.,:;·|!'()[] ":
            total += EM["narrow"]
        elif ch in "mwMW%@—…":
            total += EM["wide"]
        elif ch.isupper():
            total += EM["upper"]
        else:
            total += EM["other"]
    return total * size * (1.08 if bold else 1.0)


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float

    def grown(self, by: float) -> "Rect":
        return Rect(self.x - by, self.y - by, self.w + 2 * by, self.h + 2 * by)

    def overlaps(self, other: "Rect") -> bool:
        return (self.x < other.x + other.w and other.x < self.x + self.w
                and self.y < other.y + other.h and other.y < self.y + self.h)

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x <= self.x + self.w and self.y <= y <= self.y + self.h


def _segment_hits(r: Rect, a: tuple, b: tuple) -> bool:
    """Does the segment a-b touch the rectangle? (Liang-Barsky clipping.)"""
    (x1, y1), (x2, y2) = a, b
    dx, dy = x2 - x1, y2 - y1
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x1 - r.x), (dx, r.x + r.w - x1), (-dy, y1 - r.y), (dy, r.y + r.h - y1)):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def cubic(p0, p1, p2, p3, steps: int = 16) -> list[tuple[float, float]]:
    """Points along a cubic Bézier curve (how an edge's curve is checked against labels)."""
    out = []
    for i in range(steps + 1):
        t = i / steps
        s = 1 - t
        out.append((s ** 3 * p0[0] + 3 * s * s * t * p1[0] + 3 * s * t * t * p2[0] + t ** 3 * p3[0],
                    s ** 3 * p0[1] + 3 * s * s * t * p1[1] + 3 * s * t * t * p2[1] + t ** 3 * p3[1]))
    return out


def point_at(polyline: list[tuple[float, float]], t: float) -> tuple[float, float, float, float]:
    """The point at fraction `t` of the polyline's length, and the direction (dx, dy) of its segment there."""
    lengths = [((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5 for a, b in zip(polyline, polyline[1:])]
    goal = t * sum(lengths)
    for (a, b), length in zip(zip(polyline, polyline[1:]), lengths):
        if goal <= length and length > 0:
            f = goal / length
            return a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), b[0] - a[0], b[1] - a[1]
        goal -= length
    a, b = polyline[-2], polyline[-1]
    return b[0], b[1], b[0] - a[0], b[1] - a[1]


CELL = 40  # px: edges' segments are filed in a grid of cells this size, so a spot is checked only against
#            the segments near it


def _cells(x1: float, y1: float, x2: float, y2: float):
    for cx in range(int(x1 // CELL), int(x2 // CELL) + 1):
        for cy in range(int(y1 // CELL), int(y2 // CELL) + 1):
            yield cx, cy


class Placer:
    """Keeps what is already drawn, and finds free room for each new label."""

    def __init__(self, bounds: Rect | None = None):
        self.rects: list[Rect] = []
        self.grid: dict[tuple[int, int], list] = {}  # cell -> the edge segments that cross it
        self.bounds = bounds

    def block(self, rect: Rect) -> None:
        self.rects.append(rect)

    def block_line(self, polyline: list[tuple[float, float]]) -> None:
        for a, b in zip(polyline, polyline[1:]):
            for cell in _cells(min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])):
                self.grid.setdefault(cell, []).append((a, b))

    def free(self, rect: Rect) -> bool:
        r = rect.grown(MARGIN)
        if self.bounds is not None and not (self.bounds.contains(rect.x, rect.y)
                                            and self.bounds.contains(rect.x + rect.w, rect.y + rect.h)):
            return False
        if any(r.overlaps(o) for o in self.rects):
            return False
        near = {seg for cell in _cells(r.x, r.y, r.x + r.w, r.y + r.h) for seg in self.grid.get(cell, ())}
        return not any(_segment_hits(r, a, b) for a, b in near)

    def place(self, candidates: list[Rect]) -> Rect | None:
        """The first free candidate, now taken; None when every one is taken."""
        for rect in candidates:
            if self.free(rect):
                self.block(rect)
                return rect
        return None

    def along(self, polyline: list[tuple[float, float]], w: float, h: float) -> list[Rect]:
        """Candidate spots for a w x h label beside a polyline: above or below it (beside it where it is
        steep), from its middle outwards."""
        spots = []
        for t in (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78, 0.15, 0.85, 0.1, 0.9, 0.04, 0.96):
            x, y, dx, dy = point_at(polyline, t)
            steep = abs(dy) > 2 * abs(dx)
            if steep:
                spots += [Rect(x + 5, y - h / 2, w, h), Rect(x - 5 - w, y - h / 2, w, h)]
            else:
                spots += [Rect(x - w / 2, y - h - 4, w, h), Rect(x - w / 2, y + 4, w, h),
                          Rect(x + 6, y - h - 4, w, h), Rect(x - 6 - w, y - h - 4, w, h),
                          Rect(x + 6, y + 4, w, h), Rect(x - 6 - w, y + 4, w, h)]
        return spots
