"""The public side of share links: ``/shared/<token>`` (a view) and ``/shared/<token>/raw`` (a download).

Design 3.9. These are the server's only unauthenticated file routes, and they ignore identity
entirely: no cookie is read (``get_current_user`` is never asked), none is set (no XSRF
cookie, no login), and the token in the path opens exactly one file for reading, never
anything else (the API does not know it: sent as a server token it gets 401). GET and HEAD
only (other methods: 405). Every answer, errors included, carries ``X-Robots-Tag: noindex,
nofollow`` and ``Referrer-Policy: no-referrer`` (the token must not leak to sites the notebook
links to); each client address gets ``FileServices.share_requests_per_minute`` requests.

The view of a notebook is its rendered HTML (the current version: the link is keyed by the
file's id, so it follows renames) under the sandboxing CSP of :mod:`rendering`; the view of
any other file is its bytes, sandboxed as ``/files`` serves them.
"""

from __future__ import annotations

import re
from typing import Any

from nbserver.auth.authorizer import PUBLIC
from nbserver.auth.identity import User
from nbserver.base.handlers import BaseHandler
from nbserver.errors import NotFound, ServiceUnavailable, TooManyRequests
from nbserver.pages.files import StreamedFileMixin
from nbserver.services.files.content_handlers import send_rendered
from nbserver.services.files.manager import FileServices
from nbserver.services.files.rendering import sandbox_policy
from nbserver.services.files.sharing import TOKEN_PATTERN
from nbserver.services.files.store import FileRecord

TOKEN = r"(?P<token>[^/]+)"


class SharedFileHandler(BaseHandler, StreamedFileMixin):
    """``GET/HEAD /shared/<token>``: the shared file's view."""

    auth_resource = PUBLIC

    @property
    def file_services(self) -> FileServices:
        services: FileServices | None = self.settings.get("file_services")
        if services is None:
            raise NotFound("No such shared file.")
        return services

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("X-Robots-Tag", "noindex, nofollow")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "private, max-age=0")
        self.set_header("Content-Security-Policy", "sandbox; default-src 'none'")

    def get_current_user(self) -> User | None:
        return None  # a share link never looks at who asks

    def prepare(self) -> None:
        """Host check (a loopback server's links stay on the machine), then the rate limit: nothing else."""
        self.check_host()
        try:
            self.file_services.shares.admit(self.request.remote_ip or "")
        except NotFound:
            pass  # no file services: every link is 404, answered by the method

    async def shared(self, token: str) -> FileRecord:
        if not re.fullmatch(TOKEN_PATTERN, token):
            raise NotFound("No such shared file.")
        try:
            return await self.file_services.shares.resolve(token)
        except ServiceUnavailable:
            raise NotFound("No such shared file.") from None

    async def get(self, token: str, include_body: bool = True) -> None:
        record = await self.shared(token)
        services = self.file_services
        if record.kind == "notebook" and self.disposition == "inline":
            body = await services.renderer.html(record)
            send_rendered(self, services, body, services.share_frame_ancestors, include_body)
            return
        await self.serve_file(services.contents_manager, record.path, include_body)

    async def head(self, token: str) -> None:
        await self.get(token, include_body=False)

    def set_extra_headers(self, path: str) -> None:
        super().set_extra_headers(path)
        self.set_header("Cache-Control", "private, max-age=0")
        if self.disposition == "inline":
            policy = sandbox_policy(False, self.file_services.share_frame_ancestors)
            self.set_header("Content-Security-Policy", policy)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, TooManyRequests):
            self.set_header("Retry-After", str(exc.retry_after))
        super().write_error(status_code, **kwargs)


class SharedRawHandler(SharedFileHandler):
    """``GET/HEAD /shared/<token>/raw``: the shared file's bytes, as a download."""

    disposition = "attachment"


handlers = [
    (rf"/shared/{TOKEN}", SharedFileHandler),
    (rf"/shared/{TOKEN}/raw", SharedRawHandler),
]
