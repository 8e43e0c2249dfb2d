"""A notebook file's bytes made into the content of a read's model (``GET /api/contents/<path>``
of a notebook, Jupyter Server's REST API): parsed, its trust decided from the notary's signature
database and marked on its code cells, validated.

No tornado here: the server's threads run :func:`read_notebook_content` for most reads, and a
notebook process (:mod:`.notebookprocesses`) runs it through :func:`notebook_reply_across` for a
large first read that comes while another one is under way in the server (the file's read, the
parse, the trust digest, the validation and the reply's encoding of two reads then run on two
cores), so the two paths cannot drift apart.
"""

from __future__ import annotations

import collections
import hashlib
import os
import threading
from typing import Any, Callable, Generic, Hashable, NamedTuple, TypeVar

from nbserver.services.contents.modeltypes import HASH_ALGORITHM, Model
from nbserver.services.contents.notary import NotebookNotary, mark_cells, signature_of
from nbserver.services.contents.notebooks import read_notebook
from nbserver.services.contents.notebookworker import ask, out_of_band
from nbserver.services.contents.replycache import content_fingerprint, encode_reply
from nbserver.services.contents.savebody import WARM_UP_NOTEBOOK
from nbserver.services.contents.validation import validate_notebook

#: (found, value): what a per-file-version cache knows (a trust digest, a validation message),
#: or what a read learned for it to keep.
Known = tuple[bool, "str | None"]
#: Nothing known, nothing learned.
UNKNOWN: Known = (False, None)

K = TypeVar("K", bound=Hashable)


class FileVersionCache(Generic[K]):
    """A result per notebook file version (a validation message, None when valid; a signature),
    least recently used out first. Thread-safe.

    Validating or signing a large notebook costs more than parsing it; a file read again
    unchanged (same inode, mtime and size; in the PostgreSQL store, the same SHA-256) keeps its result.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._verdicts: collections.OrderedDict[K, str | None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, version: K) -> Known:
        """(found, message) for a file version."""
        with self._lock:
            if version not in self._verdicts:
                return False, None
            self._verdicts.move_to_end(version)
            return True, self._verdicts[version]

    def store(self, version: K, message: str | None) -> None:
        with self._lock:
            self._verdicts[version] = message
            self._verdicts.move_to_end(version)
            while len(self._verdicts) > self._size:
                self._verdicts.popitem(last=False)


class ReadsKnown(Generic[K]):
    """What reads learned per version of a notebook file (its trust digest, its validation
    message), which a read of the same version skips; ``size`` versions of each."""

    def __init__(self, size: int) -> None:
        self.digests = FileVersionCache[K](size)
        self.verdicts = FileVersionCache[K](size)

    def known(self, version: K | None) -> tuple[Known, Known]:
        """(digest, verdict) known for ``version`` (None: a file that changed while it was read)."""
        if version is None:
            return UNKNOWN, UNKNOWN
        return self.digests.lookup(version), self.verdicts.lookup(version)

    def learn(self, version: K | None, digest: Known, verdict: Known) -> None:
        """Keep what a read of ``version`` learned (nothing for None)."""
        if version is None:
            return
        if digest[0]:
            self.digests.store(version, digest[1])
        if verdict[0]:
            self.verdicts.store(version, verdict[1])

    def read(self, raw: bytes | bytearray, version: K | None, notary: NotebookNotary) -> NotebookContent:
        """:func:`read_notebook_content` in the server's own thread, with what is known of
        ``version``, the ``notary``'s key and database; what it learns is kept."""
        known_digest, known_verdict = self.known(version)
        secret = None if known_digest[0] else notary.secret()
        read = read_notebook_content(raw, secret, notary.is_signed, known_digest, known_verdict)
        self.learn(version, read.digest, read.verdict)
        return read


class NotebookContent(NamedTuple):
    """What :func:`read_notebook_content` made of a file's bytes."""

    #: The v4 model, code cells marked ``metadata.trusted``.
    nb: dict[str, Any]
    trusted: bool
    #: The trust digest this read computed, to keep for the file's version; UNKNOWN when it was known.
    digest: Known
    #: The validation message this read found, to keep for the file's version (only a repeatable
    #: verdict, see ``validation.Verdict``); UNKNOWN when it was known or cannot be kept.
    verdict: Known
    #: The model's ``message``: the parse's note (non-finite numbers made null) and the
    #: validation message, or None for a clean, valid notebook.
    message: str | None


