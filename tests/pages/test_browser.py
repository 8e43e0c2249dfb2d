"""A person's path through the pages in headless Chromium: dashboard, uploads, notebook, kernel, export.

Each test starts its own server subprocess (``live_server``) and saves screenshots to
``test-artifacts/``; the server and every kernel it started are stopped at the end.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.support.browser import (
    LiveServer,
    screenshot,
    start_server,
    stop_process_group,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

KERNEL_START_MS = 60_000
PNG_DOT = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkaPhfDwAE"
           "hQGAhKmMIQAAAABJRU5ErkJggg==")


def open_dashboard(page: Any, server: LiveServer, path: str = "") -> None:
    """Open the dashboard the way the server's log tells a person to: the token URL."""
    page.goto(server.page_url(f"tree/{path}?token={server.token}"))
    page.wait_for_selector("#file-rows tr[data-path], #file-rows tr.placeholder:not(:has-text('Loading'))")


def row(page: Any, name: str) -> Any:
    return page.locator("#file-rows tr[data-path]", has=page.locator(".name span", has_text=re.compile(f"^{re.escape(name)}$")))


def kernels_available(server: LiveServer) -> bool:
    request = urllib.request.Request(server.page_url("api/kernelspecs"),
                                     headers={"Authorization": f"token {server.token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return bool(json.load(response).get("kernelspecs"))
    except (urllib.error.URLError, ValueError):
        return False


def write_notebook_with_outputs(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Outputs\n\nText, *emphasis*, `code`, a [link](https://example.org) and $e^{i\\pi}$.\n\n"
                                      "<script>window.parent.markdownScriptRan = true</script>"),
        nbformat.v4.new_markdown_cell("![dot](attachment:dot.png)", attachments={"dot.png": {"image/png": PNG_DOT}}),
        nbformat.v4.new_code_cell("print('plain')", execution_count=1, outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="plain text\n"),
            nbformat.v4.new_output("stream", name="stderr", text="a warning\n"),
        ]),
        nbformat.v4.new_code_cell("html()", execution_count=2, outputs=[
            nbformat.v4.new_output("display_data", data={
                "text/html": "<b id='inside'>bold html</b><script>try { window.parent.document.title = 'owned' }"
                             " catch (e) { document.getElementById('inside').textContent = 'blocked' }</script>",
                "text/plain": "<HTML>"}),
        ]),
        nbformat.v4.new_code_cell("1/0", execution_count=3, outputs=[
            nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                   traceback=["\x1b[0;31mZeroDivisionError\x1b[0m: division by zero"]),
        ]),
        nbformat.v4.new_code_cell("svg", execution_count=4, outputs=[
            nbformat.v4.new_output("execute_result", execution_count=4, data={
                "image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg' width='120' height='40'>"
                                 "<rect width='120' height='40' fill='#2d6a8e'/><script>parent.svgRan=1</script></svg>",
                "text/plain": "<SVG>"}),
        ]),
        nbformat.v4.new_code_cell("{'a': 1}", execution_count=5, outputs=[
            nbformat.v4.new_output("execute_result", execution_count=5, data={
                "application/json": {"a": 1}, "text/plain": "{'a': 1}"}),
        ]),
    ]
    nbformat.write(nb, str(path))


# -- dashboard ----------------------------------------------------------------------------------

def test_dashboard_lists_folders_first_with_escaped_names(live_server: LiveServer, page: Any) -> None:
    root = live_server.root
    (root / "zeta folder").mkdir()
    (root / "<img src=x onerror=alert(1)>.txt").write_text("x")
    (root / "alpha.txt").write_text("a" * 3000)
    (root / ".hidden.txt").write_text("secret")
    write_notebook_with_outputs(root / "Outputs.ipynb")
    open_dashboard(page, live_server)

    names = page.locator("#file-rows tr[data-path] .name span").all_text_contents()
    assert names[0] == "zeta folder"  # folders first
    assert "<img src=x onerror=alert(1)>.txt" in names  # shown as text, not parsed
    assert ".hidden.txt" not in names
    assert page.locator("#file-rows img[src='x']").count() == 0
    modified = row(page, "alpha.txt").locator(".col-modified")
    assert modified.inner_text() in ("just now",) or "ago" in modified.inner_text()
    assert re.search(r"\d{4}", modified.get_attribute("title"))
    assert row(page, "alpha.txt").locator(".col-size").inner_text() == "2.9 KB"
    screenshot(page, "dashboard")

    page.click("th .sort[data-sort='size']")  # the first click puts the largest first
    by_size = page.locator("#file-rows tr[data-path] .name span").all_text_contents()
    files = sorted((path for path in root.iterdir() if path.is_file() and not path.name.startswith(".")),
                   key=lambda path: path.stat().st_size, reverse=True)
    assert by_size == ["zeta folder"] + [path.name for path in files]
    page.set_viewport_size({"width": 390, "height": 760})
    screenshot(page, "dashboard-narrow")
    assert page.js_errors == []


