"""The rules every JSON request body is read by, apart from the handlers (no tornado import), so
that a notebook worker process (:mod:`nbserver.services.contents.notebookprocesses`) reads a
save's body exactly as a handler does."""

from __future__ import annotations

from typing import Any

from nbserver.errors import InvalidInput
from nbserver.jsonio import JSONRefused, parse_client_json


def is_blank(body: bytes | bytearray) -> bool:
    """Whether a body (or a piece of one) is empty or only whitespace (a bytearray's strip() would copy it)."""
    return not body or body.isspace()


def parse_json_body(raw: bytes | bytearray) -> Any:
    """The value of a request body: None when it is empty or only whitespace.

    Raises InvalidInput (400) for a body that is not strict JSON (see
    :func:`nbserver.jsonio.parse_client_json`: UTF-8, finite numbers, at most ``MAX_DEPTH`` levels).
    """
    if is_blank(raw):
        return None
    try:
        return parse_client_json(raw)
    except JSONRefused as exc:
        raise InvalidInput(f"The request body is not valid JSON: {exc}.") from None


def json_object(body: Any) -> dict[str, Any] | None:
    """``body`` when it is a JSON object or absent (None); InvalidInput (400) for any other value."""
    if body is not None and not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.")
    return body
