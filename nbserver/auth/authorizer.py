"""What an authenticated user may do: the hook behind 403s and ``/api/me?permissions=``.

A request names a resource (``contents``, ``kernels``, ... : the segment after ``/api/``)
and an action: ``read`` for GET/HEAD, ``execute`` for kernel websockets and starting
kernels, ``write`` otherwise. The default Authorizer allows everything to the one user
of the server; a subclass set by ``NotebookServerApp.authorizer_class`` can restrict it.
"""

from __future__ import annotations

from tornado.web import RequestHandler
from traitlets.config import LoggingConfigurable

from nbserver.auth.identity import User

ACTIONS = ("read", "write", "execute")


class Authorizer(LoggingConfigurable):
    """Allows every action on every resource to every authenticated user."""

    def is_authorized(self, handler: RequestHandler, user: User, action: str, resource: str) -> bool:
        return True


def resource_and_action(method: str, path: str, is_websocket: bool) -> tuple[str, str]:
    """(resource, action) of a request to ``path`` (relative to the base URL)."""
    parts = [part for part in path.split("/") if part]
    resource = parts[1] if len(parts) > 1 and parts[0] == "api" else (parts[0] if parts else "api")
    if parts == ["api"]:
        resource = "api"
    if is_websocket or (method == "POST" and resource == "kernels"):
        return resource, "execute"
    return resource, "read" if method in ("GET", "HEAD") else "write"
