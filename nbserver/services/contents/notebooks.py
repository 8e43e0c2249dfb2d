"""Reading and writing notebook documents: bytes on disk <-> the v4 model on the wire.

On disk, multi-line strings are stored as lists of lines (friendlier to version
control); on the wire they are whole strings. v4 documents take a fast path over
plain dicts that gives the same bytes as nbformat's writer; older versions go
through nbformat's converters, imported only then (nbformat takes a second to import).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from typing import Any, NamedTuple

from nbserver.errors import InvalidInput
from nbserver.jsonio import UNPARSED, JSONRefused, dumps_strict, parsed_exactly, replace_non_finite
from nbserver.services.contents.orjsontext import notebook_file_bytes
from nbserver.services.contents.validation import validate_notebook

log = logging.getLogger("nbserver")

CURRENT_MAJOR = 4
CURRENT_MINOR = 5

# Mimetypes outside text/* whose values are still stored as lines, as nbformat does.
SPLIT_NON_TEXT_MIMES = frozenset({"application/javascript", "image/svg+xml"})
TRANSIENT_NOTEBOOK_METADATA = ("orig_nbformat", "orig_nbformat_minor", "signature")


def _is_json_mime(mime: str) -> bool:
    return mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))


def validation_message(nb: Any) -> str | None:
    """None for a valid notebook, else a short description of what is wrong."""
    return validate_notebook(nb).message


# -- disk -> wire --------------------------------------------------------------------------

def _join_bundle(bundle: Any) -> None:
    if isinstance(bundle, dict):
        for key, value in bundle.items():
            if isinstance(value, list) and not _is_json_mime(key) and all(isinstance(v, str) for v in value):
                bundle[key] = "".join(value)


def _join_lines(nb: dict[str, Any]) -> dict[str, Any]:
    """Turn lists of lines back into strings and drop transient fields, in place."""
    metadata = nb.get("metadata")
    if isinstance(metadata, dict):
        for key in TRANSIENT_NOTEBOOK_METADATA:
            metadata.pop(key, None)
    cells = nb.get("cells")
    for cell in cells if isinstance(cells, list) else ():
        if not isinstance(cell, dict):
            continue
        if isinstance(cell.get("source"), list):
            cell["source"] = "".join(cell["source"])
        if isinstance(cell.get("metadata"), dict):
            cell["metadata"].pop("trusted", None)
        attachments = cell.get("attachments")
        for attachment in attachments.values() if isinstance(attachments, dict) else ():
            _join_bundle(attachment)
        outputs = cell.get("outputs")
        if cell.get("cell_type") == "code" and isinstance(outputs, list):
            for output in outputs:
                if not isinstance(output, dict):
                    continue
                if output.get("output_type") in ("execute_result", "display_data"):
                    _join_bundle(output.get("data"))
                elif isinstance(output.get("text"), list):
                    output["text"] = "".join(output["text"])
    return nb


class LoadedNotebook(NamedTuple):
    #: The v4 model (not validated).
    nb: Any
    #: What was changed to send the file as strict JSON (NaN or infinities as null), else None.
    note: str | None


def _non_finite_note(replaced: list[str]) -> str:
    more = f" and {len(replaced) - 1} more" if len(replaced) > 1 else ""
    return (f"The file holds numbers JSON cannot carry (NaN or infinity, at {replaced[0]}{more}); "
            "they are shown as null, and saving the notebook writes null.")


def read_notebook(raw: bytes | bytearray) -> LoadedNotebook:
    """Parse a notebook file's bytes into the v4 model, without validating it.

    ``NaN``, ``Infinity`` and ``-Infinity``, which other tools may have written, become null
    with a note, so the model can be sent to browsers as strict JSON (a 1e400 that overflows
    is made null when the model is sent, see ``dumps_for_client``). InvalidInput when the
    file cannot be read as a notebook (nested deeper than the parser can go, too).
    """
    data = parsed_exactly(raw)
    if data is not UNPARSED:
        return LoadedNotebook(_upgraded(data, raw), None)
    found_constants: list[str] = []

    def constant(literal: str) -> float:
        found_constants.append(literal)
        return float(literal)

    try:
        data = json.loads(raw, parse_constant=constant)
    except RecursionError:
        raise InvalidInput("Unreadable notebook: it nests arrays and objects too deeply.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Unreadable notebook: {exc}") from None
    note = _non_finite_note(replace_non_finite(data)) if found_constants else None
    return LoadedNotebook(_upgraded(data, raw), note)


def load_notebook(raw: bytes) -> Any:
    """Parse a notebook file's bytes into the v4 model, without validating it (see read_notebook)."""
    return read_notebook(raw).nb


