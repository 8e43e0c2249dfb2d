"""Which JupyterHub scopes let a hub user into this single-user server.

JupyterHub (2.0 and later) grants access to a user's server through ``access:servers``
scopes, which a token's model (``GET /hub/api/user``) lists after the hub expanded its roles.
A scope may carry one filter after ``!`` (JupyterHub's "Scopes in JupyterHub" document):

- ``access:servers``: every server;
- ``access:servers!user=<owner>``: every server of ``<owner>``;
- ``access:servers!server=<owner>/<server name>``: one server (the default server's name is ``""``,
  so ``alice/``);
- ``access:servers!group=<group>``: the servers of the members of ``<group>``; the hub leaves this
  filter unexpanded, so the server must know its owner's groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

ACCESS_SCOPE = "access:servers"


@dataclass(frozen=True)
class ServerTarget:
    """The server a request reaches: its owner and server name (``""`` for the default server)."""

    owner: str
    server_name: str = ""

    @property
    def path(self) -> str:
        """``<owner>/<server name>``, the value of a ``server=`` filter."""
        return f"{self.owner}/{self.server_name}"


def needs_owner_groups(scopes: Iterable[str]) -> bool:
    """Whether :func:`grants_access` could only decide with the owner's groups."""
    return any(scope.startswith(ACCESS_SCOPE + "!group=") for scope in scopes)


def grants_access(scopes: Iterable[str], target: ServerTarget, owner_groups: Iterable[str] = ()) -> bool:
    """Whether any of ``scopes`` grants access to ``target``; a group filter counts when
    ``owner_groups`` holds the group. Other scopes (``read:users``, ``admin:servers``...) never do."""
    groups = set(owner_groups)
    for scope in scopes:
        name, _, scope_filter = scope.partition("!")
        if name != ACCESS_SCOPE:
            continue
        if not scope_filter:
            return True
        kind, _, value = scope_filter.partition("=")
        if kind == "server" and value == target.path:
            return True
        if kind == "user" and value == target.owner:
            return True
        if kind == "group" and value in groups:
            return True
    return False
