"""REST routes of ``/api/contents``: files, folders, notebooks and their checkpoints."""

from __future__ import annotations

from datetime import datetime

from tornado.httputil import format_timestamp

from nbserver.base.handlers import APIHandler
from nbserver.base.numbers import parse_page_size
from nbserver.base.urls import url_escape_path, url_path_join
from nbserver.errors import InvalidInput, NotFound
from nbserver.services.contents.fileio import normalize_api_path
from nbserver.services.contents.manager import CONTENT_TYPES, ContentsManager, Model
from nbserver.services.contents.replycache import encode_reply
from nbserver.services.contents.savebody import optional_str, save_model_from_body

PATH_REGEX = r"(?P<path>(?:/[^/]+)*)"
MAX_PAGE_SIZE = 10_000


class ContentsAPIHandler(APIHandler):
    """Shared by the contents handlers: the manager and URL building."""

    auth_resource = "contents"

    @property
    def contents_manager(self) -> ContentsManager:
        return self.settings["contents_manager"]  # type: ignore[no-any-return]

    def contents_url(self, path: str, *rest: str) -> str:
        return url_path_join(self.base_url, "api/contents", url_escape_path(path), *rest)

    def flag_argument(self, name: str, default: bool) -> bool:
        value = self.get_query_argument(name, default="1" if default else "0")
        if value not in ("0", "1"):
            raise InvalidInput(f"{name!r} must be 0 or 1.")
        return value == "1"

    def choice_argument(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self.get_query_argument(name, default=None)
        if value is not None and value not in choices:
            raise InvalidInput(f"{name!r} must be one of {', '.join(choices)}.")
        return value

    async def add_file_ids(self, model: Model) -> None:
        """``?file_id=1``: the model and each listed child get ``file_id`` (None where a store has no ids)."""
        services = self.settings.get("file_services")
        if services is not None:
            await services.add_file_ids(model)
            return
        children = model.get("content") if model.get("type") == "directory" else None
        for entry in [model, *(children if isinstance(children, list) else [])]:
            entry["file_id"] = None

    def finish_model(self, model: Model, status: int = 200) -> None:
        self.set_header("Location", self.contents_url(model["path"]))
        self.finish_json(model, status)


def parse_if_match(header: str | None) -> str | None:
    """The hash a save must find (``ContentsManager.save``'s ``expected_hash``) from ``If-Match``:
    one SHA-256 as GET ?hash=1 and save replies give it, as an entity tag (quoted; bare is taken
    too), or ``*``. InvalidInput for anything else (a list, a weak tag)."""
    if header is None:
        return None
    value = header.strip()
    if value == "*":
        return value
    tag = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if len(tag) != 64 or any(c not in "0123456789abcdef" for c in tag):
        raise InvalidInput('If-Match must be one contents hash in quotes (as GET ?hash=1 gives it) or *.')
    return tag


class ContentsHandler(ContentsAPIHandler):
    reads_large_bodies_whole = True  # a notebook's save

    async def get(self, path: str = "") -> None:
        page_size = self.get_query_argument("page_size", default=None)
        if page_size is not None:
            # nbserver's own paged listing of a directory; a plain GET stays as Jupyter's.
            model = await self.contents_manager.list_directory_page(
                path, parse_page_size(page_size, MAX_PAGE_SIZE), self.get_query_argument("cursor", default=None) or None)
            if self.flag_argument("file_id", False):
                await self.add_file_ids(model)
            self.finish_model(model)
            return
        content = self.flag_argument("content", True)
        type = self.choice_argument("type", CONTENT_TYPES)
        format = self.choice_argument("format", ("text", "base64", "json"))
        require_hash = self.flag_argument("hash", False)
        if self.flag_argument("file_id", False):
            model = await self.contents_manager.get(path, content, type, format, require_hash)
            await self.add_file_ids(model)
            reply = encode_reply(model)
        else:  # the manager may have this reply encoded already
            reply = await self.contents_manager.get_reply(path, content, type, format, require_hash)
        modified = datetime.fromisoformat(reply.last_modified.replace("Z", "+00:00"))
        self.set_header("Last-Modified", format_timestamp(modified))
        self.set_header("Location", self.contents_url(reply.path))
        if reply.etag is not None:  # tornado checks If-None-Match only against a tag it made itself
            self.set_header("Etag", reply.etag)
            if self.check_etag_header():
                self.set_status(304)
                self.finish()
                return
        self.finish_body(reply.body)

    async def patch(self, path: str = "") -> None:
        body = self.get_json_object_body()
        if not body or not isinstance(body.get("path"), str):
            raise InvalidInput("PATCH needs a JSON body with the new 'path'.")
        model = await self.contents_manager.rename(path, body["path"])
        self.finish_model(model)

    async def post(self, path: str = "") -> None:
        """Create an untitled file, notebook or folder in ``path``, or a copy of ``copy_from``."""
        manager = self.contents_manager
        body = self.get_json_object_body() or {}
        copy_from = optional_str(body, "copy_from")
        manager.refuse_hidden("copy" if copy_from else "create", path, *filter(None, [copy_from]))
        if not await manager.dir_exists(path):
            if await manager.file_exists(path):
                raise InvalidInput("POST creates new files inside a folder; to save a file use PUT.")
            raise NotFound(f"No such directory: {normalize_api_path(path)}")
        if copy_from:
            model = await manager.copy(copy_from, path)
        else:
            kind = optional_str(body, "type") or None
            if kind is not None and kind not in CONTENT_TYPES:
                raise InvalidInput(f"'type' must be one of {', '.join(CONTENT_TYPES)}.")
            ext = optional_str(body, "ext") or ""
            if "/" in ext or "\x00" in ext:
                raise InvalidInput("'ext' must be a plain file extension such as '.txt'.")
            model = await manager.new_untitled(path, type=kind, ext=ext)
        self.finish_model(model, 201)

    async def put(self, path: str = "") -> None:
        """Save or upload to ``path`` (201 when this request created it, 200 when it replaced it);
        with ``If-Match: "<hash>"`` only over that version of the file (412 otherwise, see
        :func:`parse_if_match`); with no body create it empty (409 when it exists). ``copy_from`` is refused (400): as in
        Jupyter Server, copies are made by POST."""
        manager = self.contents_manager
        path = normalize_api_path(path)
        if_match = self.request.headers.get("If-Match")
        raw = self.large_json_body()  # a large body is parsed off the event loop, by the store
        if raw is not None:
            saved = await manager.save_body(raw, path, expected_hash=parse_if_match(if_match))
        else:
            model = save_model_from_body(self.get_json_object_body())
            saved = None if model is None else await manager.save(model, path, expected_hash=parse_if_match(if_match))
        if saved is None:  # no body
            self.finish_model(await manager.new(None, path), 201)
            return
        self.finish_model(saved.model, 201 if saved.created else 200)

    async def delete(self, path: str = "") -> None:
        await self.contents_manager.delete(path)
        self.set_status(204)
        self.finish()


class CheckpointsHandler(ContentsAPIHandler):
    async def get(self, path: str = "") -> None:
        self.finish_json(await self.contents_manager.list_checkpoints(path))

    async def post(self, path: str = "") -> None:
        checkpoint = await self.contents_manager.create_checkpoint(path)
        self.set_header("Location", self.contents_url(path, "checkpoints", checkpoint["id"]))
        self.finish_json(checkpoint, 201)


class ModifyCheckpointsHandler(ContentsAPIHandler):
    async def post(self, path: str, checkpoint_id: str) -> None:
        await self.contents_manager.restore_checkpoint(checkpoint_id, path)
        self.set_status(204)
        self.finish()

    async def delete(self, path: str, checkpoint_id: str) -> None:
        await self.contents_manager.delete_checkpoint(checkpoint_id, path)
        self.set_status(204)
        self.finish()


class CheckpointDiffHandler(ContentsAPIHandler):
    async def get(self, path: str, checkpoint_id: str) -> None:
        """The cell-by-cell diff of a notebook's checkpoint against the notebook now (nbserver only)."""
        self.finish_json(await self.contents_manager.checkpoint_diff(checkpoint_id, path))


class TrustNotebooksHandler(ContentsAPIHandler):
    async def post(self, path: str = "") -> None:
        """Sign the notebook at ``path``: 201 with no body, as Jupyter Server answers."""
        await self.contents_manager.trust_notebook(path)
        self.set_status(201)
        self.finish()


handlers = [
    (rf"/api/contents{PATH_REGEX}/checkpoints/(?P<checkpoint_id>[^/]+)/diff", CheckpointDiffHandler),
    (rf"/api/contents{PATH_REGEX}/trust", TrustNotebooksHandler),
    (rf"/api/contents{PATH_REGEX}/checkpoints", CheckpointsHandler),
    (rf"/api/contents{PATH_REGEX}/checkpoints/(?P<checkpoint_id>[^/]+)", ModifyCheckpointsHandler),
    (rf"/api/contents{PATH_REGEX}/?", ContentsHandler),
]