def _upgraded(data: Any, raw: bytes | bytearray) -> Any:
    """A parsed notebook document as the v4 model; older versions go through nbformat."""
    if not isinstance(data, dict):
        raise InvalidInput("Unreadable notebook: the document is not a JSON object.")
    try:
        if data.get("nbformat") == CURRENT_MAJOR:
            nb: Any = _join_lines(data)
        else:
            import nbformat  # older versions are rare: pay for the import only then

            nb = nbformat.reads(raw.decode("utf-8"), as_version=CURRENT_MAJOR)
    except Exception as exc:  # nbformat raises many kinds on malformed documents
        raise InvalidInput(f"Unreadable notebook: {type(exc).__name__}: {exc}") from None
    return nb


def parse_notebook(raw: bytes) -> tuple[Any, str | None]:
    """Parse a notebook file's bytes into the v4 model; return it with a validation message."""
    nb = load_notebook(raw)
    return nb, validation_message(nb)


# -- wire -> disk --------------------------------------------------------------------------

def _split_bundle(bundle: Any) -> Any:
    if not isinstance(bundle, dict):
        return bundle
    return {
        key: value.splitlines(True)
        if isinstance(value, str) and (key.startswith("text/") or key in SPLIT_NON_TEXT_MIMES) else value
        for key, value in bundle.items()
    }


def _split_output(output: Any) -> Any:
    if not isinstance(output, dict):
        return output
    output = dict(output)
    if output.get("output_type") in ("execute_result", "display_data"):
        output["data"] = _split_bundle(output.get("data", {}))
    elif output.get("output_type") == "stream" and isinstance(output.get("text"), str):
        output["text"] = output["text"].splitlines(True)
    return output


def _split_cell(cell: dict[str, Any]) -> dict[str, Any]:
    cell = dict(cell)
    if isinstance(cell.get("source"), str):
        cell["source"] = cell["source"].splitlines(True)
    if isinstance(cell.get("metadata"), dict) and "trusted" in cell["metadata"]:
        cell["metadata"] = {k: v for k, v in cell["metadata"].items() if k != "trusted"}
    if isinstance(cell.get("attachments"), dict):
        cell["attachments"] = {name: _split_bundle(b) for name, b in cell["attachments"].items()}
    if cell.get("cell_type") == "code" and isinstance(cell.get("outputs"), list):
        cell["outputs"] = [_split_output(output) for output in cell["outputs"]]
    return cell


def _has_transient_fields(nb: dict[str, Any]) -> bool:
    """Whether writing drops fields of this model (so reading it back gives a different model)."""
    metadata = nb.get("metadata")
    if isinstance(metadata, dict) and any(key in metadata for key in TRANSIENT_NOTEBOOK_METADATA):
        return True
    return any(isinstance(cell, dict) and isinstance(cell.get("metadata"), dict) and "trusted" in cell["metadata"]
               for cell in nb["cells"])


def _disk_form(nb: dict[str, Any]) -> dict[str, Any]:
    """A copy of a v4 notebook in its on-disk form; the input is left untouched."""
    disk = dict(nb)
    if isinstance(disk.get("metadata"), dict):
        disk["metadata"] = {k: v for k, v in disk["metadata"].items() if k not in TRANSIENT_NOTEBOOK_METADATA}
    disk["cells"] = [_split_cell(cell) for cell in nb["cells"]]
    return disk