def trust_notebook(server: LiveServer, path: str) -> None:
    """POST /api/contents/<path>/trust: its HTML outputs may then run script (as a notebook saved here)."""
    request = urllib.request.Request(server.page_url(f"api/contents/{path}/trust"), data=b"", method="POST",
                                     headers={"Authorization": f"token {server.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def test_notebook_page_renders_outputs_in_sandboxes(live_server: LiveServer, page: Any) -> None:
    write_notebook_with_outputs(live_server.root / "Outputs.ipynb")
    trust_notebook(live_server, "Outputs.ipynb")
    open_dashboard(page, live_server)
    page.click("text=Outputs.ipynb")
    page.wait_for_selector(".cell.markdown.rendered h1")
    assert page.locator(".markdown-rendered h1").inner_text() == "Outputs"
    page.locator(".markdown-rendered .katex").first.wait_for()  # KaTeX math; tests/pages/test_notebook_libraries.py has more
    frame = page.locator("iframe.html-output")
    sandbox = frame.get_attribute("sandbox")
    assert "allow-scripts" in sandbox and "allow-same-origin" not in sandbox
    page.frame_locator("iframe.html-output").locator("#inside").wait_for()
    page.wait_for_function("document.querySelector('iframe.html-output').style.height !== '24px'")
    inner = page.frame_locator("iframe.html-output").locator("#inside").inner_text()
    assert inner == "blocked"  # its script ran, but could not reach this page
    assert page.title() != "owned"
    assert page.evaluate("window.markdownScriptRan === undefined && window.svgRan === undefined")
    assert page.locator(".output.error .ansi-red-fg").inner_text() == "ZeroDivisionError"
    assert page.locator(".output.stream.stderr").inner_text().strip() == "a warning"
    assert page.locator(".output img[src^='data:image/svg+xml']").count() == 1
    page.wait_for_function("document.querySelector(\".markdown-rendered img[alt='dot']\").naturalWidth === 1")
    assert '"a": 1' in page.locator(".output .json-tree").inner_text()
    screenshot(page, "notebook-outputs", full_page=True)

    page.goto(live_server.page_url("notebooks/Outputs.ipynb?print"))
    page.wait_for_selector(".cell.markdown.rendered h1")
    assert page.locator(".toolbar").count() == 0
    screenshot(page, "notebook-print", full_page=True)
    assert page.js_errors == []


def test_text_editor_saves(live_server: LiveServer, page: Any) -> None:
    (live_server.root / "notes.txt").write_text("first line\n")
    open_dashboard(page, live_server)
    page.click("text=notes.txt")
    page.wait_for_selector("#editor .cm-content[contenteditable='true']")
    page.fill("#editor .cm-content", "changed text\n")
    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-state:text-matches('^Saved')")
    assert (live_server.root / "notes.txt").read_text() == "changed text\n"
    screenshot(page, "editor")


# -- the whole path ---------------------------------------------------------------------------

def test_a_person_creates_runs_saves_renames_exports_and_deletes_a_notebook(
    live_server: LiveServer, page: Any, tmp_path: Path
) -> None:
    if not kernels_available(live_server):
        pytest.skip("this server has no kernels yet (GET /api/kernelspecs)")
    open_dashboard(page, live_server)

    # A folder, entered.
    page.click("#new-button")
    page.click("[data-new='directory']")
    page.fill("#dialog-input", "Project")
    page.click("#dialog-ok")
    row(page, "Project").wait_for()
    page.click("text=Project")
    page.wait_for_url(re.compile(r"/tree/Project$"))
    page.wait_for_selector("#file-rows tr.placeholder:has-text('empty')")

    # An upload, listed with its size.
    upload = tmp_path / "data.csv"
    upload.write_text("x,y\n1,2\n")
    page.set_input_files("#upload-input", str(upload))
    row(page, "data.csv").wait_for()
    assert (live_server.root / "Project" / "data.csv").read_text() == "x,y\n1,2\n"

    # A notebook with the default kernel.
    page.click("#new-button")
    page.wait_for_selector("#kernel-choices .menu-item img.kernel-logo")
    screenshot(page, "dashboard-new-menu")
    page.locator("#kernel-choices .menu-item").first.click()
    page.wait_for_url(re.compile(r"/notebooks/Project/Untitled\.ipynb"))
    page.wait_for_selector("#kernel-indicator[data-state='idle']", timeout=KERNEL_START_MS)

    # Code, run with Shift+Enter, output streamed in.
    first = page.locator(".cell .source .cm-content").first
    first.click()
    first.fill("import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.3)\n6 * 7")
    first.press("Shift+Enter")
    page.locator(".cell").first.locator(".output.stream").get_by_text("tick 0").wait_for()
    page.locator(".cell").first.locator(".output.execute_result").get_by_text("42").wait_for()
    assert "tick 2" in page.locator(".cell").first.locator(".output.stream").inner_text()
    assert page.locator(".cell").first.locator(".prompt").inner_text() == "[1]:"

    # A markdown cell, rendered.
    second = page.locator(".cell").nth(1)
    page.keyboard.press("Escape")
    page.keyboard.press("m")
    second.locator(".cm-content").click()
    second.locator(".cm-content").fill("# Findings\n\nThe answer is **42**.")
    second.locator(".cm-content").press("Shift+Enter")
    second.locator(".markdown-rendered h1").get_by_text("Findings").wait_for()
    assert second.locator(".markdown-rendered strong").inner_text() == "42"

    # Saved with Ctrl+S; everything is there after a reload.
    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-state:text-matches('^Saved')")
    screenshot(page, "notebook")
    page.set_viewport_size({"width": 390, "height": 760})
    screenshot(page, "notebook-narrow")
    page.set_viewport_size({"width": 1280, "height": 860})
    saved = nbformat.read(str(live_server.root / "Project" / "Untitled.ipynb"), as_version=4)
    assert [cell.cell_type for cell in saved.cells[:2]] == ["code", "markdown"]
    assert saved.metadata.kernelspec.name
    page.reload()
    page.wait_for_selector(".cell.markdown.rendered h1")
    assert "42" in page.locator(".cell").first.locator(".output.execute_result").inner_text()
    assert "tick 2" in page.locator(".cell").first.locator(".output.stream").inner_text()
    page.wait_for_selector("#kernel-indicator[data-state='idle']", timeout=KERNEL_START_MS)

    # The kernel restarts: its variables are gone.
    page.click("[data-command='restart']")
    page.click("#dialog-ok")
    page.wait_for_selector(".toast:has-text('Kernel restarted')", timeout=KERNEL_START_MS)
    page.wait_for_selector("#kernel-indicator[data-state='idle']", timeout=KERNEL_START_MS)
    cell = page.locator(".cell").first.locator(".cm-content")
    cell.click()
    cell.fill("print(i)")
    cell.press("Control+Enter")
    page.locator(".cell").first.locator(".output.error").get_by_text("NameError").first.wait_for()
    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-state:text-matches('^Saved')")

    # Renamed from the dashboard.
    open_dashboard(page, live_server, "Project")
    row(page, "Untitled.ipynb").locator("input[type=checkbox]").check()
    page.click("[data-action='rename']")
    page.fill("#dialog-input", "Analysis.ipynb")
    page.click("#dialog-ok")
    row(page, "Analysis.ipynb").wait_for()
    assert row(page, "Untitled.ipynb").count() == 0
    screenshot(page, "dashboard-project")

    # Exported to HTML from the notebook's File menu.
    page.click("text=Analysis.ipynb")
    page.wait_for_url(re.compile(r"/notebooks/Project/Analysis\.ipynb"))
    page.wait_for_selector("#kernel-indicator[data-state='idle']", timeout=KERNEL_START_MS)  # the page is ready
    page.click("#file-menu-button")
    with page.expect_download() as download_info:
        page.click("#file-menu a:has-text('HTML (.html)')")
    download = download_info.value
    assert download.suggested_filename == "Analysis.html"
    exported = Path(download.path()).read_text()
    assert "Findings" in exported and "NameError" in exported

    # Deleted from the dashboard (to the server's trash), after confirmation.
    open_dashboard(page, live_server, "Project")
    row(page, "Analysis.ipynb").locator("input[type=checkbox]").check()
    page.click("[data-action='delete']")
    assert "to the trash" in page.locator("#dialog-message").inner_text()
    page.click("#dialog-ok")
    page.wait_for_function("!document.querySelector('#file-rows').textContent.includes('Analysis.ipynb')")
    assert not (live_server.root / "Project" / "Analysis.ipynb").exists()

    # The running tab lists what runs, with shut down buttons.
    page.click(".tab[data-tab='running']")
    page.wait_for_selector("#running-kernels li button:has-text('Shut down'), #running-kernels li.empty")
    screenshot(page, "dashboard-running")
    assert page.js_errors == []


def test_upload_by_drag_and_drop_in_chunks_with_progress(live_server: LiveServer, page: Any) -> None:
    open_dashboard(page, live_server)
    # Drop two files at once: a small one and one large enough to go in 1 MiB chunks.
    page.evaluate("""() => {
        const transfer = new DataTransfer();
        transfer.items.add(new File(["hello"], "small.txt", {type: "text/plain"}));
        transfer.items.add(new File([JSON.stringify({cells: [], metadata: {}, nbformat: 4, nbformat_minor: 5})], "up.ipynb"));
        const big = new Uint8Array(5 * 1024 * 1024 + 123);
        for (let i = 0; i < big.length; i += 4096) big[i] = i % 251;
        transfer.items.add(new File([big], "big.bin"));
        const zone = document.getElementById("drop-zone");
        zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""")
    page.wait_for_selector(".upload progress")
    screenshot(page, "dashboard-uploading")
    row(page, "big.bin").wait_for()
    row(page, "small.txt").wait_for()
    assert (live_server.root / "small.txt").read_text() == "hello"
    row(page, "up.ipynb").wait_for()
    assert nbformat.read(str(live_server.root / "up.ipynb"), as_version=4).nbformat == 4
    big = (live_server.root / "big.bin").read_bytes()
    assert len(big) == 5 * 1024 * 1024 + 123
    assert big[4096 * 3] == (4096 * 3) % 251
    # No staging file left (.nbserver is the server's state folder: an earlier test's delete went to the trash).
    assert not [path for path in live_server.root.iterdir() if path.name.startswith(".") and path.name != ".nbserver"]
    assert page.js_errors == []


def test_duplicate_move_and_download_from_the_dashboard(live_server: LiveServer, page: Any) -> None:
    (live_server.root / "target").mkdir()
    (live_server.root / "report.txt").write_text("numbers")
    open_dashboard(page, live_server)

    row(page, "report.txt").locator("input[type=checkbox]").check()
    page.click("[data-action='duplicate']")
    row(page, "report-Copy1.txt").wait_for()

    row(page, "report-Copy1.txt").locator("input[type=checkbox]").check()
    with page.expect_download() as download_info:
        page.click("[data-action='download']")
    assert download_info.value.suggested_filename == "report-Copy1.txt"
    assert Path(download_info.value.path()).read_text() == "numbers"

    row(page, "report-Copy1.txt").locator("input[type=checkbox]").check()
    page.click("[data-action='move']")
    page.fill("#dialog-input", "target")
    page.click("#dialog-ok")
    page.wait_for_function("!document.querySelector('#file-rows').textContent.includes('report-Copy1.txt')")
    assert (live_server.root / "target" / "report-Copy1.txt").read_text() == "numbers"
    assert page.js_errors == []


def test_checkpoint_restore_and_change_on_disk_warning(live_server: LiveServer, page: Any) -> None:
    notebook = live_server.root / "Check.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 'original'")]
    nbformat.write(nb, str(notebook))
    open_dashboard(page, live_server)
    page.click("text=Check.ipynb")
    source = page.locator(".cell .source .cm-content").first
    source.wait_for()

    page.click("#file-menu-button")
    page.click("[data-command='shortcuts']")
    assert "Shift+Enter" in page.locator("#dialog-message").inner_text()
    assert page.locator("#dialog-cancel").is_hidden()
    screenshot(page, "notebook-shortcuts")
    page.click("#dialog-ok")

    page.click("#file-menu-button")
    page.click("[data-command='checkpoint']")
    page.wait_for_selector(".toast:has-text('Checkpoint saved')")
    source.fill("x = 'edited'")
    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-state:text-matches('^Saved')")
    assert "edited" in notebook.read_text()

    page.click("#file-menu-button")
    page.click("[data-command='restore-checkpoint']")
    page.click("#dialog-ok")
    page.wait_for_selector(".toast:has-text('Reverted')")
    assert page.locator(".cell .source .cm-content").first.inner_text() == "x = 'original'"

    # Someone else writes the file: saving now warns instead of overwriting.
    nb.cells = [nbformat.v4.new_code_cell("x = 'from elsewhere'")]
    nbformat.write(nb, str(notebook))
    later = time.time() + 5
    os.utime(notebook, (later, later))
    page.locator(".cell .source .cm-content").first.fill("x = 'mine'")
    page.keyboard.press("Control+s")
    page.wait_for_selector("#banner:has-text('changed on disk')")
    screenshot(page, "notebook-changed-on-disk")
    assert "from elsewhere" in notebook.read_text()
    page.click("#banner-actions button:has-text('Overwrite')")
    page.wait_for_selector("#save-state:text-matches('^Saved')")
    assert "mine" in notebook.read_text()


