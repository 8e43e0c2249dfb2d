"""REST routes of ``/api/sessions``."""

from __future__ import annotations

from typing import Any

from nbserver.base.handlers import APIHandler
from nbserver.base.urls import url_path_join
from nbserver.errors import InvalidInput
from nbserver.services.sessions.manager import SessionManager

SESSION_ID_REGEX = r"(?P<session_id>[\w-]+)"


def _string_field(body: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"Missing field in JSON data: {key}")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{key!r} must be a string.")
    return value


def kernel_choice(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(kernel_name, kernel_id) from a body's ``kernel`` object; both None when absent."""
    kernel = body.get("kernel")
    if kernel is None:
        return None, None
    if not isinstance(kernel, dict):
        raise InvalidInput("'kernel' must be an object with a 'name' or an 'id'.")
    return _string_field(kernel, "name"), _string_field(kernel, "id")


class SessionsAPIHandler(APIHandler):
    auth_resource = "sessions"

    @property
    def session_manager(self) -> SessionManager:
        return self.settings["session_manager"]  # type: ignore[no-any-return]

    def session_url(self, session_id: str) -> str:
        return url_path_join(self.base_url, "api/sessions", session_id)


class SessionRootHandler(SessionsAPIHandler):
    async def get(self) -> None:
        self.finish_json(await self.session_manager.list_sessions())

    async def post(self) -> None:
        """Start a session, or return the one that already exists for the path."""
        body = self.get_json_object_body()
        if body is None:
            raise InvalidInput("Send the session as a JSON object with 'path', 'type' and 'kernel'.")
        notebook = body.get("notebook")
        legacy: dict[str, Any] = notebook if isinstance(notebook, dict) else {}
        path = _string_field(body, "path") or _string_field(legacy, "path")
        if not path:
            raise InvalidInput("Missing field in JSON data: path")
        kind = _string_field(body, "type") or ("notebook" if legacy else None)
        if kind is None:
            raise InvalidInput("Missing field in JSON data: type")
        name = _string_field(body, "name") or _string_field(legacy, "name") or ""
        kernel_name, kernel_id = kernel_choice(body)
        model = await self.session_manager.get_or_create_session(
            path=path, name=name, type=kind, kernel_name=kernel_name, kernel_id=kernel_id)
        self.set_header("Location", self.session_url(model["id"]))
        self.finish_json(model, 201)


class SessionHandler(SessionsAPIHandler):
    async def get(self, session_id: str) -> None:
        self.finish_json(await self.session_manager.get_session(session_id))

    async def patch(self, session_id: str) -> None:
        body = self.get_json_object_body()
        if body is None:  # an empty object changes nothing and answers the session, as in Jupyter Server
            raise InvalidInput("Send the changes as a JSON object.")
        kernel_name, kernel_id = kernel_choice(body)
        if "kernel" in body and kernel_name is None and kernel_id is None:
            raise InvalidInput("'kernel' must have a 'name' or an 'id'.")
        model = await self.session_manager.update_session(
            session_id, path=_string_field(body, "path"), name=_string_field(body, "name"),
            type=_string_field(body, "type"), kernel_name=kernel_name, kernel_id=kernel_id)
        self.finish_json(model)

    async def delete(self, session_id: str) -> None:
        await self.session_manager.delete_session(session_id)
        self.set_status(204)
        self.finish()


handlers = [
    (r"/api/sessions/?", SessionRootHandler),
    (rf"/api/sessions/{SESSION_ID_REGEX}", SessionHandler),
]
