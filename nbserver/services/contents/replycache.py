"""Already-encoded replies to notebook GETs, served again while the file is unchanged on disk.

A GET of a notebook parses, validates and encodes it again on every read; reading an unchanged
file gives the very same reply. The cache keeps the encoded body per request (API path and
query flags) with the stamp of what the reply was made from, and serves it when a new ``stat``
gives the same stamp. Bounded in bytes, least recently used out first.

The stamp: the file's device, inode, size, ``st_mtime_ns`` and ``st_ctime_ns`` (every write,
``chmod`` and ``utime`` moves the change time), whether it is writable (the reply says so,
and a read-only remount changes no stamp), and whether the notebook is signed (trust is in the
reply; stores ask the notary on every validation, :func:`with_trust`, so another process's or
replica's signing is seen). A file is only cached once its times are older than :data:`SETTLED_SECONDS`: a write in
the same clock tick as the read could otherwise leave the stamp unchanged with new content
(the rule git uses for its index, "racy git"; filesystems' time granularity goes up to 2 s).
"""

from __future__ import annotations

import collections
import hashlib
import os
import threading
import time
from typing import Any, NamedTuple

import xxhash

from nbserver.jsonio import dumps_for_client
from nbserver.services.contents.notary import NotebookNotary
from nbserver.services.contents.notebooks import ujson_reply_text, usable_ujson
from nbserver.services.contents.orjsontext import reply_bytes
from nbserver.services.contents.sidedigest import PendingDigest

#: Seconds a file's modification and change times must lie in the past before its reply is kept.
SETTLED_SECONDS = 2.5

#: What identifies one request: (API path, content, type, format, hash).
ReplyKey = tuple[str, bool, str | None, str | None, bool]
#: What a reply was made from (see the module docstring).
Stamp = tuple[int, ...]


class EncodedReply(NamedTuple):
    """A GET reply ready to send: the JSON body and what the handler puts in the headers."""

    #: The model as strict JSON, UTF-8.
    body: bytes
    #: The normalized API path (for ``Location``).
    path: str
    #: The model's ``last_modified`` (ISO 8601, for ``Last-Modified``).
    last_modified: str
    #: A weak entity tag from what the reply was made from: :func:`reply_etag` for a reply kept in
    #: the cache, :meth:`ContentTag.etag` for a notebook's reply not kept; None: the handler lets
    #: tornado tag the body (SHA-1 of all of it, on the event loop).
    etag: str | None = None


def reply_text(model: dict[str, Any]) -> str:
    """A contents model as strict JSON, ASCII-escaped. ujson writes it when it passes its self-check
    (three to six times faster than json on notebooks of floats or long strings, see
    docs/performance.md); what ujson refuses (NaN or infinity from a file, a lone surrogate, nesting
    past its limit) goes to ``dumps_for_client``, which sends non-finite numbers as null."""
    ujson = usable_ujson()
    if ujson is not None:
        try:
            return ujson_reply_text(ujson, model)
        except Exception:
            pass
    return dumps_for_client(model)


def encode_reply(model: dict[str, Any]) -> EncodedReply:
    """A contents model as the reply body: UTF-8 JSON by orjson where it can (see orjsontext.py,
    five to fifteen times faster on large strings), else ASCII JSON by ``reply_text``."""
    try:
        body = reply_bytes(model)
    except TypeError:  # what orjson refuses (an integer past 64 bits, a lone surrogate)
        body = None
    if body is None:
        body = reply_text(model).encode("ascii")
    return EncodedReply(body, model["path"], model["last_modified"])


class ReplyCacheStats(NamedTuple):
    hits: int
    misses: int
    #: Bytes of bodies held now.
    size: int
    entries: int


def settled(info: os.stat_result, now: float | None = None) -> bool:
    """Whether a file's modification and change times are old enough to trust its stamp."""
    newest = max(info.st_mtime_ns, info.st_ctime_ns)
    return (now if now is not None else time.time()) * 1e9 - newest > SETTLED_SECONDS * 1e9


def file_stamp(info: os.stat_result, writable: bool, extra: Stamp = ()) -> Stamp:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, int(writable), *extra)


def reply_etag(key: ReplyKey, stamp: Stamp) -> str:
    """A weak entity tag (RFC 9110 8.8.1) for the reply to ``key`` made from a file of settled
    ``stamp``: the stamp moves with every change of what the reply says (content, times,
    writability, trust), so the tag does too, without hashing a body of megabytes as tornado's
    default tag does on every GET. Weak: the same stamp could be encoded to other bytes by another
    version of the server, with the same meaning."""
    return weak_tag((key, stamp))