def test_interrupt_stops_a_running_cell(live_server: LiveServer, page: Any) -> None:
    if not kernels_available(live_server):
        pytest.skip("this server has no kernels yet (GET /api/kernelspecs)")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import time\nprint('sleeping', flush=True)\ntime.sleep(60)")]
    nbformat.write(nb, str(live_server.root / "Slow.ipynb"))
    page.goto(live_server.page_url(f"notebooks/Slow.ipynb?token={live_server.token}"))
    page.wait_for_selector("#kernel-indicator[data-state='idle']", timeout=KERNEL_START_MS)
    page.locator(".cell .source .cm-content").first.press("Control+Enter")
    page.locator(".output.stream").get_by_text("sleeping").wait_for()
    assert page.locator("#kernel-indicator").get_attribute("data-state") == "busy"
    page.click("[data-command='interrupt']")
    page.locator(".output.error").get_by_text("KeyboardInterrupt").first.wait_for(timeout=20_000)
    page.wait_for_selector("#kernel-indicator[data-state='idle']")
    assert page.js_errors == []


def test_cells_are_added_moved_retyped_and_deleted_from_the_toolbar(live_server: LiveServer, page: Any) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("first"), nbformat.v4.new_code_cell("second")]
    notebook = live_server.root / "Edit.ipynb"
    nbformat.write(nb, str(notebook))
    page.goto(live_server.page_url(f"notebooks/Edit.ipynb?token={live_server.token}"))
    sources = page.locator(".cell .source .cm-content")
    sources.first.wait_for()

    sources.nth(1).click()
    page.click("[data-command='move-up']")
    assert [sources.nth(i).inner_text() for i in range(2)] == ["second", "first"]
    page.click("[data-command='insert-below']")
    page.keyboard.type("if True:\nx = 1\ny = 2")
    assert page.locator(".cell.selected .cm-content").inner_text() == "if True:\n    x = 1\n    y = 2"
    page.locator(".cell.selected .cm-content").fill("third")
    page.select_option("#cell-type", "markdown")
    page.click("[data-command='move-down']")
    page.click("[data-command='delete-cell']")  # deletes the selected markdown cell
    assert page.locator(".cell").count() == 2
    page.locator(".cell").nth(1).locator(".cm-content").click()
    page.select_option("#cell-type", "raw")
    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-state:text-matches('^Saved')")
    saved = nbformat.read(str(notebook), as_version=4)
    assert [(cell.cell_type, cell.source) for cell in saved.cells] == [("code", "second"), ("raw", "first")]
    nbformat.validate(saved)
    assert page.js_errors == []


