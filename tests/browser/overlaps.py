"""What a reader of the topology would trip over, measured in the browser: every text's rendered box
(getBoundingClientRect) against every other text, every service box and every edge (points sampled along
the path with getPointAtLength), and boxes against boxes and edges. Returns the problems as sentences."""

OVERLAPS_JS = r"""(svg) => {
  const problems = [];
  const shrink = (r, by) => ({x: r.x + by, y: r.y + by, w: r.width - 2 * by, h: r.height - 2 * by});
  const hit = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  const inside = (p, r) => p.x > r.x && p.x < r.x + r.w && p.y > r.y && p.y < r.y + r.h;
  const name = (el) => (el.textContent || el.getAttribute('data-from') || el.tagName).trim().slice(0, 60);
  const texts = [...svg.querySelectorAll('text')].map(t => ({el: t, r: shrink(t.getBoundingClientRect(), 0.5),
      box: t.closest('g.mc-service')}));
  const boxes = [...svg.querySelectorAll('rect.mc-box')].map(b => ({el: b, r: shrink(b.getBoundingClientRect(), 0),
      g: b.closest('g.mc-service')}));
  const ctm = svg.getScreenCTM();
  const edges = [...svg.querySelectorAll('path.mc-edge')].map(p => {
    const len = p.getTotalLength(), points = [];
    for (let s = 0; s <= len; s += 2) {
      const q = p.getPointAtLength(s);
      points.push({x: ctm.a * q.x + ctm.c * q.y + ctm.e, y: ctm.b * q.x + ctm.d * q.y + ctm.f});
    }
    return {el: p, points, label: p.getAttribute('data-from') + ' -> ' + p.getAttribute('data-to')};
  });
  for (let i = 0; i < texts.length; i++) {
    for (let j = i + 1; j < texts.length; j++) {
      if (hit(texts[i].r, texts[j].r))
        problems.push(`text "${name(texts[i].el)}" overlaps text "${name(texts[j].el)}"`);
    }
    for (const b of boxes) {
      const own = texts[i].box === b.g;
      const r = texts[i].r, br = b.r;
      const within = r.x >= br.x && r.y >= br.y && r.x + r.w <= br.x + br.w && r.y + r.h <= br.y + br.h;
      if (own && !within) problems.push(`text "${name(texts[i].el)}" spills out of its box`);
      if (!own && hit(r, br)) problems.push(`text "${name(texts[i].el)}" overlaps the box of ${b.g.dataset.service}`);
    }
    for (const e of edges) {
      if (e.points.some(p => inside(p, texts[i].r)))
        problems.push(`edge ${e.label} runs through text "${name(texts[i].el)}"`);
    }
  }
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++)
      if (hit(boxes[i].r, boxes[j].r)) problems.push(`box ${boxes[i].g.dataset.service} overlaps box ${boxes[j].g.dataset.service}`);
    for (const e of edges) {
      const inner = shrink(boxes[i].el.getBoundingClientRect(), 3);
      if (e.points.some(p => inside(p, inner))) problems.push(`edge ${e.label} runs through the box of ${boxes[i].g.dataset.service}`);
    }
  }
  return problems;
}"""


def overlaps(page, selector: str = "svg.microcosm-topology") -> list[str]:
    """Every problem in every topology on the page (an empty list: nothing overlaps)."""
    return [p for svg in page.locator(selector).element_handles() for p in svg.evaluate(OVERLAPS_JS)]
