"""What a hub user may do here: everything, when their token carries a scope for this server.

JupyterHub's single-user servers grant all or nothing: ``access:servers`` scopes (see
:mod:`nbserver.auth.hub.scopes`) let a user use the whole server, and a hub user without one
gets 403 on every resource, ``/api/me`` included.
"""

from __future__ import annotations

from tornado.web import RequestHandler

from nbserver.auth.authorizer import Authorizer
from nbserver.auth.hub.identity import HubIdentityProvider
from nbserver.auth.identity import User


class HubAuthorizer(Authorizer):
    """Allows every action to hub users whose token grants access to this server, none to others."""

    def is_authorized(self, handler: RequestHandler, user: User, action: str, resource: str) -> bool:
        provider = handler.settings.get("identity_provider")
        return isinstance(provider, HubIdentityProvider) and provider.grants_access(user)