def test_new_text_file_opens_in_the_editor(live_server: LiveServer, page: Any) -> None:
    open_dashboard(page, live_server)
    page.click("#new-button")
    page.click("[data-new='file']")
    page.fill("#dialog-input", "todo.md")
    page.click("#dialog-ok")
    page.wait_for_url(re.compile(r"/edit/todo\.md$"))
    page.wait_for_selector("#editor .cm-content[contenteditable='true']")
    page.fill("#editor .cm-content", "- write tests\n")
    page.click("#save-button")
    page.wait_for_selector("#save-state:text-matches('^Saved')")
    assert (live_server.root / "todo.md").read_text() == "- write tests\n"


def test_view_shows_images_and_sandboxes_html(live_server: LiveServer, page: Any) -> None:
    (live_server.root / "logo.svg").write_text(
        "<svg xmlns='http://www.w3.org/2000/svg' width='200' height='120'><rect width='200' height='120' "
        "rx='16' fill='#2d6a8e'/><script>parent.document.title='owned'</script></svg>")
    (live_server.root / "page.html").write_text(
        "<h1 id='h'>A page</h1><script>document.getElementById('h').textContent = 'script ran'</script>")
    open_dashboard(page, live_server)
    page.click("text=logo.svg")
    page.wait_for_url(re.compile(r"/view/logo\.svg$"))
    page.wait_for_function("document.querySelector('.viewer img').naturalWidth > 0")
    screenshot(page, "view-image")
    page.goto(live_server.page_url("view/page.html"))
    frame = page.frame_locator("iframe.viewer-frame")
    assert frame.locator("#h").inner_text() == "A page"  # the sandbox kept its script from running
    assert page.title() != "owned"
    screenshot(page, "view-html")


