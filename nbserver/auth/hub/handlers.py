"""The hub mode's browser routes: ``/login`` and ``/logout`` go through the hub, and
``/oauth_callback`` finishes the hub's OAuth login (see :mod:`nbserver.auth.hub.identity`)."""

from __future__ import annotations

from tornado import web

from nbserver.auth.authorizer import PUBLIC
from nbserver.auth.hub.identity import HubIdentityProvider, hub_identity_provider
from nbserver.auth.redirects import safe_next_path
from nbserver.base.handlers import PageHandler
from nbserver.errors import InvalidInput


class HubPageHandler(PageHandler):
    """A public page of the hub mode, with the hub's identity provider."""

    auth_resource = PUBLIC

    @property
    def hub_provider(self) -> HubIdentityProvider:
        return hub_identity_provider(self.identity_provider)


class HubLoginHandler(HubPageHandler):
    """``/login?next=``: straight to the hub's authorize URL (there is no password here)."""

    def get(self) -> None:
        next_path = safe_next_path(self.get_argument("next", default=""), self.base_url)
        self.redirect(self.hub_provider.login_url(self, next_path))


class HubLogoutHandler(HubPageHandler):
    """``/logout``: end this server's session, then the hub's."""

    def get(self) -> None:
        self.hub_provider.clear_login_cookie(self)
        self.redirect(self.hub_provider.hub_logout_url())

    def post(self) -> None:
        self.get()


class OAuthCallbackHandler(HubPageHandler):
    """``/oauth_callback?code=&state=``: where the hub sends a browser back after it logged in."""

    async def get(self) -> None:
        error = self.get_query_argument("error", default="")
        if error:
            raise InvalidInput(f"JupyterHub refused the login: {error}.")
        code = self.get_query_argument("code", default="")
        state = self.get_query_argument("state", default="")
        if not code or not state:
            raise InvalidInput("The hub's reply lacks its code or state.")
        next_path = await self.hub_provider.finish_login(self, code, state)
        self.set_header("Referrer-Policy", "no-referrer")  # the code must not leak through Referer
        self.redirect(next_path)


handlers: list[tuple[str, type[web.RequestHandler]]] = [
    (r"/login", HubLoginHandler),
    (r"/logout", HubLogoutHandler),
    (r"/oauth_callback", OAuthCallbackHandler),
]
