"""``GET /api/me``: who the request authenticates as and, on request, what they may do."""

from __future__ import annotations

from typing import Any

from nbserver.base.handlers import APIHandler
from nbserver.errors import InvalidInput
from nbserver.jsonio import JSONRefused, parse_client_json

# Jupyter Server's wording, which clients match, then what the dict holds.
PERMISSIONS_ERROR = "permissions should be a JSON dict of resource names to lists of actions."


def parse_permissions_query(raw: str) -> dict[str, list[str]]:
    """``?permissions={"contents": ["read", "write"]}`` as a dict of resource -> actions."""
    try:
        value: Any = parse_client_json(raw)
    except JSONRefused as exc:
        raise InvalidInput(f"{PERMISSIONS_ERROR} It is not valid JSON: {exc}.") from None
    if not isinstance(value, dict) or not all(
        isinstance(actions, list) and all(isinstance(action, str) for action in actions)
        for actions in value.values()
    ):
        raise InvalidInput(PERMISSIONS_ERROR)
    return value


class IdentityHandler(APIHandler):
    auth_resource = "me"

    def get(self) -> None:
        user = self.current_user
        assert user is not None  # prepare() answered 401 otherwise
        raw = self.get_query_argument("permissions", default="")
        requested = parse_permissions_query(raw) if raw else {}
        authorizer = self.settings.get("authorizer")
        permissions = {
            resource: [action for action in actions
                       if authorizer is None or authorizer.is_authorized(self, user, action, resource)]
            for resource, actions in requested.items()
        }
        self.finish_json({"identity": user.to_model(), "permissions": permissions})


handlers = [(r"/api/me", IdentityHandler)]