def write_tone(path: Path, seconds: int) -> None:
    """A WAV file of ``seconds`` of a 440 Hz tone (44.1 kHz, 16-bit stereo: 176,400 bytes a second)."""
    import math
    import struct
    import wave

    period = [struct.pack("<hh", value, value)
              for value in (int(8000 * math.sin(2 * math.pi * 440 * n / 44100)) for n in range(44100))]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(b"".join(period) * seconds)


def test_audio_from_files_seeks_with_range_requests(live_server: LiveServer, page: Any) -> None:
    """A person jumps to near the end of a long recording: the browser asks /files for a range."""
    write_tone(live_server.root / "tone.wav", 60)  # about 10.6 MB: not buffered whole at once
    ranged: list[tuple[int, str]] = []
    page.on("response", lambda response: ranged.append((response.status, response.headers.get("content-range", "")))
            if "/files/tone.wav" in response.url else None)
    open_dashboard(page, live_server)
    page.evaluate("""() => new Promise((resolve, reject) => {
        const audio = document.createElement("audio");
        audio.preload = "metadata";
        audio.onloadedmetadata = resolve;
        audio.onerror = () => reject(new Error("the audio did not load"));
        audio.src = "/files/tone.wav";
        document.body.append(audio);
        window.testAudio = audio;
    })""")
    assert page.evaluate("() => testAudio.seekable.length") == 1
    assert page.evaluate("() => testAudio.seekable.end(0)") == pytest.approx(60, abs=0.1)
    page.evaluate("""() => new Promise(resolve => {
        testAudio.onseeked = resolve;
        testAudio.currentTime = 58;
    })""")
    page.wait_for_function("() => testAudio.readyState >= 2")  # data at the new position
    assert page.evaluate("() => testAudio.currentTime") == pytest.approx(58, abs=0.1)
    assert any(status == 206 and value.startswith("bytes ") and value.endswith("/10584044")
               for status, value in ranged), ranged


