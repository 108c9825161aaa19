"""What a kernel started, as a table: HTML in Jupyter (`microcosm.running()`), aligned text elsewhere."""
from __future__ import annotations

import time


class ProcessTable(list):
    """What this kernel started, shown as a table in Jupyter."""

    columns = ("name", "kind", "address", "pid", "status", "uptime")

    def rows(self):
        for p in self:
            up = ""
            if p.alive and p.started_at:
                up = f"{time.time() - p.started_at:.0f} s"
            yield (p.name, p.kind, getattr(p, "link", None) or p.address, p.pid or "", p.status, up)

    def _repr_html_(self) -> str:
        if not self:
            return "<p><i>Nothing running from this kernel.</i></p>"
        head = "".join(f"<th style='text-align:left'>{c}</th>" for c in self.columns)
        body = ""
        for row in self.rows():
            cells = []
            for column, value in zip(self.columns, row):
                if column == "status":
                    colour = "#1a7f37" if value == "running" else "#cf222e"
                    value = f"<span style='color:{colour}'>●</span> {value}"
                elif column == "address" and str(value).startswith(("http", "/")):
                    value = f"<a href='{value}' target='_blank'>{value}</a>"
                cells.append(f"<td style='text-align:left'>{value}</td>")
            body += "<tr>" + "".join(cells) + "</tr>"
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        if not self:
            return "Nothing running from this kernel."
        rows = [self.columns] + [tuple(str(v) for v in r) for r in self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.columns))]
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows)
