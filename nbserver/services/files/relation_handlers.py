"""Routes of copies, provenance, stars and share-link rotation (design 3.8, 3.9).

- ``POST /api/files/{id}/copy`` ``{"path"?, "make_public"?}``: 201 ``{"file", "new_id", "warnings"}``.
- ``GET /api/files/{id}/sources?cursor=``: the provenance graph, JSON Graph Format.
- ``POST`` / ``DELETE /api/files/{id}/star``: 200 ``{"starred": true}`` / 204, both idempotent.
- ``GET /api/files?starred=1&page_size=&cursor=``: the current user's starred files, paged.
- ``POST /api/files/{id}/share/rotate``: a new share token; the old link answers 404 at once.
"""

from __future__ import annotations

from nbserver.base.numbers import parse_page_size
from nbserver.base.urls import url_path_join
from nbserver.errors import InvalidInput
from nbserver.services.contents.fileio import normalize_api_path
from nbserver.services.files.api_base import FilesAPIHandler

ID = r"(?P<file_id>[^/]+)"
COPY_FIELDS = frozenset({"path", "make_public"})
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


class UserHandler(FilesAPIHandler):
    @property
    def username(self) -> str:
        user = self.current_user
        return user.username if user is not None else self.file_services.owner


class FileCopyHandler(UserHandler):
    async def post(self, file_id: str) -> None:
        body = self.get_json_object_body() or {}
        unknown = sorted(set(body) - COPY_FIELDS)
        if unknown:
            raise InvalidInput(f"Unknown field {unknown[0]!r}: copy takes 'path' and 'make_public'.",
                               code="invalid_field", field=unknown[0])
        to_path = body.get("path")
        if to_path is not None and (not isinstance(to_path, str) or not normalize_api_path(to_path)):
            raise InvalidInput("'path' must be the path of the copy.", code="invalid_field", field="path")
        make_public = body.get("make_public", False)
        if not isinstance(make_public, bool):
            raise InvalidInput("'make_public' must be true or false.", code="invalid_field", field="make_public")
        record = await self.resolve(file_id)
        if to_path is not None:
            to_path = normalize_api_path(to_path)
            self.authorize_path(to_path)
        copied = await self.file_services.relations.copy(record, to_path, self.username, make_public)
        self.authorize_path(copied.path)
        self.set_header("Location", url_path_join(self.base_url, "api/files", copied.id))
        self.finish_json({"file": await self.file_json(copied), "new_id": copied.id, "warnings": []}, 201)


class FileSourcesHandler(FilesAPIHandler):
    async def get(self, file_id: str) -> None:
        record = await self.resolve(file_id)
        cursor = self.get_query_argument("cursor", default=None) or None
        self.finish_json(await self.file_services.relations.sources(record, cursor))


class FileStarHandler(UserHandler):
    async def post(self, file_id: str) -> None:
        record = await self.resolve(file_id)
        await self.file_services.relations.set_star(record, self.username, True)
        self.finish_json({"starred": True})

    async def delete(self, file_id: str) -> None:
        record = await self.resolve(file_id)
        await self.file_services.relations.set_star(record, self.username, False)
        self.set_status(204)
        self.finish()


class FileListHandler(UserHandler):
    """``GET /api/files?starred=1``: the one listing of Files by id; folders are listed by /api/contents."""

    async def get(self) -> None:
        if self.get_query_argument("starred", default=None) not in ("1", "true"):
            raise InvalidInput("GET /api/files lists starred files: add starred=1 (folders: /api/contents).",
                               code="invalid_field", field="starred")
        self.authorize_path("")
        size_text = self.get_query_argument("page_size", default=str(DEFAULT_PAGE_SIZE))
        cursor = self.get_query_argument("cursor", default=None) or None
        records, total, next_cursor = await self.file_services.relations.starred_page(
            self.username, parse_page_size(size_text, MAX_PAGE_SIZE), cursor)
        items = [await self.file_json(record) for record in records]
        self.finish_json({"items": items, "total": total, "next_cursor": next_cursor})


class ShareRotateHandler(UserHandler):
    async def post(self, file_id: str) -> None:
        record = await self.resolve(file_id)
        await self.file_services.shares.rotate(record, self.username)
        await self.finish_file(await self.file_services.resolve(record.id))


handlers = [
    (r"/api/files/?", FileListHandler),
    (rf"/api/files/{ID}/copy", FileCopyHandler),
    (rf"/api/files/{ID}/sources", FileSourcesHandler),
    (rf"/api/files/{ID}/star", FileStarHandler),
    (rf"/api/files/{ID}/share/rotate", ShareRotateHandler),
]
