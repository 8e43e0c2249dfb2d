"""REST routes of file ids and the trash: ``/api/files/...``, ``/api/trash``, ``/api/fileid/...``.

Design sections 3.2, 3.6, 3.7. Every id route resolves the id first and then authorizes the
request as ``contents`` on the path it names (the authorizer sees it as ``handler.contents_path``);
a path the user may not use answers 404 like an unknown id, so existence is not revealed.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
from datetime import datetime, timedelta
from typing import Any

from nbserver.base.numbers import parse_page_size
from nbserver.errors import InvalidInput, MethodNotAllowed, NotFound
from nbserver.services.contents.fileio import normalize_api_path
from nbserver.services.files import content_handlers, relation_handlers, shared_pages
from nbserver.services.files.api_base import FilesAPIHandler, check_name
from nbserver.services.files.store import FileRecord, TrashRecord

__all__ = ["FilesAPIHandler", "check_name", "handlers"]

ID_REGEX = r"(?P<file_id>[^/]+)"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
RESTORE_FIELDS = frozenset({"path", "on_conflict"})


#: Fields of the File a client may write (section 3.4); ``filename`` is Plotly's alias of ``name``.
WRITABLE_FIELDS = frozenset({"name", "filename", "parent", "parent_path", "world_readable"})
READ_ONLY_FIELDS = frozenset({
    "id", "path", "type", "mimetype", "size", "created", "last_modified", "owner", "title", "share_url", "starred",
    "trashed", "explicitly_trashed", "trashed_at", "current_user_permission", "version", "api_urls", "web_url",
    "hash", "hash_algorithm",
})


class FileHandler(FilesAPIHandler):
    """``GET``, ``PUT`` (all writable fields) and ``PATCH`` (some) of ``/api/files/{id}``."""

    async def get(self, file_id: str) -> None:
        await self.finish_file(await self.resolve(file_id))

    async def put(self, file_id: str) -> None:
        await self.update(file_id, require_all=True)

    async def patch(self, file_id: str) -> None:
        await self.update(file_id, require_all=False)

    async def update(self, file_id: str, require_all: bool) -> None:
        body = self.get_json_object_body() or {}
        for field in sorted(body):
            if field in READ_ONLY_FIELDS:
                raise InvalidInput(f"'{field}' cannot be written.", code="read_only_field", field=field)
            if field not in WRITABLE_FIELDS:
                raise InvalidInput(f"Unknown field '{field}'.", code="invalid_field", field=field)
        if require_all:
            needed = [("name", "name" in body or "filename" in body), ("parent_path", "parent" in body or
                      "parent_path" in body), ("world_readable", "world_readable" in body)]
            for field, present in needed:
                if not present:
                    raise InvalidInput(f"PUT needs '{field}'.", code="invalid_field", field=field)
        elif not body:
            raise InvalidInput("PATCH needs at least one writable field.", code="invalid_field")
        record = await self.resolve(file_id)
        world_readable = body.get("world_readable")
        if world_readable is not None and not isinstance(world_readable, bool):
            raise InvalidInput("'world_readable' must be true or false.", code="invalid_field")
        new_path = posixpath.join(await self.parent_path(body, record), await self.new_name(body, record))
        if new_path != record.path:
            self.authorize_path(new_path)
        updated = await self.file_services.update(record, new_path, world_readable,
                                                  self.request.headers.get("If-Match"))
        await self.finish_file(updated)

    async def new_name(self, body: dict[str, Any], record: FileRecord) -> str:
        names = {body[key] for key in ("name", "filename") if key in body and body[key] is not None}
        if len(names) > 1:
            raise InvalidInput("'name' and 'filename' differ.", code="invalid_field")
        if not names:
            return posixpath.basename(record.path)
        return check_name(names.pop(), bool(self.file_services.contents_manager.allow_hidden))

    async def parent_path(self, body: dict[str, Any], record: FileRecord) -> str:
        """The folder named by ``parent`` (an id or ``root``) and/or ``parent_path`` (they must agree)."""
        folder = await self.folder_in(body)
        if folder is None:
            return posixpath.dirname(record.path)
        if record.path and (folder == record.path or folder.startswith(record.path + "/")):
            raise InvalidInput("A folder cannot be moved into itself.", code="invalid_field")
        return folder


class FilePathHandler(FilesAPIHandler):
    async def get(self, file_id: str) -> None:
        record = await self.resolve(file_id)
        answer: dict[str, Any] = {"id": record.id, "path": record.path}
        if record.state == "trashed":
            answer["trashed"] = True
        self.finish_json(answer)


class FileLookupHandler(FilesAPIHandler):
    """``GET /api/files/lookup?path=&parent=&user=&exists=``: the File at a path (an id assigned if needed)."""

    async def get(self) -> None:
        path = self.path_argument()
        parent_id = self.get_query_argument("parent", default=None)
        if parent_id:
            parent = await self.resolve(parent_id)
            if parent.kind != "directory" or parent.state != "live":
                raise NotFound("No such folder.", code="not_found")
            path = normalize_api_path(f"{parent.path}/{path}")
        user = self.get_query_argument("user", default=None)
        current = self.current_user
        exists = self.get_query_argument("exists", default=None)
        if exists not in (None, "true", "false", "1", "0"):
            raise InvalidInput("'exists' must be true or false.", code="invalid_field")
        wants_exists = exists in ("true", "1")
        try:
            if user is not None and (current is None or user != current.username):
                raise NotFound("No such file.", code="not_found")
            self.authorize_path(path)
            record = await self.file_services.record_for_path(path)
        except NotFound:
            if wants_exists:
                self.finish_json({"exists": False})
                return
            raise NotFound("No such file.", code="not_found") from None
        if wants_exists:
            self.finish_json({"exists": True})
            return
        await self.finish_file(record)


class FileTrashHandler(FilesAPIHandler):
    async def post(self, file_id: str) -> None:
        record = await self.resolve(file_id)
        await self.finish_file(await self.file_services.trash(record, self.trashed_by()))

    def trashed_by(self) -> str:
        user = self.current_user
        return user.username if user is not None else ""


class FileRestoreHandler(FilesAPIHandler):
    async def post(self, file_id: str) -> None:
        body = self.get_json_object_body() or {}
        unknown = sorted(set(body) - RESTORE_FIELDS)
        if unknown:
            raise InvalidInput(f"Unknown field {unknown[0]!r}: restore takes 'path' and 'on_conflict'.",
                               code="invalid_field")
        to_path = body.get("path")
        if to_path is not None and not isinstance(to_path, str):
            raise InvalidInput("'path' must be a string.", code="invalid_field")
        on_conflict = body.get("on_conflict", "fail")
        if on_conflict not in ("fail", "rename"):
            raise InvalidInput("'on_conflict' must be 'fail' or 'rename'.", code="invalid_field")
        record = await self.resolve(file_id)
        if to_path is not None:
            self.authorize_path(normalize_api_path(to_path))
        await self.finish_file(await self.file_services.restore(record, to_path, on_conflict))


class FilePermanentDeleteHandler(FilesAPIHandler):
    async def delete(self, file_id: str) -> None:
        confirm = self.get_query_argument("confirm", default=None)
        if confirm not in (None, "no_trash"):
            raise InvalidInput("'confirm' may only be 'no_trash'.", code="invalid_field")
        record = await self.resolve(file_id)
        await self.file_services.purge(record, confirm_no_trash=confirm == "no_trash")
        self.set_status(204)
        self.finish()


class FileCollaboratorsHandler(FilesAPIHandler):
    """``/api/files/{id}/collaborators``: 405 in single-user mode, Plotly's "exists but inactive" (section 3.8)."""

    async def refuse(self, file_id: str) -> None:
        await self.resolve(file_id)
        raise MethodNotAllowed("Collaborators exist only on a JupyterHub server; this server has one user.",
                               code="single_user")

    get = post = delete = refuse

    def allowed_methods(self) -> list[str]:
        """What the 405's ``Allow`` lists: in single-user mode only OPTIONS (CORS preflights)."""
        return ["OPTIONS"]


