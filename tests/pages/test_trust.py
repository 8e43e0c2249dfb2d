"""Notebook trust on the notebook page, in headless Chromium: HTML outputs of a notebook that
arrived on disk render without running script; outputs made by running the cell here run it."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import nbformat
import pytest

from tests.pages.test_browser import KERNEL_START_MS, kernels_available
from tests.support.browser import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

SCRIPTED_HTML = "<b id='inside'>static</b><script>document.getElementById('inside').textContent = 'script ran'</script>"


def write_untrusted_notebook(server: LiveServer) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
        f"from IPython.display import HTML\nHTML({SCRIPTED_HTML!r})", execution_count=1,
        outputs=[nbformat.v4.new_output("display_data", data={"text/html": SCRIPTED_HTML, "text/plain": "<HTML>"})])]
    nbformat.write(nb, str(server.root / "Untrusted.ipynb"))


def open_notebook(page: Any, server: LiveServer, path: str) -> None:
    page.goto(server.page_url(f"notebooks/{path}?token={server.token}"))
    page.wait_for_selector("iframe.html-output")


def frame_text(page: Any) -> str:
    return str(page.frame_locator("iframe.html-output").locator("#inside").inner_text())


def get_model(server: LiveServer, path: str) -> dict:
    request = urllib.request.Request(server.page_url(f"api/contents/{path}"),
                                     headers={"Authorization": f"token {server.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)  # type: ignore[no-any-return]


def test_html_output_of_an_untrusted_notebook_renders_without_running_script(live_server: LiveServer, page: Any) -> None:
    write_untrusted_notebook(live_server)
    open_notebook(page, live_server, "Untrusted.ipynb")
    frame = page.locator("iframe.html-output")
    assert "allow-scripts" not in frame.get_attribute("sandbox")
    assert "untrusted" in frame.get_attribute("class")
    page.frame_locator("iframe.html-output").locator("#inside").wait_for()
    page.wait_for_timeout(500)  # time enough for a script that would run
    assert frame_text(page) == "static"
    assert page.js_errors == []


def test_running_the_cell_here_makes_its_output_trusted_and_saving_signs_it(live_server: LiveServer, page: Any) -> None:
    if not kernels_available(live_server):
        pytest.skip("this server has no kernels (GET /api/kernelspecs)")
    write_untrusted_notebook(live_server)
    open_notebook(page, live_server, "Untrusted.ipynb")
    page.wait_for_selector("#kernel-indicator[data-state='idle']", timeout=KERNEL_START_MS)
    assert frame_text(page) == "static"
    page.locator(".cell .source .cm-content").first.click()
    page.locator(".cell .source .cm-content").first.press("Shift+Enter")
    page.wait_for_selector("iframe.html-output:not(.untrusted)", timeout=KERNEL_START_MS)  # the run's output
    assert "allow-scripts" in page.locator("iframe.html-output").get_attribute("sandbox")
    page.frame_locator("iframe.html-output").locator("#inside:has-text('script ran')").wait_for()
    page.wait_for_selector("#kernel-indicator[data-state='idle']", timeout=KERNEL_START_MS)

    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-state:has-text('Saved')", timeout=30_000)

    def code_cell_marks() -> list[Any]:
        model = get_model(live_server, "Untrusted.ipynb")
        return [cell["metadata"].get("trusted") for cell in model["content"]["cells"] if cell["cell_type"] == "code"]

    # "Saved" may still show the state from before Ctrl+S on a loaded machine: wait for the file itself.
    deadline = time.monotonic() + 30
    while len(code_cell_marks()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    marks = code_cell_marks()
    assert len(marks) == 2 and all(marks)  # Shift+Enter added an empty cell below: trusted too (no output)

    page.reload()
    page.wait_for_selector("iframe.html-output:not(.untrusted)")
    page.frame_locator("iframe.html-output").locator("#inside:has-text('script ran')").wait_for()
    assert page.js_errors == []
