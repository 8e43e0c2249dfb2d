"""Whole numbers from the wire: ASCII digits only (nbserver.base.numbers)."""

from __future__ import annotations

import pytest

from nbserver.base.numbers import ascii_whole_number, parse_page_size
from nbserver.errors import InvalidInput


@pytest.mark.parametrize("text, number", [("0", 0), ("007", 7), ("123456789012345678901234567890",
                                                                   123456789012345678901234567890)])
def test_ascii_digits_are_read(text: str, number: int) -> None:
    assert ascii_whole_number(text) == number


@pytest.mark.parametrize("text", [None, "", "\u00b2", "1\u00b3", "\u0663", "\uff17", " 7", "7 ", "+7", "-7", "7_0",
                                  "0x7", "7.0", "1e3", "7\n"])
def test_everything_else_is_none(text: str | None) -> None:
    assert ascii_whole_number(text) is None


def test_page_size_bounds_and_error() -> None:
    assert parse_page_size("1", 10) == 1 and parse_page_size("10", 10) == 10
    for bad in ("0", "11", "\u00b2", "ten"):
        with pytest.raises(InvalidInput) as caught:
            parse_page_size(bad, 10)
        assert caught.value.status_code == 400 and caught.value.public_fields() == {
            "code": "invalid_field", "field": "page_size"}
