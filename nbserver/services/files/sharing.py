"""Public read-only share links: ``world_readable`` files reachable at ``/shared/<token>`` (design 3.9).

A link's token is 256 bits: ``HMAC-SHA256(key, "nbserver-share" NUL salt)`` in URL-safe base64,
with a random 256-bit ``salt`` per link and a ``key`` of 32 random bytes kept beside the
metadata database (``share.key``, mode 0600). The database keeps the salt and only
``sha256(token)``, which is what a request's token is looked up by; the owner's server
recomputes the token to show the owner ``share_url`` whenever it reads the File, and the
database alone (a backup, a copied project folder without the key) holds no working link.
Turning the link off, or rotating it, deletes the old hash: the old link answers 404 at once.

The token is a capability for reading one file and nothing else: it is never an API
credential (the identity provider does not know it), and the ``/shared`` pages read no
identity at all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import secrets
from typing import TYPE_CHECKING

from nbserver.auth.ratelimit import LoginRateLimiter
from nbserver.base.urls import url_path_join
from nbserver.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests
from nbserver.services.files.links_store import ShareRecord
from nbserver.services.files.store import FileRecord, MetadataStore, now

if TYPE_CHECKING:
    from nbserver.services.files.manager import FileServices

KEY_FILE = "share.key"
KEY_BYTES = 32
SALT_BYTES = 32
#: What a token looks like: 43 URL-safe base64 characters (256 bits, no padding).
TOKEN_PATTERN = r"[A-Za-z0-9_-]{43}"
RATE_WINDOW_SECONDS = 60.0


def token_hash(token: str) -> bytes:
    """The SHA-256 of a token, as stored and looked up."""
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


def derive_token(key: bytes, salt: bytes) -> str:
    mac = hmac.new(key, b"nbserver-share\x00" + salt, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


class ShareLinks:
    """Makes, rotates, removes and resolves the share links of one :class:`FileServices`."""

    def __init__(self, services: FileServices) -> None:
        self.services = services
        self._key: bytes | None = None
        #: Requests to ``/shared`` per client address in the last minute (every request counts).
        self.limiter = LoginRateLimiter(services.share_requests_per_minute, RATE_WINDOW_SECONDS)

    # -- the key ---------------------------------------------------------------------------

    def _load_key(self) -> bytes:
        """The link key beside the database, made (0600, O_EXCL) on first use. Blocking."""
        if self._key is None:
            path = os.path.join(os.path.dirname(self.services.database_location()[0]), KEY_FILE)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                with open(path, "rb") as handle:
                    key = handle.read()
            else:
                key = secrets.token_bytes(KEY_BYTES)
                try:
                    os.write(fd, key)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            if len(key) < KEY_BYTES:
                raise OSError(f"the share link key {path} is damaged; remove it (every link then changes)")
            self._key = key
        return self._key

    def _token_of(self, share: ShareRecord) -> str | None:
        """The token of ``share``; None when the key changed since it was made (rotate for a new one)."""
        token = derive_token(self._load_key(), share.salt)
        return token if hmac.compare_digest(token_hash(token), share.token_hash) else None

    def _new_share(self, file_id: str, by: str) -> ShareRecord:
        salt = secrets.token_bytes(SALT_BYTES)
        return ShareRecord(file_id, token_hash(derive_token(self._load_key(), salt)), salt, now(), by)

    # -- owner's side ----------------------------------------------------------------------

    def check_enabled(self) -> None:
        """Forbidden ``sharing_disabled`` when links are off here (``FileServices.allow_share_links``)."""
        if not self.services.allow_share_links:
            raise Forbidden("Public links are turned off on this server (FileServices.allow_share_links).",
                            code="sharing_disabled")

    def check_allowed(self, record: FileRecord) -> None:
        """:meth:`check_enabled`, and InvalidInput for a folder (only files have links)."""
        self.check_enabled()
        if record.kind == "directory":
            raise InvalidInput("Only files can have a public link, not folders.", code="invalid_field")

    async def set_world_readable(self, record: FileRecord, value: bool, by: str) -> None:
        """Give ``record`` a link (keeping one it has) or take it away; see :meth:`check_allowed`."""
        if value:
            self.check_allowed(record)

        def apply(store: MetadataStore) -> None:
            if not value:
                store.set_share(record.id, None)
            elif store.share_of(record.id) is None:
                store.set_share(record.id, self._new_share(record.id, by))
        await self.services._call(apply)

    async def rotate(self, record: FileRecord, by: str) -> None:
        """Replace the link's token (the old one answers 404 at once); Conflict ``not_world_readable``
        when there is no link, ``trashed`` for a trashed file."""
        self.check_allowed(record)
        if record.state != "live":
            raise Conflict("A trashed item cannot be changed; restore it first.", code="trashed")

        def apply(store: MetadataStore) -> None:
            if store.share_of(record.id) is None:
                raise Conflict("This file has no public link to rotate; set world_readable first.",
                               code="not_world_readable")
            store.set_share(record.id, self._new_share(record.id, by))
        await self.services._call(apply)

    def share_url(self, store: MetadataStore, record: FileRecord, base_url: str) -> str | None:
        """``<base_url>shared/<token>`` of a world-readable file, else None. Blocking (writer thread)."""
        share = store.share_of(record.id) if record.world_readable else None
        token = self._token_of(share) if share is not None else None
        return url_path_join(base_url, "shared", token) if token else None

    # -- the public side -------------------------------------------------------------------

    def admit(self, client: str) -> None:
        """Count a ``/shared`` request of ``client``; TooManyRequests past the per-minute limit."""
        wait = self.limiter.retry_after(client)
        if wait > 0:
            raise TooManyRequests("Too many requests for shared files; try again later.",
                                  retry_after=max(1, math.ceil(wait)),
                                  code="rate_limited")
        self.limiter.record_failure(client)  # the limiter counts events: here every request is one

    async def resolve(self, token: str) -> FileRecord:
        """The live file a token opens; NotFound (the same for every failure) otherwise.

        Links are off (``allow_share_links`` False), the token unknown or replaced, the file
        trashed (until restored), missing or hidden: all 404, nothing told apart.
        """
        gone = NotFound("No such shared file.")
        if not self.services.allow_share_links or not self.services._has_ids():
            raise gone

        def lookup(store: MetadataStore) -> FileRecord | None:
            share = store.share_by_hash(token_hash(token))
            return store.get(share.file_id) if share is not None else None
        record = await self.services._call(lookup)
        if record is None or record.state != "live" or not record.world_readable:
            raise gone
        try:
            record = await self.services.resolve(record.id)
            self.services.visible_path(record.path)
        except (NotFound, InvalidInput):
            raise gone from None
        if record.state != "live":
            raise gone
        return record
