"""Pictures of the traffic model as plain SVG and HTML: they work in JupyterLab, Notebook 7, Binder, nbconvert
and on GitHub, with or without a widget frontend.

- layout.py: where the service boxes go (a layered layout: columns by call depth, order by barycenter)
- boxes.py: what each box says (instances with their state and numbers) and how big it is
- labels.py: label placement that overlaps nothing
- topology.py: the SVG itself
- tables.py: latency per service, and one request hop by hop
"""
from .tables import latency_table, waterfall
from .topology import topology_svg

__all__ = ["topology_svg", "latency_table", "waterfall"]
