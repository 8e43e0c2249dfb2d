"""Who is making a request: the token check and the user model handed to handlers."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from tornado.web import RequestHandler
from traitlets import Unicode, default
from traitlets.config import LoggingConfigurable


@dataclass(frozen=True)
class User:
    """The identity model of ``GET /api/me``, with Jupyter's field names."""

    username: str
    name: str = ""
    display_name: str = ""
    initials: str | None = None
    avatar_url: str | None = None
    color: str | None = None

    def to_model(self) -> dict[str, Any]:
        return asdict(self)


class IdentityProvider(LoggingConfigurable):
    """Authenticates requests by the server token.

    The token is accepted in an ``Authorization: token <t>`` header or a ``token``
    query parameter.
    """

    token = Unicode(
        help="Token that clients must present. A random one is generated when not set.",
    ).tag(config=True)

    @default("token")
    def _default_token(self) -> str:
        return secrets.token_hex(24)

    def token_from_request(self, handler: RequestHandler) -> str | None:
        header = handler.request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip():
            return value.strip()
        query_token = handler.get_query_argument("token", default=None)
        return query_token or None

    def token_matches(self, candidate: str | None) -> bool:
        if not candidate or not self.token:
            return False
        return hmac.compare_digest(candidate.encode(), self.token.encode())

    def get_user(self, handler: RequestHandler) -> User | None:
        """Return the user making this request, or None when it is not authenticated."""
        if self.token_matches(self.token_from_request(handler)):
            return User(username="nbserver", name="nbserver", display_name="nbserver", initials="N")
        return None
