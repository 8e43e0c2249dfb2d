"""Strict JSON in and out: the one parser of JSON that clients send, and the checks on JSON sent back.

Python's ``json`` module reads and writes more than JSON (RFC 8259): ``NaN``, ``Infinity`` and
``-Infinity``, and numbers such as ``1e400`` that overflow to infinity, which it writes back as
``Infinity``; browsers' ``JSON.parse`` refuses all of them, so a notebook saved with one cannot be
opened again. Its C parser also recurses once per nesting level and fails with ``RecursionError``
about a thousand levels down. Every JSON document a client sends (request bodies, the ``/api/me``
``permissions`` parameter, kernel websocket frames) is parsed by :func:`parse_client_json`, which
takes only UTF-8, finite numbers and at most :data:`MAX_DEPTH` levels of nesting, and raises
:class:`JSONRefused` with a message that names the problem (and where it is, as a JSON pointer).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import sys
from typing import Any, Iterator

#: The deepest nesting of arrays and objects taken from a client. nbformat's v4 schema nests a
#: notebook 7 levels deep before free-form JSON (metadata, ``application/json`` outputs, widget
#: state); real documents stay well under 50 levels. 512 leaves room for any of them while staying
#: far from the interpreter's recursion limit (1000 frames), which the parser, the encoders and the
#: validator all reach in recursive code.
MAX_DEPTH = 512

_NON_FINITE_CONSTANTS = ("NaN", "Infinity", "-Infinity")

log = logging.getLogger("nbserver")

# An escaped UTF-16 surrogate, a pair's half or a lone one. A lone one makes a string that no
# UTF-8 file or reply can carry.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_HIGH_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}")
_LOW_SURROGATE_ESCAPE = re.compile(r"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONRefused(ValueError):
    """A JSON document the server does not take; ``str(exc)`` is safe to show to the client."""


class _NonFinite:
    """Marks, on the slow path that looks for it, where a non-finite number was in a document."""

    def __init__(self, literal: str) -> None:
        self.literal = literal


def _refuse_constant(literal: str) -> Any:
    raise JSONRefused(literal)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise JSONRefused(literal)
    return value


def _mark_constant(literal: str) -> _NonFinite:
    return _NonFinite(literal)


def _mark_float(literal: str) -> float | _NonFinite:
    value = float(literal)
    return _NonFinite(literal) if math.isinf(value) else value


def _pointer_token(key: str | int) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _walk(value: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """(JSON pointer, value) of every value in document order; only on slow paths."""
    stack: list[tuple[str, Any]] = [(pointer, value)]
    while stack:
        where, item = stack.pop()
        yield where, item
        if isinstance(item, dict):
            children: list[tuple[str | int, Any]] = list(item.items())
        elif isinstance(item, (list, tuple)):
            children = list(enumerate(item))
        else:
            continue
        stack.extend((f"{where}/{_pointer_token(key)}", child) for key, child in reversed(children))


#: Past this many items a container's item types are looked at in one C-speed pass first.
_LONG = 16


def _nesting_and_infinity(value: Any, limit: int) -> tuple[bool, bool]:
    """(whether arrays and objects in ``value`` nest more than ``limit`` levels, whether it holds
    an infinite float); the walk stops at the first container too deep."""
    if type(value) is float:
        return False, math.isinf(value)
    if type(value) is not dict and type(value) is not list:
        return False, False
    infinite = False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True, infinite
        children = item.values() if type(item) is dict else item
        if len(children) > _LONG:
            # The kinds of a long list's items at C speed: most (lines, numbers) hold no containers.
            kinds = set(map(type, children))
            if float in kinds and not infinite:
                infinite = math.inf in children or -math.inf in children
            if dict not in kinds and list not in kinds:
                continue
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif kind is float and math.isinf(child):
                infinite = True
    return False, infinite


def deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects in ``value`` nest more than ``limit`` levels (a scalar is level 0)."""
    return _nesting_and_infinity(value, limit)[0]


def _non_finite_message(text: str) -> str:
    """Where the first non-finite number of ``text`` is, worded for the client (slow path)."""
    marked = json.loads(text, parse_constant=_mark_constant, parse_float=_mark_float)
    for pointer, item in _walk(marked):
        if isinstance(item, _NonFinite):
            return non_finite_message(item.literal, pointer)
    return "it holds a number that is not finite (NaN or infinity)"