def read_notebook_content(raw: bytes | bytearray, secret: bytes | None, is_signed: Callable[[str], bool],
                          known_digest: Known = UNKNOWN, known_verdict: Known = UNKNOWN) -> NotebookContent:
    """Parse a notebook file's bytes (``notebooks.read_notebook``), decide its trust and validate it.

    Trust is nbformat's rule as Jupyter Server applies it on read: the notebook's HMAC-SHA256
    with ``secret`` (``notary.signature_of``; ``known_digest`` when the file's version was read
    before) is in the signature database, which ``is_signed(digest)`` asks; every code cell's
    ``metadata.trusted`` is then set to the answer. ``known_verdict`` likewise skips the
    validation (``validation.validate_notebook``). Raises InvalidInput (400) when the bytes are
    not a notebook.
    """
    nb, note = read_notebook(raw)
    found, digest = known_digest
    learned_digest = UNKNOWN
    if not found:
        digest = signature_of(secret, nb)
        learned_digest = (True, digest)
    trusted = digest is not None and is_signed(digest)
    mark_cells(nb, trusted)
    found, message = known_verdict
    learned_verdict = UNKNOWN
    if not found:
        verdict = validate_notebook(nb)
        message = verdict.message
        if verdict.repeatable:
            learned_verdict = (True, message)
    return NotebookContent(nb, trusted, learned_digest, learned_verdict, " ".join(filter(None, (note, message))) or None)


def fill_notebook_model(model: Model, read: NotebookContent) -> None:
    """Put a read's content (and its ``message``, when it has one) into a notebook's ``model``."""
    model.update(content=read.nb, format="json")
    if read.message:
        model["message"] = read.message


class FileIdentity(NamedTuple):
    """Which file, in which version, a read in a notebook process is to find at its path: the
    server's ``stat`` of it (:func:`file_identity`)."""

    st_dev: int
    st_ino: int
    st_size: int
    st_mtime_ns: int


def file_identity(info: os.stat_result) -> FileIdentity:
    return FileIdentity(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def read_identified_file(os_path: str, expected: FileIdentity) -> bytes | None:
    """The bytes of the file at ``os_path`` when it is the file ``expected`` names, unchanged from
    before the read to after it; None otherwise (replaced, changed, not a regular file any more:
    the caller reads it again its own way). Opened without blocking, so a FIFO put in its place
    cannot hold the reader; a path that no longer opens raises OSError."""
    fd = os.open(os_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        if file_identity(os.fstat(fd)) != expected:
            return None
        raw = os.read(fd, expected.st_size)  # one read into the bytes returned
        while len(raw) < expected.st_size:
            more = os.read(fd, expected.st_size - len(raw))
            if not more:
                return None
            raw += more
        return raw if file_identity(os.fstat(fd)) == expected else None
    finally:
        os.close(fd)


class ReplyAcross(NamedTuple):
    """A notebook's reply made in a notebook process (:func:`notebook_reply_across`)."""

    #: The reply's body (``replycache.encode_reply`` of the model).
    body: bytes | bytearray
    #: The model without its ``content`` (for the reply's entity tag).
    model: Model
    trusted: bool
    #: As :class:`NotebookContent`'s: what the server keeps for the file's version.
    digest: Known
    verdict: Known
    #: What the reply's entity tag takes from the file's bytes (``replycache.ContentTag``): their
    #: SHA-256 when the model has a ``hash``, else their fingerprint; None when not asked for.
    file_digest: str | None


def notebook_reply_across(model: Model, os_path: str, expected: FileIdentity, secret: bytes | None,
                          known_digest: Known, known_verdict: Known, require_hash: bool,
                          tagged: bool) -> ReplyAcross | None:
    """A notebook read's reply made in a notebook process: the file at ``os_path`` read there
    (:func:`read_identified_file`: None when it is not the ``expected`` file and version, which the
    server stat'ed after checking the path, and for which it knows ``known_digest`` and
    ``known_verdict``), the model (without ``content``: ``_base_model`` of the store) filled by
    :func:`read_notebook_content`, whose question whether the digest is signed goes to the server
    (``notebookworker.ask``: its notary answers, as for a read in its own threads), and its
    ``hash`` (SHA-256 of the bytes) when ``require_hash``; then encoded. The body crosses back as
    a frame of its own. Raises InvalidInput for bytes that are not a notebook, OSError when the
    path no longer opens."""
    raw = read_identified_file(os_path, expected)
    if raw is None:
        return None
    read = read_notebook_content(raw, secret, ask, known_digest, known_verdict)
    fill_notebook_model(model, read)
    sha256 = hashlib.sha256(raw).hexdigest() if require_hash else None
    if sha256 is not None:
        model.update(hash=sha256, hash_algorithm=HASH_ALGORITHM)
    body = encode_reply(model).body
    del model["content"]
    file_digest = (sha256 or content_fingerprint(raw)) if tagged else None
    return ReplyAcross(out_of_band(body), model, read.trusted, read.digest, read.verdict, file_digest)


def warm_up() -> None:
    """Pass ``savebody.WARM_UP_NOTEBOOK`` through a read and its reply's encoding, so the
    parser's and encoders' first-use self-checks run now."""
    model: Model = {"name": "warm-up.ipynb", "path": "warm-up.ipynb", "type": "notebook",
                    "last_modified": "2026-01-01T00:00:00Z", "content": None}
    fill_notebook_model(model, read_notebook_content(WARM_UP_NOTEBOOK, b"warm-up", lambda digest: False))
    encode_reply(model)
