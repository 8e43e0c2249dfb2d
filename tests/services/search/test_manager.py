"""SearchService's pure helpers: opaque cursors, snippets and where the index lives."""

from __future__ import annotations

import time
from typing import Any

import pytest

from nbserver.errors import InvalidInput
from nbserver.services.search.extract import Segment
from nbserver.services.search.index import FTS5, Hit
from nbserver.services.search.manager import MATCH_CHARS_PER_RESULT, MAX_OFFSET, SearchService, decode_cursor, \
    encode_cursor, snippet
from nbserver.services.search.query import parse_query
from tests.services.files.test_reconciler import backdate_folders, make_tree


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


def matched_cells(segments: list[Segment]) -> list[int | None]:
    result = SearchService._result(Hit("id", "n.ipynb", "notebook", 1.0), segments, parse_query("quasar"), FTS5)
    return [match.get("cell_index") for match in result["matches"]]


def test_match_ranges_look_at_a_bounded_amount_of_text_per_result() -> None:
    filler = "filler " * (MATCH_CHARS_PER_RESULT // 3)  # more than the budget, without the word
    # Text that cannot hold the word is ruled out without spending the budget...
    assert matched_cells([Segment("markdown", filler, 0), Segment("code", "the quasar", 1)]) == [1]
    # ...text that might is searched only up to the budget: a match past it is not shown.
    late = filler + " quasar \u00e9"  # not ASCII: cannot be ruled out cheaply
    assert matched_cells([Segment("markdown", late, 0), Segment("code", "the quasar", 1)]) == []
    assert matched_cells([Segment("markdown", "quasar " + late, 0)]) == [0]


@pytest.mark.gen_test(timeout=60)
async def test_a_scan_of_an_unchanged_tree_lists_no_folder_and_rechecks_its_budget(server_app: Any,
                                                                                    root_dir: Any) -> None:
    service = server_app.search_service
    await service._ready_index()  # the state folder exists before the tree's mtimes are set
    make_tree(root_dir, 3, 4)
    backdate_folders(root_dir)
    service.scan_stat_budget, service.recheck_per_scan = 3, 5
    first = await service.scan()
    assert (first.folders_listed, first.changed) == (4, 12)
    await service.index_pending()
    again = await service.scan()
    assert (again.folders_listed, again.folders_skipped, again.rechecked, again.changed) == (0, 4, 5, 0)
    assert again.stat_calls == 4 + 5  # a stat per folder and per rechecked file, none per other file


@pytest.mark.gen_test(timeout=60)
async def test_files_the_scan_listed_are_indexed_without_a_stat_in_the_server(server_app: Any,
                                                                               root_dir: Any) -> None:
    """A build is the scan's files: the worker's listing gave their fingerprints, the server only ids."""
    service = server_app.search_service
    await service._ready_index()
    make_tree(root_dir, 2, 3)
    statted: list[str] = []
    stat_all = service._stat_all
    service._stat_all = lambda paths: statted.extend(paths) or stat_all(paths)
    assert (await service.scan()).changed == 6
    await service.index_pending()
    assert statted == []
    documents, _, _ = await service._on_reader(lambda index: index.counts())
    assert documents == 6


def test_the_wait_for_a_quiet_moment_sleeps_until_the_last_save_is_old_enough(server_app: Any) -> None:
    service = server_app.search_service
    now = time.monotonic()
    service._last_save = now - 0.1
    assert 0.05 < service._save_pause(now + 2.0) <= 0.15  # save_quiet 0.25: one sleep, no polling
    assert service._save_pause(now + 0.05) <= 0.05  # not past the deadline
    service._last_save = now - 1.0
    assert service._save_pause(now + 2.0) == 0.0
