"""The dashboard's Clusters tab in headless Chromium: a profile's cluster started with 2 engines,
shown running with its engine count, and stopped with no controller or engine process left."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import LiveServer, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]
pytest.importorskip("ipyparallel")
psutil = pytest.importorskip("psutil")  # an ipyparallel dependency


@pytest.fixture
def ipython_dir(tmp_path: Path) -> Path:
    return tmp_path / "ipython"


@pytest.fixture
def live_server_args(ipython_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, ...]:
    monkeypatch.setenv("IPYTHONDIR", str(ipython_dir))  # the server and its engines use a temporary one
    return ()


def cluster_processes(server: LiveServer) -> list[int]:
    """PIDs of the server's ipyparallel processes (controller, engines) still alive."""
    found = []
    for process in psutil.Process(server.process.pid).children(recursive=True):
        try:
            if any("ipyparallel" in part for part in process.cmdline()) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def wait_until_none(server: LiveServer, seconds: float = 30) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := cluster_processes(server)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_clusters_tab_starts_and_stops_a_cluster(live_server: LiveServer, page: Any, ipython_dir: Path) -> None:
    page.goto(live_server.page_url(f"tree?token={live_server.token}"))
    page.click(".tab[data-tab='clusters']")
    row = page.locator("#cluster-list li[data-profile='default']")
    row.wait_for()
    assert row.get_attribute("data-status") == "stopped"

    row.locator(".cluster-n").fill("2")
    row.locator("button[data-action='start']").click()
    page.wait_for_selector("#cluster-list li[data-profile='default'][data-status='running']", timeout=90_000)
    assert page.locator("#cluster-list li[data-profile='default'] .cluster-engines").inner_text() == "2 engines"
    assert len(cluster_processes(live_server)) >= 3  # the controller (and its schedulers), two engines
    screenshot(page, "clusters-tab")

    page.locator("#cluster-list li[data-profile='default'] button[data-action='stop']").click()
    page.wait_for_selector("#cluster-list li[data-profile='default'][data-status='stopped']", timeout=60_000)
    assert wait_until_none(live_server) == []
    assert (ipython_dir / "profile_default").is_dir()  # the temporary IPYTHONDIR, not ~/.ipython
    assert page.js_errors == []