def encode_cursor(trash: TrashRecord) -> str:
    return base64.urlsafe_b64encode(json.dumps([trash.trashed_at, trash.id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        after = None
    if not (isinstance(after, list) and len(after) == 2 and all(isinstance(part, str) for part in after)):
        raise InvalidInput("'cursor' is not a cursor this server gave.", code="invalid_field")
    return after[0], after[1]


class TrashHandler(FilesAPIHandler):
    """``/api/trash``: list (GET), trash by path (POST ``{"path"}``), empty (DELETE)."""

    async def get(self) -> None:
        self.authorize_path("")
        size_text = self.get_query_argument("page_size", default=str(DEFAULT_PAGE_SIZE))
        page_size = parse_page_size(size_text, MAX_PAGE_SIZE)
        cursor = self.get_query_argument("cursor", default=None)
        after = decode_cursor(cursor) if cursor else None
        services = self.file_services
        page, total, total_size = await services.trash_page(page_size + 1, after)
        more = len(page) > page_size
        page = page[:page_size]
        items = []
        for trash in page:
            try:
                record = await services.resolve(trash.file_id)
            except NotFound:
                continue  # purged since the page was read (the retention sweep, another request or replica)
            item = await self.file_json(record)
            item.update(original_path=trash.original_path, trashed_at=trash.trashed_at,
                        trashed_by=trash.trashed_by, size=trash.size, expires_at=self.expiry(trash))
            items.append(item)
        self.finish_json({"items": items, "total": total, "total_size": total_size,
                          "next_cursor": encode_cursor(page[-1]) if more and page else None})

    def expiry(self, trash: TrashRecord) -> str | None:
        days = self.file_services.trash_retention_days
        if not days:
            return None
        trashed = datetime.fromisoformat(trash.trashed_at.replace("Z", "+00:00"))
        return (trashed + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    async def post(self) -> None:
        body = self.get_json_object_body() or {}
        if set(body) != {"path"} or not isinstance(body["path"], str):
            raise InvalidInput("POST /api/trash takes {\"path\": \"<path>\"}.", code="invalid_field")
        path = normalize_api_path(body["path"])
        if not path:
            raise InvalidInput("The root folder cannot be trashed.", code="invalid_field")
        self.authorize_path(path)
        services = self.file_services
        user = self.current_user
        record = await services.trash_path(path, user.username if user is not None else "")
        await self.finish_file(record)

    async def delete(self) -> None:
        self.authorize_path("")
        await self.file_services.empty_trash()
        self.set_status(204)
        self.finish()


class FileIdByPathHandler(FilesAPIHandler):
    """``GET /api/fileid/id?path=``: jupyter_server_fileid's route and shape, ``{"id", "path"}``."""

    async def get(self) -> None:
        path = self.path_argument()
        self.authorize_path(path)
        record = await self.file_services.record_for_path(path)
        self.finish_json({"id": record.id, "path": record.path})


class FilePathByIdHandler(FilesAPIHandler):
    """``GET /api/fileid/path?id=``: jupyter_server_fileid's route and shape, ``{"id", "path"}``."""

    async def get(self) -> None:
        file_id = self.get_query_argument("id", default=None)
        if not file_id:
            raise InvalidInput("'id' is required.", code="invalid_field")
        record = await self.resolve(file_id)
        if record.state != "live":
            raise NotFound("No such file id.", code="not_found")
        self.finish_json({"id": record.id, "path": record.path})


handlers = [
    # Before the id routes: "upload" would match {id} (issue 15's routes live in their own modules).
    *content_handlers.handlers,
    *relation_handlers.handlers,
    *shared_pages.handlers,
    (r"/api/files/lookup", FileLookupHandler),
    (rf"/api/files/{ID_REGEX}/path", FilePathHandler),
    (rf"/api/files/{ID_REGEX}/trash", FileTrashHandler),
    (rf"/api/files/{ID_REGEX}/restore", FileRestoreHandler),
    (rf"/api/files/{ID_REGEX}/permanent_delete", FilePermanentDeleteHandler),
    (rf"/api/files/{ID_REGEX}/collaborators", FileCollaboratorsHandler),
    (rf"/api/files/{ID_REGEX}", FileHandler),
    (r"/api/trash", TrashHandler),
    (r"/api/fileid/id", FileIdByPathHandler),
    (r"/api/fileid/path", FilePathByIdHandler),
]
