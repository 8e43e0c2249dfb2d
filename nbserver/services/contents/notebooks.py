"""Reading and writing notebook documents: bytes on disk <-> the v4 model on the wire."""

from __future__ import annotations

import json
from typing import Any

import nbformat
from nbformat.v4 import nbjson

from nbserver.errors import InvalidInput

CURRENT_MAJOR = 4


def validation_message(nb: Any) -> str | None:
    """None for a valid notebook, else a short description of what is wrong."""
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        return f"Notebook validation failed: {exc.message}"
    return None


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
            nb = nbjson.to_notebook(data)
        else:
            nb = nbformat.reads(raw.decode("utf-8"), as_version=CURRENT_MAJOR)
    except Exception as exc:  # nbformat raises many kinds on malformed documents
        raise InvalidInput(f"Unreadable notebook: {type(exc).__name__}: {exc}") from None
    return nb, validation_message(nb)


def serialize_notebook(content: Any) -> tuple[bytes, str | None]:
    """Turn a notebook model from a client into the bytes to store, upgraded to v4.

    An invalid but usable notebook is still serialized and the validation message
    returned; one that cannot be written at all raises InvalidInput.
    """
    if not isinstance(content, dict):
        raise InvalidInput("A notebook's content must be a JSON object.")
    try:
        nb = nbformat.from_dict(content)
        if nb.get("nbformat") != CURRENT_MAJOR:
            nb = nbformat.convert(nb, CURRENT_MAJOR)
        message = validation_message(nb)
        text = nbjson.writes(nb)
    except Exception as exc:  # malformed structures fail deep inside nbformat
        raise InvalidInput(f"Unusable notebook content: {type(exc).__name__}: {exc}") from None
    if not text.endswith("\n"):
        text += "\n"
    return text.encode("utf-8"), message


def new_notebook_bytes() -> bytes:
    """The bytes of a new, empty v4 notebook."""
    return serialize_notebook(nbformat.v4.new_notebook())[0]
