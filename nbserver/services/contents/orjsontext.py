"""orjson, where it writes what nbserver must write: GET replies, and notebook files without floats.

orjson encodes strings about ten times faster than ujson and writes UTF-8 directly (ujson is slow
at that), which is most of a reply or a file of large outputs (base64 images, non-ASCII text).
It differs from json in ways that rule it out elsewhere (docs/performance.md section 8): it
writes NaN and infinity as null without a word, refuses nesting past 254 levels, integers past
64 bits and lone surrogates, writes floats with other digits than json (``0.00001`` for
``1e-05``) and indents only by two. So:

* a reply (:func:`reply_bytes`) is written by orjson only when a walk finds no infinity and no
  nesting past :data:`MAX_ORJSON_DEPTH` (what it refuses otherwise raises, and the caller falls
  back); the text is UTF-8, not ASCII-escaped: the same values, as JSON's RFC 8259 allows;
* a file (:func:`notebook_file_bytes`) only for documents of plain types without floats, with
  the indentation of two spaces per level halved to nbformat's one. In the indented layout no
  string holds a raw newline (it is escaped), so every space right after a newline is
  indentation, and only there.

Both are used only when orjson is installed and a self-check at first use gives json's values
(replies) and json's very bytes (files).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from typing import Any

from nbserver.jsonio import _nesting_and_infinity

log = logging.getLogger("nbserver")

#: Deepest nesting orjson is given (it refuses more than 254 levels).
MAX_ORJSON_DEPTH = 250

#: Replies of notebooks with more cells are left to ujson (see _many_cells).
REPLY_MAX_CELLS = 1000

#: Content that json and orjson could write differently; floats only in the reply check.
SELF_CHECK: dict[str, Any] = {
    "strings": ["", "plain", "a/b</script>", 'quote " backslash \\', "\u00e9\u4e2d\U0001f600\U0010ffff",
                "\u2028\u2029", "".join(chr(code) for code in range(32)) + "\x7f\x80\x9f\ufeff", " lead",
                "two\nlines\n  indented", "  "],
    "numbers": [0, -1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63)],
    "constants": [True, False, None],
    "empty": [[], {}, [[]], [{}], {"a": {}}, {"b": []}, ""],
    "keys": {"b": 1, "a": 2, "B": 3, "": 4, "\U0001f600": 5, "\ue000": 6, "\uffff": 7, "é": 8, " ": 9},
    "nested": {"x": [1, [2, [3, {"y": "z"}]]], "lines": ["one\n", "two\n", "three"]},
}


def _file_text_by_json(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": "))


_LEADING_SPACES = re.compile(rb" *")
#: Below this many bytes per line on average, halving the indentation line by line in Python
#: costs more than orjson saves over ujson (5,000 small cells: 14 bytes a line).
MIN_BYTES_PER_LINE = 256


def _halve_indentation(text: bytes, max_lines: int | None = None) -> bytes | None:
    """orjson's indented text (two spaces per level) with one space per level, as nbformat writes;
    None when it has more than ``max_lines`` line breaks.

    One copy of the text: the pieces between indentations are views of it, joined once. Line
    breaks are found by ``bytes.find`` (memchr): a scan of the whole text by a regular expression or
    ``count`` took 2 ms each for the 3 MB of a notebook of images, most of its save's own work.
    """
    view = memoryview(text)
    pieces: list[bytes | memoryview] = []
    done = 0
    lines = 0
    newline = text.find(b"\n")
    while newline >= 0:
        lines += 1
        if max_lines is not None and lines > max_lines:
            return None
        start = newline + 1
        end = _LEADING_SPACES.match(text, start).end()  # type: ignore[union-attr]  # " *" always matches
        if end > start:
            pieces.append(view[done:start])
            pieces.append(_SPACES[: (end - start) // 2])
            done = end
        newline = text.find(b"\n", end)
    pieces.append(view[done:])
    return b"".join(pieces)


_SPACES = b" " * 1024


@functools.cache
def usable_orjson() -> Any:
    """The orjson module when it is installed and passes the self-check, else None."""
    try:
        import orjson
    except ImportError:
        return None
    try:
        check = dict(SELF_CHECK, floats=[0.0, -0.0, 0.1, 1 / 3, 1e-05, 1e22, 5e-324, 1.7976931348623157e308])
        file_bytes = _halve_indentation(orjson.dumps(SELF_CHECK, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        if file_bytes == _file_text_by_json(SELF_CHECK).encode("utf-8") and json.loads(orjson.dumps(check)) == check:
            return orjson
    except Exception:
        pass
    log.warning("orjson %s writes JSON unlike json; it is not used", getattr(orjson, "__version__", "?"))
    return None


def _many_cells(model: Any) -> bool:
    """Whether a notebook reply has more than REPLY_MAX_CELLS cells: then the walk that looks for
    infinities costs more than orjson saves over ujson (5,000 small cells: 17 against 8-15 ms)."""
    content = model.get("content") if isinstance(model, dict) else None
    cells = content.get("cells") if isinstance(content, dict) else None
    return isinstance(cells, list) and len(cells) > REPLY_MAX_CELLS


def reply_bytes(model: Any) -> bytes | None:
    """``model`` as compact UTF-8 JSON by orjson, or None when orjson is not for it (not installed,
    an infinity to report, nesting too deep, a notebook of many small cells). Raises orjson.JSONEncodeError (a TypeError) for
    what it refuses besides (integers past 64 bits, lone surrogates)."""
    orjson = usable_orjson()
    if orjson is None or _many_cells(model):
        return None
    too_deep, infinite = _nesting_and_infinity(model, MAX_ORJSON_DEPTH)
    if too_deep or infinite:
        return None
    return bytes(orjson.dumps(model))


def notebook_file_bytes(disk: Any) -> bytes | None:
    """The file's bytes (without the final newline) for a notebook in its on-disk form holding only
    plain types and no float, as nbformat lays it out; None when orjson is not usable or the text has
    many short lines (see MIN_BYTES_PER_LINE). Raises what
    orjson refuses (too deep, integers past 64 bits, lone surrogates)."""
    orjson = usable_orjson()
    if orjson is None:
        return None
    text = orjson.dumps(disk, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    return _halve_indentation(text, max_lines=len(text) // MIN_BYTES_PER_LINE)
