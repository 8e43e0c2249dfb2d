"""Notebook trust: signatures of notebooks this user saved, in nbformat's signature store.

A notebook is trusted when the HMAC-SHA256 of its content, keyed with the secret in the
Jupyter data folder (``notebook_secret``, mode 0600), is in the SQLite database beside it
(``nbsignatures.db``). The digest and the database are nbformat's (``nbformat.sign``,
``NotebookNotary``), byte for byte, so ``jupyter trust`` and Jupyter Server agree with this
server about which notebooks are trusted. The digest is computed here rather than by
importing ``nbformat.sign``, which imports all of nbformat and jsonschema (about a second;
see docs/performance.md): opening and saving notebooks must not pay for that.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
import sqlite3
import threading
from datetime import datetime, timezone
from typing import Any

import orjson
from jupyter_core.paths import jupyter_data_dir
from traitlets import Int, Unicode, default
from traitlets.config import LoggingConfigurable

#: nbformat's default (``NotebookNotary.algorithm``); the database keys signatures by it.
ALGORITHM = "sha256"
#: Output types whose data may hold script (nbformat.sign's rule for v4 documents).
RICH_OUTPUT_TYPES = frozenset({"execute_result", "display_data"})
#: The keys of a rich output that carry no content (nbformat.sign's safe keys for v4).
SAFE_OUTPUT_KEYS = frozenset({"output_type", "execution_count", "metadata"})


def _code_cells(nb: dict[str, Any]) -> list[dict[str, Any]]:
    cells = nb.get("cells")
    return [cell for cell in cells if isinstance(cell, dict) and cell.get("cell_type") == "code"] \
        if isinstance(cells, list) else []


#: Scalars as nbformat hashes them: a string as itself, any other as its ``str``.
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})
_NUMBER_TYPES = frozenset({int, float})
# A one-digit negative exponent in ujson's compact text of a list of numbers (json and str pad it).
_SHORT_NEGATIVE_EXPONENT = re.compile(r"e-([1-9])(?=[,\]])")


def _numbers_text(values: list[Any] | tuple[Any, ...]) -> str:
    """``"".join(map(str, values))`` for a list of ints and floats, written by ujson when it passes
    the check of :func:`_ujson_numbers` (four times faster than Python's float repr); ujson writes
    the same shortest digits and differs only in padding one-digit negative exponents."""
    ujson = _ujson_numbers()
    if ujson is not None:
        try:
            text = ujson.dumps(values, allow_nan=False)
            return str(_SHORT_NEGATIVE_EXPONENT.sub(r"e-0\1", text))[1:-1].replace(",", "")
        except Exception:  # NaN, infinity, an integer past 64 bits: str says it
            pass
    return "".join(map(str, values))


#: Numbers whose text ujson and str have written differently in some version or other.
NUMBERS_SELF_CHECK = [0.0, -0.0, 0.1, 1 / 3, -2.5, 1e-4, 1e-05, 1.5e-07, -9e-09, 1e-10, 1e15, 1e16, 1.5e+16,
                      9999999999999998.0, 1e22, 123456789.125, 5e-324, 2.2250738585072014e-308,
                      1.7976931348623157e308, 0, -1, 2**53 + 1, 2**63 - 1, -(2**63), 1e-05]


@functools.cache
def _ujson_numbers() -> Any:
    """The ujson module when installed and its text of NUMBERS_SELF_CHECK is str's, else None."""
    try:
        import ujson

        if "".join(map(str, NUMBERS_SELF_CHECK)) == _SHORT_NEGATIVE_EXPONENT.sub(
                r"e-0\1", ujson.dumps(NUMBERS_SELF_CHECK, allow_nan=False))[1:-1].replace(",", ""):
            return ujson
    except Exception:
        pass
    return None


def _append_text(value: Any, pieces: list[str]) -> None:
    """Append the text nbformat hashes for ``value`` to ``pieces``, depth first (``yield_everything``)."""
    if type(value) is str:
        pieces.append(value)
    elif isinstance(value, dict):
        for key in sorted(value):
            pieces.append(key)
            child = value[key]
            if type(child) is str:
                pieces.append(child)
            else:
                _append_text(child, pieces)
    elif isinstance(value, (list, tuple)):
        # A list of numbers or scalars (lines of text, a plot's numbers) in one C-speed join.
        kinds = set(map(type, value))
        if float in kinds and _NUMBER_TYPES.issuperset(kinds):
            pieces.append(_numbers_text(value))
        elif _SCALAR_TYPES.issuperset(kinds):
            pieces.append("".join(map(str, value)))
        else:
            for child in value:
                _append_text(child, pieces)
    else:
        pieces.append(str(value))


def digest_notebook(secret: bytes, nb: dict[str, Any], replying: bool = True) -> str:
    """The hex HMAC-SHA256 of a notebook model, as ``nbformat.sign.NotebookNotary.compute_signature``.

    The HMAC runs over every key (sorted) and value of the document, depth first, each as
    UTF-8 (other scalars as their ``str``), without ``metadata.signature``. ``replying``: the
    model is encoded into a reply next (a read), so its strings keep their UTF-8 for that (see
    :func:`_utf8`); a save passes False. Raises UnicodeEncodeError for a string with a lone
    surrogate (nbformat cannot sign those either), RecursionError for a document nested nearly as
    deep as the interpreter's recursion limit.
    """
    pieces: list[str] = []
    metadata = nb.get("metadata")
    for key in sorted(nb):
        pieces.append(key)
        if key == "metadata" and isinstance(metadata, dict) and "signature" in metadata:
            _append_text({name: value for name, value in metadata.items() if name != "signature"}, pieces)
        else:
            _append_text(nb[key], pieces)
    return hmac.new(secret, _utf8(pieces, nb, replying), hashlib.sha256).hexdigest()


def _utf8(pieces: list[str], nb: dict[str, Any], replying: bool) -> bytes:
    """The UTF-8 of the concatenation of ``pieces``, the strings of ``nb`` and their keys.

    ASCII text is joined and copied at once. Other text is encoded piece by piece (one wide
    joined text, often UCS-4, encodes slower). For a reply, from each string's own UTF-8 form,
    which CPython keeps with the string once it is made, and which orjson makes for every string
    it writes: the reply that orjson encodes next finds each form made already (a non-ASCII first
    read: 10.4 -> 6.5 ms for the trust digest and the reply, docs/performance.md section 18).
    Without a reply that orjson pass would be wasted (a non-ASCII save's digest: 6.1 -> 5.2 ms,
    section 19)."""
    text = "".join(pieces)
    if text.isascii():
        return text.encode("ascii")
    del text
    if replying:
        try:
            orjson.dumps(nb)
        except Exception:  # what orjson refuses (a lone surrogate, a large integer): encoded piece by piece alone
            pass
    return b"".join([piece.encode("utf8") for piece in pieces])


def signature_of(secret: bytes | None, nb: dict[str, Any], replying: bool = True) -> str | None:
    """:func:`digest_notebook`, or None when the notebook cannot have a signature: no key
    (``secret`` None), a string with a lone surrogate, nesting near the recursion limit."""
    if secret is None:
        return None
    try:
        return digest_notebook(secret, nb, replying)
    except (UnicodeEncodeError, RecursionError):
        return None


def take_cell_trust(nb: dict[str, Any]) -> bool:
    """Remove ``metadata.trusted`` from the code cells; True when every code cell is trusted.

    nbformat's ``check_cells`` rule (what Jupyter Server applies before signing a save): a
    code cell is trusted when its ``trusted`` flag is set, or when none of its outputs is an
    ``execute_result`` or ``display_data`` carrying data. Changes ``nb`` in place.
    """
    if not isinstance(nb.get("nbformat"), int) or nb["nbformat"] < 3:
        return False
    all_trusted = True
    for cell in _code_cells(nb):
        metadata = cell.get("metadata")
        if isinstance(metadata, dict) and metadata.pop("trusted", False):
            continue
        outputs = cell.get("outputs")
        for output in outputs if isinstance(outputs, list) else ():
            if isinstance(output, dict) and output.get("output_type") in RICH_OUTPUT_TYPES \
                    and not SAFE_OUTPUT_KEYS.issuperset(output):
                all_trusted = False
    return all_trusted


def mark_cells(nb: dict[str, Any], trusted: bool) -> None:
    """Set ``metadata.trusted`` of every code cell (what GET sends, as Jupyter Server does)."""
    for cell in _code_cells(nb):
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = {}
        cell["metadata"]["trusted"] = trusted


class NotebookNotary(LoggingConfigurable):
    """The secret and the signature database; named and configured as nbformat's class is
    (``c.NotebookNotary.db_file = ":memory:"`` applies to both). Thread-safe."""

    data_dir = Unicode(help="Folder of the secret and the signature database "
                       "(default: the Jupyter data folder).").tag(config=True)
    db_file = Unicode(help="The SQLite signature database (default: nbsignatures.db in data_dir; "
                      "':memory:' keeps signatures for this run only).").tag(config=True)
    secret_file = Unicode(help="The file of the signing key (default: notebook_secret in data_dir; "
                          "made with mode 0600 when missing).").tag(config=True)
    cache_size = Int(65535, help="Signatures kept; past it the least recently stored quarter goes, "
                     "as nbformat culls.").tag(config=True)

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return jupyter_data_dir()

    @default("db_file")
    def _default_db_file(self) -> str:
        return os.path.join(self.data_dir, "nbsignatures.db")

    @default("secret_file")
    def _default_secret_file(self) -> str:
        return os.path.join(self.data_dir, "notebook_secret")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self._secret: bytes | None = None
        self._db: sqlite3.Connection | None = None

    def _the_secret(self) -> bytes:
        if self._secret is None:
            try:
                with open(self.secret_file, "rb") as handle:
                    self._secret = handle.read()
            except FileNotFoundError:
                os.makedirs(os.path.dirname(self.secret_file) or ".", mode=0o700, exist_ok=True)
                secret = base64.encodebytes(os.urandom(1024))  # nbformat's form of the key
                try:
                    fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:  # another server made it a moment ago: use theirs
                    with open(self.secret_file, "rb") as handle:
                        self._secret = handle.read()
                    return self._secret
                with os.fdopen(fd, "wb") as handle:
                    handle.write(secret)
                    handle.flush()
                    os.fsync(handle.fileno())
                self.log.info("Wrote the notebook-signing key to %s", self.secret_file)
                self._secret = secret
        return self._secret

    def _database(self) -> sqlite3.Connection:
        if self._db is None:
            if self.db_file != ":memory:":
                os.makedirs(os.path.dirname(self.db_file) or ".", mode=0o700, exist_ok=True)
            db = sqlite3.connect(self.db_file, timeout=10, check_same_thread=False)
            # No fsync per signature (30 ms of every notebook save on a slow disk): a signature an
            # OS crash loses only leaves that notebook untrusted, the safe direction.
            db.execute("PRAGMA synchronous = OFF")
            db.execute("CREATE TABLE IF NOT EXISTS nbsignatures (id integer PRIMARY KEY AUTOINCREMENT, "
                       "algorithm text, signature text, path text, last_seen timestamp)")
            db.execute("CREATE INDEX IF NOT EXISTS algosig ON nbsignatures(algorithm, signature)")
            db.commit()
            self._db = db
        return self._db

    def secret(self) -> bytes | None:
        """The signing key (read, or made, once); None when the data folder cannot be read or
        written (logged): notebooks are then untrusted."""
        try:
            with self._lock:
                return self._the_secret()
        except OSError as exc:
            self.log.warning("Notebooks are untrusted: the signing key cannot be read or made (%s)", exc)
            return None

    def digest(self, nb: dict[str, Any], replying: bool = True) -> str | None:
        """The notebook's signature (:func:`signature_of` with :meth:`secret`)."""
        return signature_of(self.secret(), nb, replying)

    def is_signed(self, digest: str | None) -> bool:
        """Whether ``digest`` is in the database (a read only: ``last_seen`` is updated on signing).

        False, logged, when the database cannot be read: trust fails closed, reads still work.
        """
        if digest is None:
            return False
        try:
            with self._lock:
                found = self._database().execute(
                    "SELECT id FROM nbsignatures WHERE algorithm = ? AND signature = ?",
                    (ALGORITHM, digest)).fetchone()
        except (sqlite3.Error, OSError) as exc:
            self.log.warning("Notebook signatures cannot be read from %s: %s", self.db_file, exc)
            return False
        return found is not None

    def sign(self, digest: str | None) -> bool:
        """Store ``digest`` as trusted, culling the oldest quarter past ``cache_size``; True when stored.

        A database that cannot be written is logged, not raised: the save it belongs to stands.
        """
        if digest is None:
            return False
        try:
            self._store(digest)
        except (sqlite3.Error, OSError) as exc:
            self.log.warning("A notebook signature cannot be stored in %s: %s", self.db_file, exc)
            return False
        return True

    def _store(self, digest: str) -> None:
        now = datetime.now(tz=timezone.utc).isoformat(sep=" ")
        with self._lock:
            db = self._database()
            updated = db.execute("UPDATE nbsignatures SET last_seen = ? WHERE algorithm = ? AND signature = ?",
                                 (now, ALGORITHM, digest)).rowcount
            if not updated:
                db.execute("INSERT INTO nbsignatures (algorithm, signature, last_seen) VALUES (?, ?, ?)",
                           (ALGORITHM, digest, now))
            db.commit()
            (count,) = db.execute("SELECT Count(*) FROM nbsignatures").fetchone()
            if count > self.cache_size:
                db.execute("DELETE FROM nbsignatures WHERE id IN (SELECT id FROM nbsignatures "
                           "ORDER BY last_seen DESC LIMIT -1 OFFSET ?)", (max(int(0.75 * self.cache_size), 1),))
                db.commit()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