def test_running_tab_shuts_a_kernel_down(live_server: LiveServer, page: Any) -> None:
    if not kernels_available(live_server):
        pytest.skip("this server has no kernels yet (GET /api/kernelspecs)")
    nbformat.write(nbformat.v4.new_notebook(), str(live_server.root / "Run.ipynb"))
    page.goto(live_server.page_url(f"notebooks/Run.ipynb?token={live_server.token}"))
    page.wait_for_selector("#kernel-indicator[data-state='idle']", timeout=KERNEL_START_MS)
    open_dashboard(page, live_server)
    assert row(page, "Run.ipynb").locator(".badge.running").count() == 1
    page.click(".tab[data-tab='running']")
    page.locator("#running-kernels li button:has-text('Shut down')").first.click()
    page.wait_for_selector("#running-kernels li.empty")
    assert page.locator("#running-count").inner_text() == ""
    assert page.js_errors == []


def test_display_updates_replace_earlier_output(live_server: LiveServer, page: Any) -> None:
    if not kernels_available(live_server):
        pytest.skip("this server has no kernels yet (GET /api/kernelspecs)")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from IPython.display import display, HTML\n"
        "handle = display('first', display_id=True)\n"
        "handle.update('second')\n"
        "display(HTML('<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>'))")]
    nbformat.write(nb, str(live_server.root / "Display.ipynb"))
    page.goto(live_server.page_url(f"notebooks/Display.ipynb?token={live_server.token}"))
    page.wait_for_selector("#kernel-indicator[data-state='idle']", timeout=KERNEL_START_MS)
    page.locator(".cell .source .cm-content").first.press("Control+Enter")
    page.frame_locator("iframe.html-output").locator("td").first.wait_for()
    page.wait_for_selector(".cell .prompt:text('[1]:')")
    texts = page.locator(".output.display_data pre").all_inner_texts()
    assert texts == ["'second'"]
    screenshot(page, "notebook-display")
    assert page.js_errors == []


