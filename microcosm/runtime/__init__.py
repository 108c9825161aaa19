"""Processes and infrastructure: launch a service (service.py, process.py), tie it to its parent (guard.py),
find it a port (ports.py) and a folder (paths.py), start Redis and ZooKeeper (infra.py), check the machine
(doctor.py).

This file imports nothing, on purpose: `python -m microcosm.runtime.guard` passes through it before it
becomes redis-server or java, and should load only guard.py.
"""
