"""The base of the file services' REST handlers: the services, id resolution, per-path authorization.

Every id route resolves the id first and then authorizes the request as ``contents`` on the
path it names (the authorizer sees it as ``handler.contents_path``); a path the user may not
use answers 404 like an unknown id, so existence is not revealed.
"""

from __future__ import annotations

from typing import Any

from nbserver.base.handlers import APIHandler
from nbserver.errors import Forbidden, InvalidInput, NotFound, ServiceUnavailable
from nbserver.services.contents.fileio import NAME_MAX, is_reserved_name, normalize_api_path
from nbserver.services.files.manager import FileServices
from nbserver.services.files.store import FileRecord


class FilesAPIHandler(APIHandler):
    """Shared by the id and trash routes: the services, id resolution and per-path authorization."""

    auth_resource = "contents"
    #: The API path the request acts on, once resolved: what the authorizer may look at.
    contents_path: str | None = None

    @property
    def file_services(self) -> FileServices:
        services: FileServices | None = self.settings.get("file_services")
        if services is None:
            raise ServiceUnavailable("File ids and the trash are available only with the file contents store.")
        return services

    def authorize_path(self, path: str) -> None:
        """Authorize this request as ``contents`` on ``path``; 404 (not 403) when refused."""
        self.contents_path = path
        user = self.current_user
        if user is None:
            self.refuse_unauthenticated()
        try:
            self.authorize(user)
        except Forbidden:
            raise NotFound("No such file id.", code="not_found") from None

    async def resolve(self, file_id: str) -> FileRecord:
        record = await self.file_services.resolve(file_id)
        self.authorize_path(record.path)
        return record

    async def file_json(self, record: FileRecord) -> dict[str, Any]:
        user = self.current_user
        return await self.file_services.file_model(record, self.base_url, user.username if user else None)

    async def finish_file(self, record: FileRecord, status: int = 200) -> None:
        self.set_header("ETag", f'"{record.id}-{record.version}"')
        self.finish_json(await self.file_json(record), status)

    async def folder_in(self, body: dict[str, Any]) -> str | None:
        """The live folder that ``parent`` (an id or ``root``) and/or ``parent_path`` of ``body`` name,
        None when neither is given; 400 when they are malformed or disagree, 404 when it is missing."""
        paths = []
        if body.get("parent") is not None:
            if not isinstance(body["parent"], str):
                raise InvalidInput("'parent' must be a folder id or 'root'.", code="invalid_field")
            parent = await self.file_services.resolve(body["parent"])
            if parent.kind != "directory" or parent.state != "live":
                raise NotFound("No such folder.", code="not_found")
            paths.append(parent.path)
        if body.get("parent_path") is not None:
            if not isinstance(body["parent_path"], str):
                raise InvalidInput("'parent_path' must be a string.", code="invalid_field")
            folder = normalize_api_path(body["parent_path"])
            if not await self.file_services.contents_manager.dir_exists(folder):
                raise NotFound("No such folder.", code="not_found")
            paths.append(folder)
        if len(set(paths)) > 1:
            raise InvalidInput("'parent' and 'parent_path' name different folders.", code="invalid_field")
        return paths[0] if paths else None

    def path_argument(self, name: str = "path") -> str:
        value = self.get_query_argument(name, default=None)
        if value is None or not value.strip():
            raise InvalidInput(f"'{name}' is required.", code="invalid_field")
        return normalize_api_path(value)


def check_name(name: Any, allow_hidden: bool, field: str = "'name'") -> str:
    """A new name: one path component, no NUL, not ``.``/``..``, not reserved; hidden only when allowed.
    InvalidInput (400, ``invalid_field``) naming ``field`` (the body's field or the header) and the rule."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{field} must be a file name.", code="invalid_field")
    if "/" in name:
        raise InvalidInput(f"{field} must be one file name, without '/'.", code="invalid_field")
    if "\x00" in name:
        raise InvalidInput(f"{field} may not contain a NUL character.", code="invalid_field")
    if name in (".", ".."):
        raise InvalidInput(f"{field} may not be '.' or '..'.", code="invalid_field")
    if is_reserved_name(name) or (name.startswith(".") and not allow_hidden):
        raise InvalidInput(f"{field} may not start with '.' here.", code="invalid_field")
    if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise InvalidInput(f"{field} is longer than {NAME_MAX} bytes.", code="invalid_field")
    return name