def weak_tag(described: object) -> str:
    """``W/"<blake2b-128 of repr(described)>"``: a weak entity tag for a reply described by a value
    whose ``repr`` moves with everything the reply says."""
    return f'W/"{hashlib.blake2b(repr(described).encode("utf-8"), digest_size=16).hexdigest()}"'


def content_fingerprint(raw: bytes | bytearray) -> str:
    """A 128-bit fingerprint of a file's bytes for an entity tag: XXH3-128, about 20 times faster
    than SHA-256 (0.1 against 2 ms for 3 MB here). Not a cryptographic digest: it tells versions of
    a file apart (a chance collision is 2**-128), which is all a tag that also holds the file's size
    and times needs; whoever could craft a collision can write the file anyway."""
    return xxhash.xxh3_128_hexdigest(raw)


class ContentTag:
    """What the entity tag of a notebook reply that is not kept (its file changed in the last
    :data:`SETTLED_SECONDS`) is made from, filled in by the read: a fingerprint of the file's bytes
    (:func:`content_fingerprint`, or the SHA-256 the reply's ``hash`` already needed, computed on a
    helper thread while the notebook is parsed, :mod:`.sidedigest`), and whether its cells were
    marked trusted (the only part of the reply that is neither in the file's bytes nor in the
    model's other fields)."""

    def __init__(self) -> None:
        self.file_digest: PendingDigest | str | None = None
        self.trusted = False

    def etag(self, key: ReplyKey, model: dict[str, Any]) -> str | None:
        """A weak entity tag (RFC 9110 8.8.1) for the reply to ``key`` encoded from ``model``: a
        digest of the file's bytes, the trust mark and every field of the model but its content
        (times, writability, size, validation message, hash), so the tag changes whenever the
        reply does. None when the read did not fill it in. Weak for the reason :func:`reply_etag` is."""
        if self.file_digest is None:
            return None
        digest = self.file_digest if isinstance(self.file_digest, str) else self.file_digest.hexdigest()
        described = sorted((name, value) for name, value in model.items() if name != "content")
        return weak_tag((key, digest, self.trusted, described))


def with_trust(stamp: Stamp, notary: NotebookNotary, digest: str | None) -> Stamp:
    """``stamp`` with whether the notebook of signature ``digest`` is signed now: a reply says
    whether its cells are trusted, and another process or replica may sign it or cull its
    signature at any time, so the notary is asked, not remembered. Blocking (the notary's database)."""
    return (*stamp, int(notary.is_signed(digest)))


class ReplyCache:
    """Encoded replies by request, each with its stamp; at most ``max_bytes`` of bodies. Thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: collections.OrderedDict[ReplyKey, tuple[Stamp, EncodedReply]] = collections.OrderedDict()
        self._size = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()

    def lookup(self, key: ReplyKey, stamp: Stamp) -> EncodedReply | None:
        """The reply kept for ``key`` when it was made from ``stamp``, else None (a miss)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != stamp:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return entry[1]

    def held(self, key: ReplyKey) -> EncodedReply | None:
        """The reply kept for ``key`` whatever its stamp (counted as a hit), for a caller that
        knows otherwise that it is current (see nbserver.db.changes.Freshness); else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return entry[1]

    def store(self, key: ReplyKey, stamp: Stamp, reply: EncodedReply) -> None:
        """Keep ``reply``, dropping the least recently used past ``max_bytes`` (a larger one is not kept)."""
        with self._lock:
            self._drop(key)
            if len(reply.body) > self.max_bytes:
                return
            self._entries[key] = (stamp, reply)
            self._size += len(reply.body)
            while self._size > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: ReplyKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._size -= len(entry[1].body)

    def forget(self, *paths: str) -> None:
        """Forget the replies of these API paths and of everything below them (after a write,
        delete, rename or copy touching them). Other files' replies stay: their stamps still
        tell whether they changed."""
        with self._lock:
            for key in [key for key in self._entries if any(
                    key[0] == path or key[0].startswith(path + "/") or not path for path in paths)]:
                self._drop(key)

    def clear(self) -> None:
        """Forget every reply (when something all replies depend on changes, e.g. trust)."""
        with self._lock:
            self._entries.clear()
            self._size = 0

    def stats(self) -> ReplyCacheStats:
        with self._lock:
            return ReplyCacheStats(self._hits, self._misses, self._size, len(self._entries))
