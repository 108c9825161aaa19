"""Where each service box goes: a layered ("Sugiyama") layout, written here in a page of code.

1. Cycles are broken by reversing the edges a depth-first search finds going back (rare: two services that
   call each other).
2. Layers by call depth: each service one column right of its deepest caller (longest path from the
   client), so a request reads left to right.
3. An edge that spans several columns gets a *dummy* node in each column it crosses: it reserves a lane
   there, so no box sits on it.
4. Order within a column by barycenter: each node moves to the mean position of its neighbours in the
   previous column (then the next, sweeping back and forth); the order with the fewest crossings is kept.
5. Coordinates: columns side by side (each as wide as its widest box, gaps as wide as the edge labels
   need); in each column the boxes keep their order and move toward the height of their neighbours.

Nodes without any edge are left out of the layers; the caller draws them in a row of their own.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

DUMMY_H = 22  # the height a long edge reserves in a column it crosses
GAP_Y = 18


@dataclass
class Placed:
    x: float
    y: float
    w: float
    h: float
    layer: int
    dummy: bool = False


@dataclass
class Layout:
    boxes: dict[str, Placed]  # node -> where its box is
    routes: dict[tuple, list[tuple[float, float, float]]] = field(default_factory=dict)  # edge -> lanes it
    #                                                           crosses: (x_left, x_right, y) of each dummy
    width: float = 0
    height: float = 0
    reversed: set = field(default_factory=set)  # edges drawn against the flow (they closed a cycle)


def _acyclic(nodes: list[str], edges: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], set]:
    out = defaultdict(list)
    for a, b in edges:
        out[a].append(b)
    state, back = {}, set()

    def visit(n):  # iterative DFS would be longer; graphs here have tens of nodes
        state[n] = 1
        for m in out[n]:
            if state.get(m) == 1:
                back.add((n, m))
            elif m not in state:
                visit(m)
        state[n] = 2

    for n in nodes:
        if n not in state:
            visit(n)
    return [(b, a) if (a, b) in back else (a, b) for a, b in edges], back


def _layers(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    layer = {n: 0 for n in nodes}
    for _ in range(len(nodes)):
        changed = False
        for a, b in edges:
            if layer[b] < layer[a] + 1:
                layer[b], changed = layer[a] + 1, True
        if not changed:
            break
    return layer


def _crossings(order: list[list[str]], links: dict[str, list[str]]) -> int:
    total = 0
    for upper, lower in zip(order, order[1:]):
        pos = {n: i for i, n in enumerate(lower)}
        pairs = [(i, pos[m]) for i, n in enumerate(upper) for m in links[n] if m in pos]
        total += sum(1 for k, (a, b) in enumerate(pairs) for c, d in pairs[k + 1:] if (a - c) * (b - d) < 0)
    return total


def _order(columns: list[list[str]], down: dict, up: dict, sweeps: int = 8) -> list[list[str]]:
    best, best_cross = [list(c) for c in columns], _crossings(columns, down)
    order = [list(c) for c in columns]
    for sweep in range(sweeps):
        forward = sweep % 2 == 0
        indices = range(1, len(order)) if forward else range(len(order) - 2, -1, -1)
        for i in indices:
            ref = order[i - 1] if forward else order[i + 1]
            pos = {n: k for k, n in enumerate(ref)}
            neighbours = up if forward else down

            def barycenter(n, k):
                near = [pos[m] for m in neighbours[n] if m in pos]
                return sum(near) / len(near) if near else k  # no neighbour there: stay put

            order[i] = [n for _, n in sorted(((barycenter(n, k), k), n) for k, n in enumerate(order[i]))]
        cross = _crossings(order, down)
        if cross < best_cross:
            best, best_cross = [list(c) for c in order], cross
    return best


def layout(sizes: dict[str, tuple[float, float]], edges: list[tuple[str, str]], *, first: str | None = None,
           gaps: dict[int, float] | None = None, default_gap: float = 120, top: float = 0) -> Layout:
    """Place boxes of the given (width, height); `edges` go from caller to callee. `first` (the client) is
    put in the first column; `gaps[i]` is the room between columns i and i+1."""
    connected = {n for e in edges for n in e if e[0] != e[1]}
    nodes = sorted((n for n in sizes if n in connected), key=lambda n: (n != first, n))
    edges = sorted({(a, b) for a, b in edges if a != b and a in sizes and b in sizes})
    flow, back = _acyclic(nodes, edges)
    layer = _layers(nodes, flow)
    # long edges become chains through dummy nodes, one per column crossed
    down, up, chains = defaultdict(list), defaultdict(list), {}
    all_layers = dict(layer)
    for a, b in flow:
        chain = [a] + [f"\0{a}\0{b}\0{k}" for k in range(layer[a] + 1, layer[b])] + [b]
        for k, d in enumerate(chain[1:-1]):
            all_layers[d] = layer[a] + 1 + k
        for p, q in zip(chain, chain[1:]):
            down[p].append(q)
            up[q].append(p)
        chains[(a, b)] = chain
    depth = max(all_layers.values(), default=-1) + 1
    columns = [[] for _ in range(depth)]
    for n in sorted(all_layers, key=lambda n: (n.startswith("\0"), n)):
        columns[all_layers[n]].append(n)
    order = _order(columns, down, up)
    size = lambda n: (0, DUMMY_H) if n.startswith("\0") else sizes[n]
    # x: columns side by side
    xs, x = [], 0.0
    for i, column in enumerate(order):
        xs.append(x)
        x += max((size(n)[0] for n in column), default=0) + (gaps or {}).get(i, default_gap)
    col_w = [max((size(n)[0] for n in column), default=0) for column in order]
    # y: stacked in order, then pulled toward the neighbours' heights (a few rounds), never overlapping
    ys = {}
    for column in order:
        y = top
        for n in column:
            ys[n] = y
            y += size(n)[1] + GAP_Y
    centre = lambda n: ys[n] + size(n)[1] / 2
    for round_ in range(6):
        for column in order if round_ % 2 == 0 else order[::-1]:
            wish = {}
            for n in column:
                near = [centre(m) for m in up[n] + down[n]]
                wish[n] = (sum(near) / len(near) - size(n)[1] / 2) if near else ys[n]
            y = top
            for n in column:  # top to bottom: as close to the wish as the box above allows
                ys[n] = max(y, wish[n])
                y = ys[n] + size(n)[1] + GAP_Y
            bottom = None
            for n in reversed(column):  # bottom to top: do not drift below the wish when room is above
                if bottom is not None and ys[n] + size(n)[1] + GAP_Y > bottom:
                    ys[n] = bottom - size(n)[1] - GAP_Y
                ys[n] = max(ys[n], top)
                bottom = ys[n]
            y = top
            for n in column:  # and once more down, so nothing overlaps after the upward pass
                ys[n] = max(ys[n], y)
                y = ys[n] + size(n)[1] + GAP_Y
    lowest = min(ys.values(), default=top)  # pulled down as a whole: lift it back to the top
    ys = {n: y - lowest + top for n, y in ys.items()}
    result = Layout(boxes={}, reversed=back)
    for i, column in enumerate(order):
        for n in column:
            w, h = size(n)
            result.boxes[n] = Placed(xs[i] + (col_w[i] - w) / 2 if n.startswith("\0") else xs[i], ys[n], w, h, i,
                                     dummy=n.startswith("\0"))
    for (a, b), chain in chains.items():
        lanes = [(xs[all_layers[d]], xs[all_layers[d]] + col_w[all_layers[d]], ys[d] + DUMMY_H / 2)
                 for d in chain[1:-1]]
        original = (b, a) if (b, a) in back else (a, b)
        result.routes[original] = lanes[::-1] if original != (a, b) else lanes
    real = [p for p in result.boxes.values() if not p.dummy]
    result.width = max((p.x + p.w for p in real), default=0)
    result.height = max((p.y + p.h for p in result.boxes.values()), default=top)
    result.boxes = {n: p for n, p in result.boxes.items() if not p.dummy}
    return result
