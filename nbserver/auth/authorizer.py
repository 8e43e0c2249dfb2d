"""What an authenticated user may do: the hook behind 403s and ``/api/me?permissions=``.

Every handler declares what its requests act on (``BaseHandler.auth_resource``: ``contents``,
``kernels``, ``sessions``, ...) and the action of each HTTP method (``auth_actions``): ``read``
for GET and HEAD, ``write`` for the other methods, ``execute`` for starting, interrupting and
restarting kernels and for the kernel websocket. Pages declare the resource they show
(``/files``, ``/view``, ``/tree``... are ``contents:read``). A handler that answers anyone
declares :data:`PUBLIC` instead. The server refuses to start when a routed handler declares
neither (``nbserver.base.handlers.undeclared_access``).

The default Authorizer allows everything to the one user of the server; a subclass set by
``NotebookServerApp.authorizer_class`` can restrict it. The action names are Jupyter Server's.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from tornado.web import RequestHandler
from traitlets.config import LoggingConfigurable

from nbserver.auth.identity import User

ACTIONS = ("read", "write", "execute")

#: The ``auth_resource`` of a handler that answers without authentication (login, static assets).
PUBLIC = "<public>"

#: The action of each HTTP method, as Jupyter Server maps them; a handler may declare its own map.
METHOD_ACTIONS: Mapping[str, str] = MappingProxyType({
    "GET": "read", "HEAD": "read", "OPTIONS": "read",
    "POST": "write", "PUT": "write", "PATCH": "write", "DELETE": "write",
})

#: A method a handler's map does not name is taken as the strongest change it could make.
UNMAPPED_METHOD_ACTION = "write"


class Authorizer(LoggingConfigurable):
    """Allows every action on every resource to every authenticated user."""

    def is_authorized(self, handler: RequestHandler, user: User, action: str, resource: str) -> bool:
        """Whether ``user`` may do ``action`` (one of :data:`ACTIONS`) on ``resource``."""
        return True