def test_notebook_renamed_from_its_page_keeps_its_links(live_server: LiveServer, page: Any) -> None:
    nbformat.write(nbformat.v4.new_notebook(), str(live_server.root / "Old name.ipynb"))
    page.goto(live_server.page_url(f"notebooks/Old name.ipynb?token={live_server.token}"))
    page.locator(".cell .source .cm-content").first.wait_for()
    page.click("#doc-name")
    page.fill("#dialog-input", "New name")
    page.click("#dialog-ok")
    page.wait_for_url(re.compile(r"/notebooks/New%20name\.ipynb$"))
    assert (live_server.root / "New name.ipynb").exists()
    assert not (live_server.root / "Old name.ipynb").exists()
    assert page.locator("#doc-name").inner_text() == "New name.ipynb"
    href = page.locator("a[data-prefix='nbconvert/html'][data-query='?download=1']").get_attribute("href")
    assert href.endswith("/nbconvert/html/New%20name.ipynb?download=1")
    assert page.js_errors == []


def test_unsaved_changes_are_autosaved(live_server: LiveServer, page: Any) -> None:
    notebook = live_server.root / "Auto.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(notebook))
    page.clock.install()
    page.goto(live_server.page_url(f"notebooks/Auto.ipynb?token={live_server.token}"))
    source = page.locator(".cell .source .cm-content").first
    source.wait_for()
    source.fill("autosaved = True")
    page.clock.run_for(121_000)  # past the two-minute autosave interval
    page.wait_for_selector("#save-state:text-matches('^Saved')")
    assert "autosaved = True" in notebook.read_text()


