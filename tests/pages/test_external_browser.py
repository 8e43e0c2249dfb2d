"""The dashboard's "From URL" in Chromium: a notebook from a local source server is shown in a
sandboxed iframe, and "Save a copy" imports it into the current folder (issue 15)."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from tests.pages.test_browser import open_dashboard, row
from tests.support.browser import LiveServer
from tests.support.notebook_source import ThreadedSourceServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
#: The first render starts a worker process, which imports nbconvert: seconds, more on a busy machine.
RENDER_MS = 200_000


@pytest.fixture
def live_server_args() -> tuple[str, ...]:
    return ("--ExternalNotebooks.external_allow_networks=['127.0.0.1/32']",)


@pytest.fixture
def source() -> Iterator[ThreadedSourceServer]:
    server = ThreadedSourceServer()
    try:
        yield server
    finally:
        server.close()


def open_from_url(page: Any, url: str) -> None:
    page.click("#external-button")
    page.fill("#dialog-input", url)
    page.click("#dialog-ok")


def test_open_from_url_shows_the_notebook_sandboxed_and_saves_a_copy(
        live_server: LiveServer, page: Any, source: ThreadedSourceServer) -> None:
    (live_server.root / "proj").mkdir()
    open_dashboard(page, live_server, "proj")
    open_from_url(page, source.url("nb.ipynb"))
    page.locator("#external-viewer").wait_for(state="visible", timeout=RENDER_MS)
    frame = page.frame_locator("#external-frame")
    frame.locator("h1", has_text="Hello from afar").wait_for()
    assert page.get_attribute("#external-frame", "sandbox") == ""
    assert page.get_attribute("#external-frame", "referrerpolicy") == "no-referrer"
    page.click("#external-save")
    row(page, "nb.ipynb").wait_for()
    saved = json.loads((live_server.root / "proj" / "nb.ipynb").read_text())
    assert saved["cells"][0]["source"][0].startswith("# Hello from afar")
    assert not page.locator("#external-viewer").is_visible()
    # one fetch to show; the save reuses the validated notebook from the external cache (TTL 300 s)
    assert source.log == ["/nb.ipynb"]
    assert page.js_errors == []


def test_a_refused_url_says_why_and_shows_nothing(live_server: LiveServer, page: Any,
                                                  source: ThreadedSourceServer) -> None:
    open_dashboard(page, live_server)
    open_from_url(page, "http://169.254.169.254/latest/meta-data/")
    page.locator("#dialog-title", has_text="Cannot open this notebook").wait_for()
    assert "may fetch from" in page.locator("#dialog-message").inner_text()
    assert not page.locator("#external-viewer").is_visible()
    assert page.js_errors == []