# -- the on-disk text ---------------------------------------------------------------------
# nbformat's layout (indent=1, sorted keys) makes json.dumps use its pure-Python encoder,
# five to twenty times slower than ujson. ujson writes the very same bytes for documents of
# plain types, except one thing about floats: a negative exponent of one digit, which json pads
# to two (1e-05, ujson 1e-5). Its output is patched there (see _pad_exponents). It is used only
# when installed, and only when a check of awkward content at first use gives identical output.

def _json_text(value: Any) -> str:
    # Strict JSON: JSONRefused for NaN or infinity, which browsers could not read back.
    return dumps_strict(value, indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": "))


# In the indented layout every value that ends a line is followed by "\n" or ",\n", and no string
# holds a raw newline (it is written as the escape \n). A line ends with a string (its closing
# quote), a number, true, false, null or a bracket, so "e-" and one digit before "\n" or ",\n" can
# only end a number: the exponent json writes with two digits. (The literal "e-" at the start
# lets the regular expression engine skip ahead with a fast search.)
_SHORT_NEGATIVE_EXPONENT = re.compile(r"e-([1-9])(?=,?\n)")


def _pad_exponents(text: str) -> str:
    """ujson's indented text with each one-digit negative exponent padded as json pads it (e-5 -> e-05)."""
    return _SHORT_NEGATIVE_EXPONENT.sub(r"e-0\1", text)


def _ujson_text(ujson: Any, value: Any, has_floats: bool = True, ascii_likely: bool = True) -> str:
    # ujson escapes to ASCII three times faster than it writes UTF-8. Without a "\u" in the result,
    # no string needed an escape of that kind, so the text is what ensure_ascii=False writes too
    # (control characters are written as \u00XX either way).
    text = "\\u"
    if ascii_likely:
        text = str(ujson.dumps(value, indent=1, sort_keys=True, ensure_ascii=True, escape_forward_slashes=False,
                               allow_nan=False))
    if "\\u" in text:
        text = str(ujson.dumps(value, indent=1, sort_keys=True, ensure_ascii=False, escape_forward_slashes=False,
                               allow_nan=False))
    return _pad_exponents(text) if has_floats else text


#: The types a parsed JSON document is made of; ujson writes them as json does.
_PLAIN_TYPES = frozenset({dict, list, str, int, float, bool, type(None)})
_STRING_TYPE = frozenset({str})


def _plain_json_types(value: Any) -> tuple[bool, bool]:
    """(whether ``value`` holds only dicts with string keys, lists, strings, numbers, bools and None;
    whether it holds a float)."""
    floats = False
    containers = [value]
    while containers:
        item = containers.pop()
        if type(item) is dict:
            if not _STRING_TYPE.issuperset(map(type, item)):
                return False, floats
            children: Any = item.values()
        elif type(item) is list:
            children = item
        else:
            return False, floats
        if len(children) > 16:
            # The kinds of a long list's items at C speed: most (lines, numbers) hold no containers.
            kinds = set(map(type, children))
            if not _PLAIN_TYPES.issuperset(kinds):
                return False, floats
            floats = floats or float in kinds
            if dict not in kinds and list not in kinds:
                continue
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                containers.append(child)
            elif kind is float:
                floats = True
            elif kind is not str and kind is not int and kind is not bool and child is not None:
                return False, floats
    return True, floats


#: Content json and ujson have written differently in some version or other; checked at first use.
UJSON_SELF_CHECK = {
    "strings": ["", "plain", "a/b</script>", 'quote " backslash \\', "\u00e9\u4e2d\U0001f600\U0010ffff",
                "\u2028\u2029", "".join(chr(code) for code in range(32)) + "\x7f\x80\x9f\ufeff"],
    "numbers": [0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, -(10**30)],
    "floats": [0.0, -0.0, 0.1, 1 / 3, -2.5, 1e-4, 1e-05, 1.5e-07, -9e-09, 1e-10, 1e15, 1e16, 1.5e+16,
               9999999999999998.0, 1e22, 123456789.125, 5e-324, 2.2250738585072014e-308,
               1.7976931348623157e308, {"last": 1e-05}, [1e-06]],
    "constants": [True, False, None],
    "empty": [[], {}, [[]], [{}], {"a": {}}, {"b": []}],
    "keys": {"b": 1, "a": 2, "B": 3, "": 4, "\U0001f600": 5, "\ue000": 6, "\uffff": 7, "é": 8},
    "nested": {"x": [1, [2, [3, {"y": "z"}]]], "lines": ["one\n", "two\n", "three"]},
}