def test_a_kernel_shut_down_elsewhere_shows_as_dead_and_can_be_replaced(live_server: LiveServer, page: Any) -> None:
    if not kernels_available(live_server):
        pytest.skip("this server has no kernels yet (GET /api/kernelspecs)")
    nbformat.write(nbformat.v4.new_notebook(), str(live_server.root / "Dead.ipynb"))
    page.goto(live_server.page_url(f"notebooks/Dead.ipynb?token={live_server.token}"))
    page.wait_for_selector("#kernel-indicator[data-state='idle']", timeout=KERNEL_START_MS)
    request = urllib.request.Request(live_server.page_url("api/kernels"),
                                     headers={"Authorization": f"token {live_server.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        kernel_ids = [kernel["id"] for kernel in json.load(response)]
    for kernel_id in kernel_ids:
        urllib.request.urlopen(urllib.request.Request(
            live_server.page_url(f"api/kernels/{kernel_id}"), method="DELETE",
            headers={"Authorization": f"token {live_server.token}"}), timeout=30).close()
    page.wait_for_selector("#kernel-indicator[data-state='dead']", timeout=30_000)
    page.wait_for_selector("#banner:has-text('kernel has died')")
    screenshot(page, "notebook-kernel-dead")
    page.click("#banner-actions button:has-text('Start a new kernel')")
    page.wait_for_selector("#kernel-indicator[data-state='idle']", timeout=KERNEL_START_MS)
    cell = page.locator(".cell .source .cm-content").first
    cell.fill("print('alive')")
    cell.press("Control+Enter")
    page.locator(".output.stream").get_by_text("alive").wait_for()


def test_hidden_files_are_listed_only_when_the_server_allows(tmp_path: Path, page: Any) -> None:
    root = tmp_path / "hidden-root"
    root.mkdir()
    (root / ".config.txt").write_text("x")
    (root / "visible.txt").write_text("y")
    server = start_server(root, tmp_path / "hidden.log", extra_args=("--allow-hidden",))
    try:
        open_dashboard(page, server)
        names = page.locator("#file-rows tr[data-path] .name span").all_text_contents()
        assert names == [".config.txt", "visible.txt"]
    finally:
        stop_process_group(server.process)


def test_missing_folder_shows_a_friendly_404_page(live_server: LiveServer, page: Any) -> None:
    open_dashboard(page, live_server)
    response = page.goto(live_server.page_url("tree/no such folder"))
    assert response.status == 404
    assert "No such file or directory" in page.locator("main").inner_text()
    page.click("text=Back to the files")
    page.wait_for_url(re.compile(r"/tree$"))
    page.goto(live_server.page_url("tree/no such folder"))
    screenshot(page, "error-404")


def test_pages_work_under_a_base_url(tmp_path: Path, page: Any) -> None:
    root = tmp_path / "based-root"
    root.mkdir()
    write_notebook_with_outputs(root / "Outputs.ipynb")
    server = start_server(root, tmp_path / "based.log", extra_args=("--base-url", "/nb/"))
    try:
        assert server.url.endswith("/nb/")
        open_dashboard(page, server)
        page.click("text=Outputs.ipynb")
        page.wait_for_url(re.compile(r"/nb/notebooks/Outputs\.ipynb$"))
        page.wait_for_selector(".cell.markdown.rendered h1")
        if kernels_available(server):
            page.wait_for_selector("#kernel-indicator[data-state='idle']", timeout=KERNEL_START_MS)
            cell = page.locator(".cell.code .source .cm-content").first
            cell.fill("print('under /nb/')")
            cell.press("Control+Enter")
            page.locator(".output.stream").get_by_text("under /nb/").wait_for()
        assert page.js_errors == []
    finally:
        stop_process_group(server.process)


def test_a_person_without_the_token_url_logs_in_with_the_token(live_server: LiveServer, page: Any) -> None:
    page.goto(live_server.page_url("tree"))
    page.wait_for_selector("form input[type=password]")
    screenshot(page, "login")
    page.fill("input[type=password]", live_server.token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/tree$"))
    page.wait_for_selector("#file-rows tr.placeholder:has-text('empty')")


def test_input_asks_the_person_in_the_page(live_server: LiveServer, page: Any) -> None:
    if not kernels_available(live_server):
        pytest.skip("this server has no kernels yet (GET /api/kernelspecs)")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("name = input('Your name? ')\nprint('Hello,', name)")]
    nbformat.write(nb, str(live_server.root / "Ask.ipynb"))
    page.goto(live_server.page_url(f"notebooks/Ask.ipynb?token={live_server.token}"))
    page.wait_for_selector("#kernel-indicator[data-state='idle']", timeout=KERNEL_START_MS)
    page.locator(".cell .source .cm-content").first.press("Control+Enter")
    field = page.locator(".output.stdin input")
    field.wait_for()
    assert page.locator(".stdin-prompt").inner_text() == "Your name?"
    screenshot(page, "notebook-input")
    field.fill("Ada")
    field.press("Enter")
    page.locator(".output.stream").get_by_text("Hello, Ada").wait_for()
    assert "Your name? Ada" in page.locator(".output.stream").inner_text()
    assert page.js_errors == []