def non_finite_message(literal: str, pointer: str) -> str:
    """The public explanation of a non-finite number ``literal`` found at JSON pointer ``pointer``."""
    where = f" at {pointer}" if pointer else ""
    if literal in _NON_FINITE_CONSTANTS:
        return f"{literal}{where} is not a JSON value (JSON numbers must be finite; send null instead)"
    return f"the number {literal[:40]}{where} is too large for a 64-bit float (it would become infinity)"


def parse_client_json(raw: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON a client sent: UTF-8, finite numbers only, at most MAX_DEPTH levels deep.

    Raises JSONRefused saying what is wrong: not UTF-8, not JSON (with the parser's position),
    ``NaN``/``Infinity``/an overflowing number (with its JSON pointer), nested too deeply, or a
    string with an unpaired surrogate escape (``"\\ud800"``, which no UTF-8 file can hold).
    Rules: RFC 8259 sections 6 (numbers; no NaN or Infinity), 8.1 (UTF-8) and 8.2 (surrogates).
    """
    value = parsed_exactly(raw)
    if value is not UNPARSED and not deeper_than(value, MAX_DEPTH):
        return value
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = str(raw, "utf-8")  # no copy of the bytes first
        except UnicodeDecodeError as exc:
            raise JSONRefused(f"it is not UTF-8 text (byte {exc.start})") from None
    # The C parser with no per-float callback (a Python call per float was most of the parse of a
    # notebook of plots); a number that overflowed to infinity is found in the walk that bounds the
    # nesting, and the slow parse below then names it.
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
        too_deep, infinite = _nesting_and_infinity(value, MAX_DEPTH)
        if infinite or too_deep:  # a non-finite number is reported first, wherever it is
            json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except JSONRefused:
        raise JSONRefused(_non_finite_message(text)) from None
    except RecursionError:
        raise JSONRefused(f"it nests arrays and objects deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # json.JSONDecodeError, and ints too long to convert
        if isinstance(exc, json.JSONDecodeError):
            raise JSONRefused(str(exc)) from None
        raise JSONRefused(f"it holds an integer of more than {sys.get_int_max_str_digits()} digits") from None
    if infinite:
        raise JSONRefused(_non_finite_message(text))
    if too_deep:
        raise JSONRefused(f"it nests arrays and objects deeper than {MAX_DEPTH} levels")
    if _has_lone_surrogate_escape(text):
        pointer = _first_lone_surrogate(value)
        if pointer is not None:
            raise JSONRefused(f"a string at {pointer or '/'} holds an unpaired UTF-16 surrogate escape, "
                              "which UTF-8 cannot encode")
    return value


#: What :func:`parsed_exactly` returns when json's parser is to decide (JSON's null is None).
UNPARSED: Any = object()
#: Documents msgspec and json could read differently; checked at first use (values and their types).
EXACT_PARSE_CHECK = (b'{"floats": [0.1, 1e-05, 1E5, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, '
                     b'0.30000000000000004, 1.00000000000000011102230246251565404236316680908203125, 123456789012345678e-8, '
                     b'1e-400, 2.5e-324], '
                     b'"ints": [0, -0, 9223372036854775807, -9223372036854775808, 18446744073709551615, '
                     b'18446744073709551616, -123456789012345678901234567890], '
                     b'"strings": ["\\u00e9\\ud83d\\ude00\\u0000\\/\\"", "\xc3\xa9\xf0\x9f\x98\x80", "", "\x7f\\u2028"], '
                     b'"dup": {"a": 1, "b": 2, "a": 3}, "constants": [true, false, null], "empty": [[], {}]}')


@functools.cache
def _exact_decoder() -> Any:
    """msgspec's JSON decoder when installed and it reads EXACT_PARSE_CHECK as json does, else None."""
    try:
        import msgspec

        decoder = msgspec.json.Decoder()
        fast, exact = decoder.decode(EXACT_PARSE_CHECK), json.loads(EXACT_PARSE_CHECK)
        if fast == exact and repr(fast) == repr(exact):
            return decoder
    except Exception:
        pass
    log.warning("msgspec is missing or reads JSON unlike json; JSON is parsed by json alone")
    return None


def parsed_exactly(raw: bytes | bytearray | memoryview | str) -> Any:
    """``raw`` parsed by msgspec when its value is certainly json's, else :data:`UNPARSED` (json's
    parser is then to decide, and to word any refusal).

    msgspec reads JSON 1.5 to 5 times faster than json (long strings, non-ASCII text, floats; see
    docs/performance.md section 18), straight from UTF-8 bytes, and refuses everything json reads
    differently or that json's callers must look at: ``NaN`` and ``Infinity``, a number overflowing
    a double or an integer of thousands of digits, a lone surrogate escape, bytes that are not
    UTF-8, a byte order mark, nesting past the interpreter's recursion limit. It reads integers of
    any size exactly and floats to the same double (tests compare random numbers with json), and a
    repeated key keeps its last value, as json does. Blocking: call it off the event loop for large input.
    """
    decoder = _exact_decoder()
    if decoder is None:
        return UNPARSED
    try:
        return decoder.decode(raw)
    except (ValueError, RecursionError):  # msgspec.DecodeError (and its ValidationError) is a ValueError
        return UNPARSED


def _is_escape(text: str, index: int) -> bool:
    """Whether the backslash at ``index`` starts an escape (it is not itself escaped)."""
    backslashes = 0
    while index - backslashes - 1 >= 0 and text[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 0


def _has_lone_surrogate_escape(text: str) -> bool:
    """Whether JSON ``text`` escapes a surrogate that is not half of a high-low pair.

    Looks only at the surrogate escapes themselves (emoji from ``ensure_ascii`` writers: few).
    """
    for match in _SURROGATE_ESCAPE.finditer(text):
        start, end = match.span()
        if not _is_escape(text, start):
            continue
        if _HIGH_SURROGATE_ESCAPE.fullmatch(match.group()):
            if not _LOW_SURROGATE_ESCAPE.match(text, end):
                return True
        elif not (start >= 6 and _HIGH_SURROGATE_ESCAPE.fullmatch(text, start - 6, start)
                  and _is_escape(text, start - 6)):
            return True
    return False


def _first_lone_surrogate(value: Any) -> str | None:
    for pointer, item in _walk(value):
        strings = [item] if isinstance(item, str) else (list(item) if isinstance(item, dict) else [])
        if any(_SURROGATE.search(string) for string in strings):
            return pointer
    return None


def first_non_finite(value: Any) -> tuple[str, float] | None:
    """(JSON pointer, number) of the first NaN or infinite float in ``value``, else None (slow path)."""
    for pointer, item in _walk(value):
        if isinstance(item, float) and not math.isfinite(item):
            return pointer, item
    return None


def _float_literal(number: float) -> str:
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


def describe_non_finite(value: Any) -> str:
    """The public explanation of why ``value`` cannot be written as JSON (it holds NaN or infinity)."""
    found = first_non_finite(value)
    if found is None:
        return "it holds a number that is not finite (NaN or infinity)"
    pointer, number = found
    return non_finite_message(_float_literal(number), pointer)


def replace_non_finite(value: Any) -> list[str]:
    """Replace every NaN and infinity in ``value`` by None, in place; return their JSON pointers.

    For documents stored with such numbers (a notebook another tool wrote), so that they can
    still be sent as strict JSON, with a note of what was changed.
    """
    replaced: list[str] = []
    # (pointer, container, key) in document order: children are pushed last-first.
    stack: list[tuple[str, Any, Any]] = [("", None, value)]
    while stack:
        pointer, container, key = stack.pop()
        item = value if container is None else container[key]
        if isinstance(item, float) and not math.isfinite(item):
            if container is None:
                raise ValueError("a bare non-finite number cannot be replaced in place")
            container[key] = None
            replaced.append(pointer)
        elif isinstance(item, dict):
            stack.extend((f"{pointer}/{_pointer_token(k)}", item, k) for k in reversed(list(item)))
        elif isinstance(item, list):
            stack.extend((f"{pointer}/{index}", item, index) for index in range(len(item) - 1, -1, -1))
    return replaced


def dumps_for_client(value: Any) -> str:
    """``json.dumps(value)`` as strict JSON: a NaN or infinity (from a file on disk, say) goes out as null.

    The C encoder's fast path when there is none; otherwise a copy is cleaned and a warning logged.
    """
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        cleaned = json.loads(json.dumps(value))
        replaced = replace_non_finite(cleaned)
        if not replaced:
            raise
        log.warning("Sent %d non-finite numbers as null (first at %s)", len(replaced), replaced[0])
        return json.dumps(cleaned, allow_nan=False)


def dumps_strict(value: Any, **options: Any) -> str:
    """``json.dumps`` that writes only strict JSON: JSONRefused (naming the value) for NaN or infinity."""
    try:
        return json.dumps(value, allow_nan=False, **options)
    except ValueError as exc:
        if first_non_finite(value) is None:
            raise
        raise JSONRefused(describe_non_finite(value)) from exc
