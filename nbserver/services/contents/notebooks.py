"""Reading and writing notebook documents: bytes on disk <-> the v4 model on the wire.

On disk, multi-line strings are stored as lists of lines (friendlier to version
control); on the wire they are whole strings. v4 documents take a fast path over
plain dicts that gives the same bytes as nbformat's writer; older versions go
through nbformat's converters.
"""

from __future__ import annotations

import json
from typing import Any

import nbformat

from nbserver.errors import InvalidInput

CURRENT_MAJOR = 4

# Mimetypes outside text/* whose values are still stored as lines, as nbformat does.
SPLIT_NON_TEXT_MIMES = frozenset({"application/javascript", "image/svg+xml"})
TRANSIENT_NOTEBOOK_METADATA = ("orig_nbformat", "orig_nbformat_minor", "signature")


def _is_json_mime(mime: str) -> bool:
    return mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))


def validation_message(nb: Any) -> str | None:
    """None for a valid notebook, else a short description of what is wrong."""
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        return f"Notebook validation failed: {exc.message}"
    except Exception as exc:  # nbformat's validator trips over some malformed structures
        return f"Notebook validation failed: malformed document ({type(exc).__name__}: {exc})"
    return None


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


def parse_notebook(raw: bytes) -> tuple[Any, str | None]:
    """Parse a notebook file's bytes into the v4 model; return it with a validation message."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Unreadable notebook: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("Unreadable notebook: the document is not a JSON object.")
    try:
        if data.get("nbformat") == CURRENT_MAJOR:
            nb: Any = _join_lines(data)
        else:
            nb = nbformat.reads(raw.decode("utf-8"), as_version=CURRENT_MAJOR)
    except Exception as exc:  # nbformat raises many kinds on malformed documents
        raise InvalidInput(f"Unreadable notebook: {type(exc).__name__}: {exc}") from None
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


def _disk_form(nb: dict[str, Any]) -> dict[str, Any]:
    """A copy of a v4 notebook in its on-disk form; the input is left untouched."""
    disk = dict(nb)
    if isinstance(disk.get("metadata"), dict):
        disk["metadata"] = {k: v for k, v in disk["metadata"].items() if k not in TRANSIENT_NOTEBOOK_METADATA}
    disk["cells"] = [_split_cell(cell) for cell in nb["cells"]]
    return disk


def serialize_notebook(content: Any) -> tuple[bytes, str | None]:
    """Turn a notebook model from a client into the bytes to store, upgraded to v4.

    An invalid but usable notebook is still serialized and the validation message
    returned; one that cannot be written at all raises InvalidInput.
    """
    if not isinstance(content, dict):
        raise InvalidInput("A notebook's content must be a JSON object.")
    try:
        nb: Any = content
        if nb.get("nbformat") != CURRENT_MAJOR:
            nb = nbformat.convert(nbformat.from_dict(content), CURRENT_MAJOR)
        message = validation_message(nb)
        text = json.dumps(_disk_form(nb), indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": "))
    except Exception as exc:  # malformed structures fail deep inside
        raise InvalidInput(f"Unusable notebook content: {type(exc).__name__}: {exc}") from None
    return (text + "\n").encode("utf-8"), message


def new_notebook_bytes() -> bytes:
    """The bytes of a new, empty v4 notebook."""
    return serialize_notebook(nbformat.v4.new_notebook())[0]
