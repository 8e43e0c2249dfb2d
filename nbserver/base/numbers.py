"""Whole numbers read from text a client or a remote server sent: ASCII digits only.

``str.isdigit`` accepts ``²`` (a Latin-1 header byte) and ``int`` then raises, and ``int`` alone
accepts ``" 7"``, ``"+7"``, ``"7_0"`` and other scripts' digits (``"٣"``). Every number on the
wire here (``Content-Length``, RFC 9110 section 8.6: ``1*DIGIT``; a listing's ``page_size``, a search's ``limit``) is
read through :func:`ascii_whole_number` instead.
"""

from __future__ import annotations

import re

from nbserver.errors import InvalidInput

_ASCII_DIGITS = re.compile("[0-9]+")


def ascii_whole_number(text: str | None) -> int | None:
    """``text`` as an int when it is one or more ASCII digits and nothing else, else None."""
    return int(text) if text is not None and _ASCII_DIGITS.fullmatch(text) else None


def parse_page_size(text: str, maximum: int) -> int:
    """A listing's ``page_size`` query argument: a whole number from 1 to ``maximum``.

    Raises InvalidInput (400, code ``invalid_field``, field ``page_size``) for anything else.
    """
    size = ascii_whole_number(text)
    if size is None or not 1 <= size <= maximum:
        raise InvalidInput(f"'page_size' must be a whole number from 1 to {maximum}.", code="invalid_field",
                           field="page_size")
    return size
