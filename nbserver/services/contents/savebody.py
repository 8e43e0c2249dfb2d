"""A save's body (``PUT /api/contents/<path>``, Jupyter Server's REST API) turned into the model a
store saves, and the CPU-bound half of a large notebook's save done ahead of it.

No tornado here: a notebook worker process (:mod:`.notebookprocesses`) runs
:func:`prepare_save_body` on a large body's bytes, so that the parse, the validation, the file
text and the trust digest of two saves run on two cores; the store then only checks the target,
writes the bytes and stores the signature.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from nbserver.base.jsonbody import json_object, parse_json_body
from nbserver.errors import InvalidInput
from nbserver.services.contents.modeltypes import CONTENT_TYPES, FILE_FORMATS, Model
from nbserver.services.contents.notary import signature_of, take_cell_trust
from nbserver.services.contents.notebooks import SerializedNotebook, encode_notebook
from nbserver.services.contents.notebookworker import out_of_band


def optional_str(body: dict[str, Any], key: str) -> str | None:
    """``body[key]`` when it is a string or missing (None); InvalidInput (400) for another value."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{key!r} must be a string.")
    return value


def validate_save_model(body: dict[str, Any]) -> Model:
    """Check a PUT body's shape once, so the store gets a clean model: ``type``, and for a file or
    notebook ``content`` and ``format`` (and ``chunk``: 1, 2, ... or -1 for the last one).
    InvalidInput (400) for anything else."""
    kind = body.get("type")
    if kind not in CONTENT_TYPES:
        raise InvalidInput(f"'type' must be one of {', '.join(CONTENT_TYPES)}.")
    model: Model = {"type": kind}
    if kind == "directory":
        return model
    if "content" not in body or body["content"] is None:
        raise InvalidInput("No content given: a file or notebook needs 'content'.")
    fmt = optional_str(body, "format")
    if kind == "notebook":
        if fmt not in (None, "json"):
            raise InvalidInput("A notebook's format must be 'json'.")
        if not isinstance(body["content"], dict):
            raise InvalidInput("A notebook's content must be a JSON object.")
    else:
        if fmt not in FILE_FORMATS:
            raise InvalidInput(f"A file's format must be one of {', '.join(FILE_FORMATS)}.")
        if not isinstance(body["content"], str):
            raise InvalidInput("A file's content must be a string.")
    model.update(content=body["content"], format=fmt or "json")
    chunk = body.get("chunk")
    if chunk is not None:
        if isinstance(chunk, bool) or not isinstance(chunk, int) or (chunk < 1 and chunk != -1):
            raise InvalidInput("'chunk' must be 1, 2, 3... or -1 for the last chunk.")
        model["chunk"] = chunk
    return model


def save_model_from_body(body: dict[str, Any] | None) -> Model | None:
    """The model to save from a PUT's parsed body; None for no body (the handler then creates an
    empty file). InvalidInput (400) for ``copy_from`` (as in Jupyter Server, copies are made by
    POST) and for what :func:`validate_save_model` refuses."""
    if not body:
        return None
    if body.get("copy_from"):
        raise InvalidInput("Cannot copy with PUT, only POST")  # Jupyter Server's words
    return validate_save_model(body)


def read_save_body(raw: bytes | bytearray) -> Model | None:
    """:func:`save_model_from_body` of a PUT's raw body (parsed by the handlers' own rule,
    :func:`nbserver.base.jsonbody.parse_json_body`). Blocking: a large body takes milliseconds."""
    return save_model_from_body(json_object(parse_json_body(raw)))


class PreparedNotebook(NamedTuple):
    """A notebook save's CPU-bound half, done before the store's turn: it stands in the model's
    ``content`` (see :func:`prepare_save_body`; stores whose ``prepare_save`` makes it take it)."""

    #: The file's bytes and validation verdict (None when the notebook cannot be written at all).
    serialized: SerializedNotebook | None
    #: Why it cannot be written (InvalidInput's message, raised by the store after the target's
    #: own checks, so a bad target is still reported first).
    refusal: str | None
    #: The signature to store once the file is written (every code cell was trusted), or None.
    signature: str | None


def prepare_save_body(raw: bytes | bytearray, secret: bytes | None) -> Model | None:
    """:func:`read_save_body`, then for a notebook what the store would do with its content: take
    the cells' trust flags off (:func:`take_cell_trust`), encode and validate it
    (:func:`encode_notebook`) and, when every code cell was trusted, digest it with ``secret``
    (nbformat's signature; None: no key). The model's ``content`` is then a :class:`PreparedNotebook`.
    Raises InvalidInput (400) for a body that is not a save's."""
    model = read_save_body(raw)
    if model is None or model["type"] != "notebook":
        return model
    content = model["content"]
    signed = take_cell_trust(content)
    try:
        serialized = encode_notebook(content)
    except InvalidInput as exc:
        model["content"] = PreparedNotebook(None, exc.message, None)
        return model
    model["content"] = PreparedNotebook(serialized, None, signature_of(secret, content, False) if signed else None)
    return model


def prepare_save_body_across(raw: bytes | bytearray, secret: bytes | None) -> Model | None:
    """:func:`prepare_save_body` as a notebook process runs it: the file's bytes go back to the
    server as frames of their own (:func:`out_of_band`: no copy into or out of the pickle)."""
    model = prepare_save_body(raw, secret)
    prepared = model.get("content") if model is not None else None
    if isinstance(prepared, PreparedNotebook) and prepared.serialized is not None:
        chunks = tuple(map(out_of_band, prepared.serialized.chunks))
        model["content"] = prepared._replace(serialized=prepared.serialized._replace(chunks=chunks))  # type: ignore[index]
    return model


#: A small notebook with non-ASCII text, numbers and a trusted rich output: what the notebook
#: processes pass through a save (:func:`warm_up`) and a read (``notebookread.warm_up``) at start.
WARM_UP_NOTEBOOK = (
    b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "id": "a", '
    b'"metadata": {"trusted": true}, "execution_count": 1, "source": ["x = 0.5\\n", "\\u00e9"], "outputs": '
    b'[{"output_type": "execute_result", "execution_count": 1, "metadata": {}, '
    b'"data": {"text/plain": ["0.5"], "application/json": {"y": [0.25, 1e-07]}}}]}]}')


def warm_up() -> None:
    """Pass :data:`WARM_UP_NOTEBOOK` as a save through :func:`prepare_save_body`, so the parser's
    and encoders' first-use self-checks run now."""
    prepare_save_body(b'{"type": "notebook", "content": ' + WARM_UP_NOTEBOOK + b"}", b"warm-up")
