"""Timestamps as Jupyter clients parse them: six fractional digits, always."""

from __future__ import annotations

import re
from datetime import datetime

from nbserver.timestamps import iso_timestamp, utc_now_iso

JUPYTER_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def test_a_whole_second_still_has_six_fractional_digits():
    assert iso_timestamp(1_700_000_000.0) == "2023-11-14T22:13:20.000000Z"


def test_microseconds_are_kept():
    assert iso_timestamp(1_700_000_000.25) == "2023-11-14T22:13:20.250000Z"


def test_now_parses_back_with_a_fixed_format():
    stamp = utc_now_iso()
    assert JUPYTER_TIMESTAMP.fullmatch(stamp)
    datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
