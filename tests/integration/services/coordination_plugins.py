"""Plug-ins the coordination tests load into reporter and journal at launch, as lab 08's answers are loaded.

Both are wrong on purpose, in ways the journal's fencing is there to catch or that the fence check must avoid."""
from __future__ import annotations


class EveryoneLeads:
    """A broken election: every instance creates its node and believes it leads at once (no queue, no watch).
    Its token is still its node's czxid, so the newest joiner holds the largest one."""

    def __init__(self, zk, path, name):
        self.zk, self.path, self.name, self._token = zk, path, name, None

    def join(self):
        self.zk.ensure_path(self.path)
        _, stat = self.zk.create(f"{self.path}/n_", self.name.encode(), ephemeral=True, sequence=True,
                                 include_data=True)
        self._token = stat.czxid

    def is_leader(self):
        return self._token is not None

    def token(self):
        return self._token

    def leave(self):
        self._token = None  # (its node stays until the session ends: harmless here)


def strictly_newer(token, newest):
    """The fence check with `>`: refuses the leader's own second write, made with the same token."""
    return newest is None or token > newest