def ujson_reply_text(ujson: Any, value: Any) -> str:
    """``value`` as compact ASCII JSON by ujson: the same values as ``json.dumps`` writes, not the
    same text (no spaces; 1e-5 for 1e-05). OverflowError for NaN, infinity or nesting past ujson's
    limit, UnicodeEncodeError for a lone surrogate, TypeError for what is not JSON."""
    return str(ujson.dumps(value, ensure_ascii=True, escape_forward_slashes=False, allow_nan=False))


@functools.cache
def usable_ujson() -> Any:
    """The ujson module when it is installed and writes the self-check exactly as json does (the
    indented file layout byte for byte, compact replies value for value), else None."""
    try:
        import ujson
    except ImportError:
        return None
    try:
        compact = ujson_reply_text(ujson, UJSON_SELF_CHECK)
        if _ujson_text(ujson, UJSON_SELF_CHECK) == _json_text(UJSON_SELF_CHECK) and compact.isascii() \
                and json.loads(compact) == UJSON_SELF_CHECK:
            return ujson
    except Exception:
        pass
    log.warning("ujson %s writes JSON unlike json; notebooks are written with json",
                getattr(ujson, "__version__", "?"))
    return None


def _msgspec_text(msgspec: Any, value: Any) -> bytes:
    return bytes(msgspec.json.format(msgspec.json.encode(value, order="sorted"), indent=1))


@functools.cache
def usable_msgspec() -> Any:
    """The msgspec module when it is installed and writes the self-check, all but its floats (which
    msgspec writes in another form, 1e-5 for 1e-05), byte for byte as json does, else None."""
    try:
        import msgspec

        check = {key: value for key, value in UJSON_SELF_CHECK.items() if key != "floats"}
        if _msgspec_text(msgspec, check) == _json_text(check).encode("utf-8"):
            return msgspec
    except Exception:
        pass
    log.warning("msgspec is missing or writes JSON unlike json; notebooks are written with ujson or json")
    return None


def _sources_ascii(nb: dict[str, Any]) -> bool:
    """Whether the cells' sources and stream outputs are ASCII: a guess (at C speed per string) of
    whether the whole text is, to skip writing it as ASCII first when it cannot be."""
    for cell in nb.get("cells", ()):
        if not isinstance(cell, dict):
            continue
        source = cell.get("source")
        if isinstance(source, str) and not source.isascii():
            return False
        for output in cell.get("outputs", ()) if isinstance(cell.get("outputs"), list) else ():
            text = output.get("text") if isinstance(output, dict) else None
            if isinstance(text, str) and not text.isascii():
                return False
    return True


#: orjson writes a file only when its outputs hold at least this many characters of strings that
#: stay whole on disk (images, JSON): where it is fast; its indentation has to be halved line by line.
ORJSON_MIN_UNSPLIT_CHARS = 1 << 16


def _unsplit_output_chars(nb: dict[str, Any]) -> int:
    """Characters of the output strings that the file keeps whole (base64 images and the like)."""
    total = 0
    for cell in nb.get("cells", ()):
        outputs = cell.get("outputs") if isinstance(cell, dict) else None
        for output in outputs if isinstance(outputs, list) else ():
            data = output.get("data") if isinstance(output, dict) else None
            for key, value in data.items() if isinstance(data, dict) else ():
                if isinstance(value, str) and not (key.startswith("text/") or key in SPLIT_NON_TEXT_MIMES):
                    total += len(value)
    return total


