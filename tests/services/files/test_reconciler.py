"""Changes made outside the server (checklist 11, 12; section 3.7 rules 5-7): the reconciler."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from nbserver.services.files.reconciler import TreeCrawler
from tests.services.files.test_handlers import file_id, mkdir, save
from tests.support.api_client import APIClient


@pytest.mark.gen_test
async def test_move_outside_the_server_is_followed_by_inode(api: APIClient, root_dir: Path) -> None:
    """11: an os.rename outside the server; the id's path follows (on demand: the id's path vanished)."""
    await mkdir(api, "proj2")
    await save(api, "proj2/b.ipynb")
    fid = await file_id(api, "proj2/b.ipynb")
    (root_dir / "proj2" / "sub").mkdir()
    os.rename(root_dir / "proj2" / "b.ipynb", root_dir / "proj2" / "sub" / "c.ipynb")
    assert (await api.get(f"api/files/{fid}/path")).json() == {"id": fid, "path": "proj2/sub/c.ipynb"}
    assert await file_id(api, "proj2/sub/c.ipynb") == fid


@pytest.mark.gen_test
async def test_folder_moved_outside_carries_its_children(api: APIClient, server_app: Any, root_dir: Path) -> None:
    await mkdir(api, "F")
    await save(api, "F/x.txt", "x")
    folder, child = await file_id(api, "F"), await file_id(api, "F/x.txt")
    os.rename(root_dir / "F", root_dir / "G")
    report = await server_app.file_services.reconcile()
    assert report.moved == 1
    assert (await api.get(f"api/files/{folder}/path")).json()["path"] == "G"
    assert (await api.get(f"api/files/{child}/path")).json()["path"] == "G/x.txt"


@pytest.mark.gen_test
async def test_atomic_rewrite_at_the_same_path_keeps_the_id(api: APIClient, server_app: Any, root_dir: Path) -> None:
    """12: write-temp-and-rename (a new inode) at the same path."""
    await save(api, "a.txt", "one")
    fid = await file_id(api, "a.txt")
    (root_dir / "tmp-a").write_text("two")
    os.replace(root_dir / "tmp-a", root_dir / "a.txt")
    await server_app.file_services.reconcile()
    assert await file_id(api, "a.txt") == fid
    assert (await api.get(f"api/files/{fid}")).json()["size"] == 3


@pytest.mark.gen_test
async def test_vanished_file_goes_missing_then_revives(api: APIClient, server_app: Any, root_dir: Path) -> None:
    """Rule 7: a path gone outside the server is 404 but its id comes back with the path."""
    await save(api, "a.txt", "one")
    fid = await file_id(api, "a.txt")
    content = (root_dir / "a.txt").read_bytes()
    (root_dir / "a.txt").unlink()
    assert (await api.get(f"api/files/{fid}")).status == 404
    assert (await server_app.file_services.reconcile()).missing == 0  # already marked by the 404's crawl
    (root_dir / "a.txt").write_bytes(content)
    report = await server_app.file_services.reconcile()
    assert report.revived + report.moved == 1  # the new file may reuse the old inode number
    assert (await api.get(f"api/files/{fid}")).json()["path"] == "a.txt"


def backdate_folders(top: Path) -> None:
    """Folder mtimes an hour old, so that their listings are trusted (not "racily clean")."""
    old = time.time() - 3600
    for folder in [top, *(p for p in top.rglob("*") if p.is_dir())]:
        os.utime(folder, (old, old))


def make_tree(top: Path, folders: int, files: int) -> Path:
    top.mkdir(exist_ok=True)
    for f in range(folders):
        (top / f"d{f}").mkdir()
        for n in range(files):
            (top / f"d{f}" / f"x{n}.txt").write_text("x")
    return top


def test_a_pass_stops_at_its_budget_and_the_next_resumes(tmp_path: Path) -> None:
    tmp_path = make_tree(tmp_path / "top", 5, 10)  # 1 + 5 folder stats, 5 + 50 entry stats
    crawler = TreeCrawler(str(tmp_path), lambda name: True)
    passes = []
    seen = None
    while seen is None:
        crawl, seen = crawler.run_pass(15)
        passes.append(crawl)
        assert len(passes) < 20
    assert [p.complete for p in passes] == [False] * (len(passes) - 1) + [True]
    assert len(passes) == 3  # root + d0 (17 calls), d1 + d2 (22), d3 + d4 (22)
    assert all(p.stat_calls <= 15 + 10 for p in passes)  # a folder is never split
    assert sum(p.stat_calls for p in passes) == 6 + 55  # each folder and entry stat-ed once in the cycle
    assert sum(p.dirs_listed for p in passes) == 6
    assert len(seen) == 1 + 5 + 50 and seen["d4/x9.txt"][0] == "file"


def test_unchanged_folders_are_not_listed_again(tmp_path: Path) -> None:
    tmp_path = make_tree(tmp_path / "top", 3, 4)
    backdate_folders(tmp_path)
    crawler = TreeCrawler(str(tmp_path), lambda name: True)
    first, _ = crawler.run_pass(0)
    assert (first.dirs_listed, first.dirs_skipped, first.stat_calls) == (4, 0, 4 + 3 + 12)
    again, seen = crawler.run_pass(0)
    assert (again.complete, again.dirs_listed, again.dirs_skipped, again.stat_calls) == (True, 0, 4, 4)
    assert seen is not None and "d2/x3.txt" in seen  # the entries come from the kept listings
    (tmp_path / "d1" / "new.txt").write_text("n")
    (tmp_path / "d2" / "x0.txt").unlink()
    changed, seen = crawler.run_pass(0)
    assert (changed.dirs_listed, changed.dirs_skipped) == (2, 2)
    assert seen is not None and "d1/new.txt" in seen and "d2/x0.txt" not in seen
    # d1 and d2 changed a moment ago: a second change in the same clock tick would not move their
    # mtimes, so they are listed again until their mtimes are old enough (git's "racily clean").
    racy, _ = crawler.run_pass(0)
    assert (racy.dirs_listed, racy.dirs_skipped) == (2, 2)
    backdate_folders(tmp_path)
    settled, _ = crawler.run_pass(0)
    assert settled.dirs_listed == 4  # utime moved every mtime: listed once more, then trusted
    assert crawler.run_pass(0)[0].dirs_skipped == 4


def test_a_removed_folder_leaves_no_listing_behind(tmp_path: Path) -> None:
    tmp_path = make_tree(tmp_path / "top", 2, 1)
    crawler = TreeCrawler(str(tmp_path), lambda name: not name.startswith("."))
    crawler.run_pass(0)
    (tmp_path / "d1" / "x0.txt").unlink()
    (tmp_path / "d1").rmdir()
    (tmp_path / ".hidden").mkdir()
    _, seen = crawler.run_pass(0)
    assert seen is not None and sorted(seen) == ["", "d0", "d0/x0.txt"]
    assert sorted(crawler.listings) == ["", "d0"]


@pytest.mark.gen_test
async def test_a_budgeted_cycle_applies_a_move_when_it_ends(api: APIClient, server_app: Any, root_dir: Path) -> None:
    make_tree(root_dir, 4, 3)
    fid = await file_id(api, "d0/x0.txt")
    services = server_app.file_services
    services.reconcile_stat_budget = 5
    os.rename(root_dir / "d0" / "x0.txt", root_dir / "d3" / "moved.txt")
    reports = [await services.reconcile()]
    while not reports[-1].crawl.complete:
        assert reports[-1].moved == 0  # nothing is applied from half a crawl
        reports.append(await services.reconcile())
        assert len(reports) < 20
    assert len(reports) > 1 and reports[-1].moved == 1
    assert (await api.get(f"api/files/{fid}/path")).json()["path"] == "d3/moved.txt"


@pytest.mark.gen_test
async def test_an_on_demand_reconcile_finishes_the_crawl_whatever_the_budget(
        api: APIClient, server_app: Any, root_dir: Path) -> None:
    make_tree(root_dir, 4, 3)
    fid = await file_id(api, "d0/x0.txt")
    server_app.file_services.reconcile_stat_budget = 1
    os.rename(root_dir / "d0" / "x0.txt", root_dir / "d3" / "moved.txt")
    assert (await api.get(f"api/files/{fid}/path")).json()["path"] == "d3/moved.txt"


@pytest.mark.gen_test(timeout=30)
async def test_the_background_reconciler_resumes_soon_after_a_partial_pass(
        api: APIClient, server_app: Any, root_dir: Path) -> None:
    make_tree(root_dir, 4, 3)
    fid = await file_id(api, "d0/x0.txt")
    services = server_app.file_services
    services.reconcile_stat_budget = 5
    services.reconcile_interval = 3600  # only the resume pause can bring the next passes
    os.rename(root_dir / "d0" / "x0.txt", root_dir / "d3" / "moved.txt")
    services.start_background()
    try:
        for _ in range(200):
            moved = await services._call(lambda store: store.get(fid))
            if moved.path == "d3/moved.txt":
                break
            await asyncio.sleep(0.1)
    finally:
        await services.stop_background()
    assert moved.path == "d3/moved.txt"
