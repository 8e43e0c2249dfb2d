"""ChangeScan: the search's scan for outside changes lists only changed folders and rechecks in budgets.

Work is counted (stat calls, folders listed, documents rechecked), not timed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import pytest

from nbserver.services.files.store import SQLiteMetadataStore
from nbserver.services.search.extract import Document
from nbserver.services.search.index import FTS5, SQLiteSearchIndex
from nbserver.services.search.scan import ChangeScan, ScanCounts, fingerprint, indexable
from tests.services.files.test_reconciler import backdate_folders, make_tree

FOLDERS, FILES = 3, 4


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SQLiteSearchIndex]:
    meta = SQLiteMetadataStore(str(tmp_path / "meta.sqlite"), "me")
    meta.open()
    made = SQLiteSearchIndex(str(tmp_path / "search.sqlite"), str(tmp_path / "meta.sqlite"), FTS5)
    made.open()
    yield made
    made.close()
    meta.close()


def visible(name: str) -> bool:
    return not name.startswith(".")


def index_all(top: Path, index: SQLiteSearchIndex, changed: list[str]) -> None:
    """What the indexer does with the scan's paths: record each file's fingerprint."""
    for path in changed:
        index.put("id-" + path, path, fingerprint(os.lstat(top / path)), Document(path.rsplit("/", 1)[-1]))


def paths_checked(scan: ChangeScan, found: list[tuple[str, str]]) -> list[str]:
    """The paths of a pass's changed files, once each one's fingerprint is checked against its lstat now."""
    for path, mark in found:
        assert mark == fingerprint(os.lstat(os.path.join(scan.real_root, path)))
    return [path for path, _ in found]


def full_crawl(scan: ChangeScan, index: SQLiteSearchIndex, budget: int = 0) -> tuple[ScanCounts, list[str]]:
    counts, changed, done = ScanCounts(), [], False
    while not done:
        done, found = scan.crawl_pass(index, budget, counts)
        changed += paths_checked(scan, found)
    return counts, changed


@pytest.fixture
def settled(tmp_path: Path, index: SQLiteSearchIndex) -> tuple[Path, ChangeScan]:
    """A tree of 3 folders of 4 files, all indexed by a first scan, folders an hour old (trusted)."""
    top = make_tree(tmp_path / "top", FOLDERS, FILES)
    (top / ".hidden.txt").write_text("h")
    backdate_folders(top)
    scan = ChangeScan(str(top), visible)
    counts, changed = full_crawl(scan, index)
    assert sorted(changed) == sorted(f"d{f}/x{n}.txt" for f in range(FOLDERS) for n in range(FILES))
    assert counts.folders_listed == 1 + FOLDERS
    index_all(top, index, changed)
    return top, scan


def test_a_second_crawl_of_an_unchanged_tree_stats_only_its_folders(
        settled: tuple[Path, ChangeScan], index: SQLiteSearchIndex) -> None:
    _, scan = settled
    counts, changed = full_crawl(scan, index)
    assert changed == []
    assert (counts.folders_listed, counts.folders_skipped, counts.stat_calls) == (0, 1 + FOLDERS, 1 + FOLDERS)


def test_a_file_added_outside_is_found_by_listing_its_folder_alone(
        settled: tuple[Path, ChangeScan], index: SQLiteSearchIndex) -> None:
    top, scan = settled
    (top / "d1" / "new.txt").write_text("new")
    counts, changed = full_crawl(scan, index)
    assert changed == ["d1/new.txt"]
    assert counts.folders_listed == 1 and counts.stat_calls == 1 + FOLDERS + FILES + 1


def test_an_atomic_replace_outside_is_found(settled: tuple[Path, ChangeScan], index: SQLiteSearchIndex) -> None:
    top, scan = settled
    (top / "d2" / "tmp").write_text("replaced content")
    os.replace(top / "d2" / "tmp", top / "d2" / "x0.txt")
    assert full_crawl(scan, index)[1] == ["d2/x0.txt"]


def test_an_edit_in_place_is_found_by_the_budgeted_recheck(
        settled: tuple[Path, ChangeScan], index: SQLiteSearchIndex) -> None:
    top, scan = settled
    edited = top / "d2" / "x3.txt"  # last in path order: found by the last recheck pass of the round
    edited.write_text("edited in place, longer")
    os.utime(edited, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert full_crawl(scan, index)[1] == []  # its folder did not change
    found: list[str] = []
    passes = []
    done = False
    while not done:
        counts = ScanCounts()
        done, changed = scan.recheck_pass(index, 5, counts)
        found += paths_checked(scan, changed)
        passes.append(counts.stat_calls)
    assert found == ["d2/x3.txt"]
    assert passes == [5, 5, 2]  # 12 documents, at most 5 stat calls per pass
    counts = ScanCounts()
    scan.recheck_pass(index, 5, counts)
    assert counts.rechecked == 5  # the next round starts again at the first document


def test_files_below_walks_only_that_folder(settled: tuple[Path, ChangeScan]) -> None:
    top, scan = settled
    (top / "d0" / "sub").mkdir()
    (top / "d0" / "sub" / "deep.txt").write_text("d")
    (top / "d0" / ".secret.txt").write_text("s")
    assert sorted(path for path, _ in scan.files_below("d0")) == [
        "d0/sub/deep.txt", *(f"d0/x{n}.txt" for n in range(FILES))]
    assert len(list(scan.files_below(""))) == FOLDERS * FILES + 1


def test_hidden_paths_are_not_indexable() -> None:
    assert indexable("a/b.ipynb")
    assert not indexable(".ipynb_checkpoints/b.ipynb") and not indexable("a/.b.txt")
