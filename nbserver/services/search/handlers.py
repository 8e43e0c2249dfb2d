"""REST routes of search: ``/api/search``, ``/api/search/status``, ``/api/search/reindex`` (design 3.12).

Search is authorized as ``contents:read`` (what it shows is contents), and each result once
more on its own path, so an authorizer that limits paths limits results too (the authorizer sees
the path as ``handler.contents_path``). Reindexing is a ``contents`` write (it makes work).
"""

from __future__ import annotations

from nbserver.base.handlers import APIHandler
from nbserver.base.numbers import ascii_whole_number
from nbserver.errors import InvalidInput, ServiceUnavailable
from nbserver.services.contents.fileio import normalize_api_path
from nbserver.services.search.manager import DEFAULT_LIMIT, MAX_LIMIT, SearchService, decode_cursor
from nbserver.services.search.query import parse_query

#: The values of ``type`` (what the index holds: folders are not searched).
SEARCH_TYPES = ("notebook", "file")


class SearchAPIHandler(APIHandler):
    auth_resource = "contents"
    #: The API path being authorized (a result's path while results are filtered).
    contents_path: str | None = None

    @property
    def search_service(self) -> SearchService:
        service: SearchService | None = self.settings.get("search_service")
        if service is None or not service.enabled:
            raise ServiceUnavailable("Search is turned off on this server.", code="search_disabled")
        return service

    def may_read(self, path: str) -> bool:
        """Whether the authorizer lets this request's user read ``path``."""
        authorizer = self.settings.get("authorizer")
        user = self.current_user
        if authorizer is None or user is None:
            return authorizer is None
        self.contents_path = path
        try:
            return bool(authorizer.is_authorized(self, user, "read", "contents"))
        finally:
            self.contents_path = None


def limit_argument(handler: APIHandler) -> int:
    text = handler.get_query_argument("limit", default=None)
    if text is None or text == "":
        return DEFAULT_LIMIT
    limit = ascii_whole_number(text)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"'limit' must be a whole number from 1 to {MAX_LIMIT}.", code="invalid_field",
                           limit=MAX_LIMIT)
    return limit


class SearchHandler(SearchAPIHandler):
    """``GET /api/search?q=&path=&type=&limit=&cursor=``: one page of ranked results."""

    async def get(self) -> None:
        query = parse_query(self.get_query_argument("q", default="") or "")
        folder = normalize_api_path(self.get_query_argument("path", default="") or "")
        kind = self.get_query_argument("type", default=None) or None
        if kind is not None and kind not in SEARCH_TYPES:
            raise InvalidInput(f"'type' must be one of {', '.join(SEARCH_TYPES)}.", code="invalid_field")
        limit = limit_argument(self)
        cursor = self.get_query_argument("cursor", default=None)
        offset = decode_cursor(cursor) if cursor else 0
        page = await self.search_service.search(query, folder, kind, limit, offset)
        page["results"] = [result for result in page["results"] if self.may_read(result["path"])]
        self.finish_json(page)


class SearchStatusHandler(SearchAPIHandler):
    """``GET /api/search/status``: ``{"status", "engine", "documents", "pending", "last_update", "db_bytes"}``."""

    async def get(self) -> None:
        self.finish_json(await self.search_service.status())


class SearchReindexHandler(SearchAPIHandler):
    """``POST /api/search/reindex[?full=1]``: reconcile ids, queue what changed on disk (all with ``full``); 202."""

    async def post(self) -> None:
        full = self.get_query_argument("full", default="0")
        if full not in ("0", "1", "true", "false"):
            raise InvalidInput("'full' must be 1 or 0.", code="invalid_field")
        self.finish_json(await self.search_service.reindex(full in ("1", "true")), 202)


handlers = [
    (r"/api/search", SearchHandler),
    (r"/api/search/status", SearchStatusHandler),
    (r"/api/search/reindex", SearchReindexHandler),
]
