"""The dashboard's Delete with the server's trash, in Chromium: "Move to trash", an Undo toast
that restores the same file, and the permanent wording when delete_to_trash is off."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.pages.test_browser import open_dashboard, row
from tests.support.browser import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]
NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 4}


def test_delete_moves_to_trash_and_undo_restores(live_server: LiveServer, page: Any) -> None:
    (live_server.root / "Keep.ipynb").write_text(json.dumps(NOTEBOOK))
    before = (live_server.root / "Keep.ipynb").read_bytes()
    open_dashboard(page, live_server)
    row(page, "Keep.ipynb").locator("input[type=checkbox]").check()
    page.click("[data-action='delete']")
    message = page.locator("#dialog-message").inner_text()
    assert "trash" in message and "cannot be undone" not in message
    page.click("#dialog-ok")
    page.wait_for_function("!document.querySelector('#file-rows').textContent.includes('Keep.ipynb')")
    assert not (live_server.root / "Keep.ipynb").exists()
    assert list((live_server.root / ".nbserver" / "trash").glob("*/Keep.ipynb"))
    page.click(".toast .toast-action:has-text('Undo')")
    row(page, "Keep.ipynb").wait_for()
    assert (live_server.root / "Keep.ipynb").read_bytes() == before
    row(page, "Keep.ipynb").locator(".name a, .name span").first.click()
    page.wait_for_url("**/notebooks/Keep.ipynb*")
    assert page.js_errors == []


@pytest.fixture
def live_server_args() -> tuple[str, ...]:
    return ()


@pytest.mark.parametrize("live_server_args", [("--FileContentsManager.delete_to_trash=False",)])
def test_delete_says_permanent_without_the_trash(live_server: LiveServer, page: Any) -> None:
    (live_server.root / "Gone.txt").write_text("x")
    open_dashboard(page, live_server)
    row(page, "Gone.txt").locator("input[type=checkbox]").check()
    page.click("[data-action='delete']")
    assert "cannot be undone" in page.locator("#dialog-message").inner_text()
    page.click("#dialog-ok")
    page.wait_for_function("!document.querySelector('#file-rows').textContent.includes('Gone.txt')")
    assert not (live_server.root / "Gone.txt").exists() and not (live_server.root / ".nbserver").exists()
    assert page.js_errors == []


@pytest.mark.parametrize("live_server_args", [("--FileServices.trash_max_bytes=10",)])
def test_an_item_too_large_for_the_trash_is_deleted_only_when_confirmed(live_server: LiveServer, page: Any) -> None:
    (live_server.root / "big.txt").write_text("more than ten bytes")
    open_dashboard(page, live_server)
    row(page, "big.txt").locator("input[type=checkbox]").check()
    page.click("[data-action='delete']")
    page.click("#dialog-ok")  # "Move to trash": refused by the server (409 too_large_for_trash)
    page.wait_for_function("document.querySelector('#dialog-message').textContent.includes('larger than the whole trash')")
    assert "cannot be undone" in page.locator("#dialog-message").inner_text()
    page.click("#dialog-cancel")
    page.locator("#selection-bar").wait_for(state="hidden")  # the cancelled action cleared the selection
    row(page, "big.txt").wait_for()
    assert (live_server.root / "big.txt").exists()
    row(page, "big.txt").locator("input[type=checkbox]").check()
    page.click("[data-action='delete']")
    page.click("#dialog-ok")
    page.wait_for_function("document.querySelector('#dialog-message').textContent.includes('larger than the whole trash')")
    page.click("#dialog-ok")
    page.wait_for_function("!document.querySelector('#file-rows').textContent.includes('big.txt')")
    assert not (live_server.root / "big.txt").exists()
    assert list((live_server.root / ".nbserver" / "trash").iterdir()) == []
    assert page.js_errors == []
