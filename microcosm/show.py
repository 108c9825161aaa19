"""Showing results in a notebook: small HTML tables and charts, instead of a wall of printed text.

    from microcosm.show import table
    table([("catalog-1", 312), ("catalog-2", 9)], ["instance", "requests"])

Chapters and labs import these rather than defining their own, so every notebook shows results the same way.
"""
from __future__ import annotations

import html


class HTMLTable:
    """An HTML table that Jupyter renders (and that prints as aligned text anywhere else)."""

    def __init__(self, rows, columns):
        self.rows = [tuple(row) for row in rows]
        self.columns = tuple(columns)

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(str(c))}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(str(v))}</td>" for v in row)
                       + "</tr>" for row in self.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        rows = [tuple(str(c) for c in self.columns)] + [tuple(str(v) for v in row) for row in self.rows]
        widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(len(self.columns))]
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows)


def table(rows, columns) -> HTMLTable:
    """A small table: `rows` are sequences of values, `columns` their headings. Values are escaped."""
    return HTMLTable(rows, columns)
