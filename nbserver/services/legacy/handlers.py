"""``/api/notebooks/<path>``: the classic notebook server's notebooks API, now ``/api/contents/<path>``.

Old clients keep working by following a redirect: 301 for GET and HEAD, 308 for every other
method, so the client repeats the method and body (RFC 9110, sections 15.4.2 and 15.4.9). The query string is kept and the server's base URL applies.
"""

from __future__ import annotations

from nbserver.base.handlers import APIHandler
from nbserver.base.urls import url_escape_path

#: The old API path of one notebook or folder (tornado passes it unescaped; it is escaped again).
PATH_REGEX = r"(?P<path>(?:/[^/]+)*)"


class LegacyNotebooksHandler(APIHandler):
    """Redirects every method to the same path under ``/api/contents`` (after authentication)."""

    auth_resource = "contents"

    def redirect_to_contents(self, path: str) -> None:
        permanent_status = 301 if self.request.method in ("GET", "HEAD") else 308
        target = self.base_path("api/contents", url_escape_path(path.strip("/")))
        if self.request.query:
            target += "?" + self.request.query
        self.set_status(permanent_status)
        self.set_header("Location", target)
        self.clear_header("Content-Type")
        self.finish()

    def get(self, path: str = "") -> None:
        self.redirect_to_contents(path)

    def head(self, path: str = "") -> None:
        self.redirect_to_contents(path)

    def post(self, path: str = "") -> None:
        self.redirect_to_contents(path)

    def put(self, path: str = "") -> None:
        self.redirect_to_contents(path)

    def patch(self, path: str = "") -> None:
        self.redirect_to_contents(path)

    def delete(self, path: str = "") -> None:
        self.redirect_to_contents(path)


handlers = [
    (rf"/api/notebooks{PATH_REGEX}/?", LegacyNotebooksHandler),
]
