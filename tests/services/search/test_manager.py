"""SearchService's pure helpers: opaque cursors, snippets and where the index lives."""

from __future__ import annotations

from typing import Any

import pytest

from nbserver.errors import InvalidInput
from nbserver.services.search.manager import MAX_OFFSET, decode_cursor, encode_cursor, snippet


def test_cursor_round_trip_and_limits() -> None:
    assert decode_cursor(encode_cursor(40)) == 40
    for bad in ("", "!!", "e30", encode_cursor(MAX_OFFSET + 1), "eyJvIjogLTF9", "eyJvIjogdHJ1ZX0"):
        with pytest.raises(InvalidInput):
            decode_cursor(bad)


def test_snippet_keeps_ranges_on_its_own_text() -> None:
    text = "word " * 40 + "quasar here " + "tail " * 60
    start = text.index("quasar")
    window, ranges = snippet(text, [(start, start + 6), (len(text) - 4, len(text))])
    assert [window[a:b] for a, b in ranges] == ["quasar"]
    assert len(window) <= 200 and window.startswith("word")


def test_index_lives_beside_the_metadata_database(server_app: Any, root_dir: Any) -> None:
    service = server_app.search_service
    assert service.index_location() == str(root_dir / ".nbserver" / "search.sqlite")