def notebook_bytes(nb: dict[str, Any]) -> bytes:
    """The file's bytes (without the final newline) for a v4 notebook model, as nbformat lays it out.

    Notebooks of plain types without floats are written by orjson when their outputs hold large
    strings (see orjsontext.py), else by msgspec (its compact text with sorted keys, indented by
    its formatter: two to four times faster than ujson on text, see docs/performance.md section
    18); notebooks with floats by ujson; what these refuse by json, which says why (JSONRefused
    for NaN or infinity; UnicodeEncodeError for a lone surrogate).
    """
    disk = _disk_form(nb)
    # The on-disk form holds the model's own values, new dicts and lists, and lines split from
    # the model's strings: it holds plain types (and floats) only when the model, with far
    # fewer objects, does.
    plain, floats = _plain_json_types(nb)
    if plain and not floats:
        try:
            if _unsplit_output_chars(nb) >= ORJSON_MIN_UNSPLIT_CHARS:
                data = notebook_file_bytes(disk)
                if data is not None:
                    return data
            msgspec = usable_msgspec()
            if msgspec is not None:
                return _msgspec_text(msgspec, disk)
        except Exception:  # what orjson or msgspec refuse (too deep, a lone surrogate...): the others say why
            pass
    ujson = usable_ujson()
    if plain and ujson is not None:
        try:
            return _ujson_text(ujson, disk, floats, _sources_ascii(nb)).encode("utf-8")
        except Exception:  # anything ujson refuses (NaN, lone surrogates...): json says why
            pass
    return _json_text(disk).encode("utf-8")


def notebook_text(nb: dict[str, Any]) -> str:
    """The text of the file for a v4 notebook model, as nbformat's writer lays it out."""
    try:
        return notebook_bytes(nb).decode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: text still, but no UTF-8 file can hold it
        return _json_text(_disk_form(nb))


class SerializedNotebook(NamedTuple):
    #: The file's bytes, in pieces (the text and its final newline: no copy of a large text to join them).
    chunks: tuple[bytes, ...]
    #: The validation message of the model (None when valid).
    message: str | None
    #: True when reading the bytes back gives the same verdict, so it may be remembered for the file.
    verdict_holds_on_disk: bool


def encode_notebook(content: Any) -> SerializedNotebook:
    """Turn a notebook model from a client into the bytes to store, upgraded to v4.

    An invalid but usable notebook is still serialized and the validation message
    returned; one that cannot be written at all raises InvalidInput.
    """
    if not isinstance(content, dict):
        raise InvalidInput("A notebook's content must be a JSON object.")
    try:
        nb: Any = content
        upgraded = nb.get("nbformat") != CURRENT_MAJOR
        if upgraded:
            import nbformat  # older versions are rare: pay for the import only then

            nb = nbformat.convert(nbformat.from_dict(content), CURRENT_MAJOR)
        verdict = validate_notebook(nb)
        data = notebook_bytes(nb)
        holds = verdict.repeatable and not upgraded and not _has_transient_fields(nb)
    except JSONRefused as exc:
        raise InvalidInput(f"The notebook cannot be written as JSON: {exc}.") from None
    except UnicodeEncodeError:
        raise InvalidInput("The notebook cannot be written as UTF-8: a string holds an unpaired surrogate.") from None
    except Exception as exc:  # malformed structures fail deep inside
        raise InvalidInput(f"Unusable notebook content: {type(exc).__name__}: {exc}") from None
    return SerializedNotebook((data, b"\n"), verdict.message, holds)


def serialize_notebook(content: Any) -> tuple[bytes, str | None]:
    """The bytes to store for a client's notebook model, and its validation message."""
    serialized = encode_notebook(content)
    return b"".join(serialized.chunks), serialized.message


def empty_notebook() -> dict[str, Any]:
    """A new, empty notebook of the current format (what ``nbformat.v4.new_notebook()`` makes)."""
    return {"nbformat": CURRENT_MAJOR, "nbformat_minor": CURRENT_MINOR, "metadata": {}, "cells": []}
