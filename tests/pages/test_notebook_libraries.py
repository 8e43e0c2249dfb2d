"""The notebook page on its libraries, in headless Chromium: CodeMirror cells with the kernel's
completion, markdown-it + DOMPurify + KaTeX, and rich outputs (matplotlib PNG, Plotly, display
updates, ANSI tracebacks, text/latex, JSON, PDF). Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import base64
from typing import Any

import nbformat
import pytest

from tests.pages.test_browser import KERNEL_START_MS, kernels_available
from tests.support.browser import LiveServer, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

OUTPUT_MS = 60_000  # a first matplotlib or plotly import in a fresh kernel can take a while on a busy machine


def open_notebook(page: Any, server: LiveServer, name: str, cells: list[Any], kernel: bool = True) -> None:
    """Write a notebook of ``cells``, open its page, and (with ``kernel``) wait for an idle kernel."""
    if kernel and not kernels_available(server):
        pytest.skip("this server has no kernels (GET /api/kernelspecs)")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = cells
    nbformat.write(nb, str(server.root / name))
    page.goto(server.page_url(f"notebooks/{name}?token={server.token}"))
    page.locator(".cell").first.wait_for(state="attached")
    if kernel:
        page.wait_for_selector("#kernel-indicator[data-state='idle']", timeout=KERNEL_START_MS)


def cell_text(page: Any, index: int) -> str:
    return str(page.locator(".cell").nth(index).locator(".cm-content").inner_text())


def wait_for_line(page: Any, index: int, line: int, text: str) -> None:
    """Wait until line ``line`` of cell ``index`` reads ``text`` (a busy page may draw a key late)."""
    page.wait_for_function("([index, line, text]) => (document.querySelectorAll('.cell')[index]"
                           ".querySelector('.cm-content').innerText.split('\\n')[line] === text)", arg=[index, line, text])


def run_all(page: Any) -> None:
    page.click("[data-command='run-all']")


# -- the editor ---------------------------------------------------------------------------------

def test_typing_code_indents_after_a_colon_and_closes_brackets(live_server: LiveServer, page: Any) -> None:
    open_notebook(page, live_server, "Typing.ipynb", [nbformat.v4.new_code_cell("")], kernel=False)
    page.locator(".cell .cm-content").first.click()
    page.keyboard.type("def double(values):\nreturn [v * 2 for v in values")
    assert cell_text(page, 0) == "def double(values):\n    return [v * 2 for v in values]"
    # The cursor stands before the bracket that closes the list: both brackets show as a pair.
    assert page.locator(".cell .cm-matchingBracket").count() == 2
    screenshot(page, "editor-indent-brackets")
    page.wait_for_timeout(700)  # past CodeMirror's 500 ms undo grouping: the toggle is an undo step of its own
    page.keyboard.press("Control+/")
    wait_for_line(page, 0, 1, "    # return [v * 2 for v in values]")
    page.keyboard.press("Control+z")
    wait_for_line(page, 0, 1, "    return [v * 2 for v in values]")
    page.keyboard.press("Home")
    page.keyboard.press("Shift+Tab")
    wait_for_line(page, 0, 1, "return [v * 2 for v in values]")
    page.keyboard.press("Escape")  # command mode: the notebook's keys work again
    page.keyboard.press("b")
    assert page.locator(".cell").count() == 2
    assert page.js_errors == []


def test_tab_completes_a_name_from_the_kernel_and_shift_tab_shows_its_help(live_server: LiveServer, page: Any) -> None:
    open_notebook(page, live_server, "Complete.ipynb", [nbformat.v4.new_code_cell("import collections")])
    page.locator(".cell .cm-content").first.click()
    page.keyboard.press("Shift+Enter")  # runs it and opens a new cell below, in edit mode
    page.wait_for_selector(".cell .prompt:text('[1]:')", timeout=OUTPUT_MS)
    page.keyboard.type("collections.OrderedDi")
    page.keyboard.press("Tab")
    page.wait_for_function("document.querySelectorAll('.cell .cm-content')[1].innerText.endsWith('OrderedDict')",
                           timeout=OUTPUT_MS)
    assert cell_text(page, 1) == "collections.OrderedDict"
    page.keyboard.press("Shift+Tab")
    tooltip = page.locator(".cm-tooltip.inspect-tooltip")
    tooltip.wait_for(timeout=OUTPUT_MS)
    assert "OrderedDict" in tooltip.inner_text()
    screenshot(page, "editor-kernel-help")
    page.keyboard.press("Escape")
    assert tooltip.count() == 0
    page.keyboard.type("\ncollections.")
    page.keyboard.press("Tab")  # several matches: CodeMirror's list
    page.locator(".cm-tooltip-autocomplete li", has_text="namedtuple").first.wait_for(timeout=OUTPUT_MS)
    screenshot(page, "editor-completion-list")
    assert page.js_errors == []


# -- markdown -----------------------------------------------------------------------------------

MARKDOWN = """# Results table

| name | value |
| ---- | ----: |
| pi   | 3.14  |
| e    | 2.72  |

Euler: $e^{i\\pi}+1=0$, ~~struck~~ and a display:

$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$

\\begin{equation}
a^2 + b^2 = c^2
\\end{equation}

Broken: $\\frac{1}{$ stays as text.
"""


def test_markdown_renders_a_table_and_math_with_katex(live_server: LiveServer, page: Any) -> None:
    open_notebook(page, live_server, "Markdown.ipynb", [nbformat.v4.new_markdown_cell(MARKDOWN)], kernel=False)
    rendered = page.locator(".cell.markdown.rendered .markdown-rendered")
    rendered.locator("table").wait_for()
    assert rendered.locator("th").all_inner_texts() == ["name", "value"]
    assert rendered.locator("td").all_inner_texts() == ["pi", "3.14", "e", "2.72"]
    assert rendered.locator("s").inner_text() == "struck"
    assert rendered.locator("h1").get_attribute("id") == "Results-table"
    assert rendered.locator("h1 a.anchor-link").get_attribute("href") == "#Results-table"
    euler = rendered.locator(".katex").first
    drawn = euler.locator(".katex-html").evaluate("node => node.textContent.replace(/[\\s\\u200b]/g, '')")
    assert drawn == "eiπ+1=0"
    assert euler.locator("math").count() == 1  # and its MathML, for screen readers
    assert rendered.locator(".katex-display").count() == 2  # $$..$$ and \begin{equation}
    assert rendered.locator(".math-source").inner_text() == "$\\frac{1}{$"
    # KaTeX's fonts came from this server and were used.
    page.wait_for_function("document.fonts.check('16px KaTeX_Main')")
    screenshot(page, "markdown-table-katex")
    assert page.js_errors == []


def test_script_in_markdown_does_not_run(live_server: LiveServer, page: Any) -> None:
    source = ("Hello <b>raw html</b>\n\n<script>window.markdownRan = 1</script>\n\n"
              "<img src=\"missing.png\" onerror=\"window.markdownRan = 2\" alt=\"x\">\n\n"
              "<a href=\"javascript:window.markdownRan = 3\" id=\"bad-link\">link</a>\n\n"
              "<svg><script>window.markdownRan = 4</script></svg>\n")
    open_notebook(page, live_server, "Script.ipynb", [nbformat.v4.new_markdown_cell(source)], kernel=False)
    rendered = page.locator(".cell.markdown.rendered .markdown-rendered")
    assert rendered.locator("b").inner_text() == "raw html"  # raw HTML is kept, as Jupyter keeps it
    assert rendered.locator("script").count() == 0
    assert rendered.locator("img").get_attribute("onerror") is None
    assert rendered.locator("#bad-link").get_attribute("href") is None
    rendered.locator("#bad-link").click()
    page.wait_for_timeout(300)
    assert page.evaluate("window.markdownRan") is None
    screenshot(page, "markdown-script-stripped")
    assert page.js_errors == []


# -- outputs from the kernel --------------------------------------------------------------------

def test_matplotlib_figure_shows_as_png(live_server: LiveServer, page: Any) -> None:
    open_notebook(page, live_server, "Matplotlib.ipynb", [nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('rising')\nplt.show()")])
    run_all(page)
    image = page.locator(".output.display_data img[src^='data:image/png']")
    image.wait_for(timeout=OUTPUT_MS)
    page.wait_for_function("document.querySelector('.output img').naturalWidth > 200")
    screenshot(page, "output-matplotlib")
    assert page.js_errors == []


def test_plotly_figure_is_drawn_with_plotly_js_loaded_on_demand(live_server: LiveServer, page: Any) -> None:
    open_notebook(page, live_server, "Plotly.ipynb", [nbformat.v4.new_code_cell(
        "import plotly.graph_objects as go\n"
        "fig = go.Figure(go.Bar(x=['a', 'b', 'c'], y=[2, 5, 3]))\nfig.update_layout(title='bars')\nfig.show()")])
    assert page.evaluate("window.Plotly === undefined && !document.querySelector('script[src*=plotly]')")
    run_all(page)
    page.locator(".plotly-output svg.main-svg").first.wait_for(timeout=OUTPUT_MS)
    assert page.locator(".plotly-output .bars path").count() == 3
    screenshot(page, "output-plotly")
    assert page.js_errors == []


def test_display_is_updated_by_its_id_and_clear_output_waits(live_server: LiveServer, page: Any) -> None:
    open_notebook(page, live_server, "Updates.ipynb", [
        nbformat.v4.new_code_cell("from IPython.display import Markdown, display, update_display, clear_output\n"
                                  "handle = display(Markdown('**first**'), display_id='progress')"),
        nbformat.v4.new_code_cell("update_display(Markdown('**second**'), display_id='progress')"),
        nbformat.v4.new_code_cell("import time\nfor i in range(3):\n    clear_output(wait=True)\n"
                                  "    print('step', i)\n    time.sleep(0.1)"),
    ])
    run_all(page)
    page.wait_for_selector(".cell:nth-child(3) .prompt:text('[3]:')", timeout=OUTPUT_MS)
    first = page.locator(".cell").nth(0).locator(".output")
    assert first.count() == 1 and first.locator("strong").inner_text() == "second"
    assert page.locator(".cell").nth(1).locator(".output").count() == 0
    assert [text.strip() for text in page.locator(".cell").nth(2).locator(".output").all_inner_texts()] == ["step 2"]
    screenshot(page, "output-display-update")
    assert page.js_errors == []


def test_traceback_shows_ansi_colours(live_server: LiveServer, page: Any) -> None:
    open_notebook(page, live_server, "Error.ipynb", [nbformat.v4.new_code_cell("def f():\n    return 1 / 0\nf()")])
    run_all(page)
    error = page.locator(".output.error")
    error.wait_for(timeout=OUTPUT_MS)
    coloured = error.locator("span[class*='ansi-']")
    assert coloured.count() > 3
    assert "ZeroDivisionError" in error.inner_text()
    assert "\x1b" not in error.inner_text()
    colours = page.evaluate("[...document.querySelectorAll('.output.error span')].map(s => getComputedStyle(s).color)")
    assert len(set(colours)) > 1
    screenshot(page, "output-ansi-traceback")
    assert page.js_errors == []


# -- saved outputs ------------------------------------------------------------------------------

GIF_DOT = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


def test_saved_rich_outputs_render_by_mime_type(live_server: LiveServer, page: Any) -> None:
    pdf = base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode()
    outputs = [
        nbformat.v4.new_output("display_data", data={"text/latex": "$$\\sum_{k=1}^n k = \\frac{n(n+1)}{2}$$",
                                                     "text/plain": "<Latex>"}),
        nbformat.v4.new_output("display_data", data={"text/latex": "\\badcommand{", "text/plain": "<Latex>"}),
        nbformat.v4.new_output("display_data", data={"application/json": {"name": "x", "list": [1, 2, {"deep": True}]},
                                                     "text/plain": "{...}"}),
        nbformat.v4.new_output("display_data", data={"application/pdf": pdf, "text/plain": "<PDF>"}),
        nbformat.v4.new_output("display_data", data={"image/gif": GIF_DOT, "text/plain": "<GIF>"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": "Some *markdown* with $x^2$", "text/plain": "md"}),
        nbformat.v4.new_output("stream", name="stdout", text="\x1b[32mgreen\x1b[0m and plain\n"),
    ]
    open_notebook(page, live_server, "Saved.ipynb", [nbformat.v4.new_code_cell("show()", outputs=outputs)], kernel=False)
    types = page.locator(".output > [data-mime-type]").evaluate_all("nodes => nodes.map(n => n.dataset.mimeType)")
    assert types == ["text/latex", "text/latex", "application/json", "application/pdf", "image/gif", "text/markdown"]
    assert page.locator(".latex-output .katex-display").count() == 1
    assert page.locator(".latex-output .math-source").inner_text() == "\\badcommand{"
    tree = page.locator(".json-tree")
    assert tree.locator("details").count() == 3
    tree.locator("summary").first.click()  # folds the whole object
    assert tree.locator(".json-key", has_text='"name"').is_visible() is False
    assert (page.locator("a.pdf-output").get_attribute("href") or "").startswith("blob:")
    assert page.locator(".output img[src^='data:image/gif']").count() == 1
    assert page.locator(".output .markdown-rendered em").inner_text() == "markdown"
    assert page.locator(".output .markdown-rendered").is_visible()
    assert page.locator(".output .markdown-rendered .katex").count() == 1
    assert page.locator(".output.stream .ansi-green-fg").inner_text() == "green"
    screenshot(page, "output-saved-rich", full_page=True)
    assert page.js_errors == []


def test_plotly_output_wins_over_html_as_jupyter_orders_them(live_server: LiveServer, page: Any) -> None:
    figure = {"data": [{"type": "scatter", "x": [1, 2, 3], "y": [3, 1, 2]}], "layout": {"title": {"text": "saved"}}}
    outputs = [nbformat.v4.new_output("display_data", data={
        "application/vnd.plotly.v1+json": figure, "text/html": "<b>html fallback</b>", "text/plain": "Figure"})]
    open_notebook(page, live_server, "SavedPlotly.ipynb", [nbformat.v4.new_code_cell("fig", outputs=outputs)], kernel=False)
    page.locator(".plotly-output svg.main-svg").first.wait_for()
    assert page.locator("iframe.html-output").count() == 0
    assert page.locator(".plotly-output .scatterlayer .trace").count() == 1
    assert page.js_errors == []


def test_edit_page_highlights_python_and_saves(live_server: LiveServer, page: Any) -> None:
    (live_server.root / "script.py").write_text("def greet():\n    return 'hi'\n")
    page.goto(live_server.page_url(f"edit/script.py?token={live_server.token}"))
    content = page.locator("#editor .cm-content[contenteditable='true']")
    content.wait_for()
    assert content.get_attribute("data-language") == "python"
    page.locator("#editor .cm-line").nth(1).click()
    page.keyboard.press("End")
    page.keyboard.type("\nprint(greet(")
    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-state:text-matches('^Saved')")
    assert (live_server.root / "script.py").read_text() == "def greet():\n    return 'hi'\n    print(greet())\n"
    screenshot(page, "edit-page-python")
    assert page.js_errors == []


# -- what the page loads, and when -------------------------------------------------------------


def resource_entries(page: Any, part: str) -> list[dict[str, float]]:
    """The page's resource timings (ms since navigation) of the URLs containing ``part``."""
    return list(page.evaluate("(part) => performance.getEntriesByType('resource').filter(r => r.name.includes(part))"
                              ".map(r => ({start: r.startTime, end: r.responseEnd}))", part))


def test_the_notebook_is_requested_once_while_the_page_modules_load(live_server: LiveServer, page: Any) -> None:
    open_notebook(page, live_server, "Early.ipynb", [nbformat.v4.new_code_cell("1 + 1")], kernel=False)
    page.locator(".cell .cm-content").first.wait_for()
    [notebook] = resource_entries(page, "/api/contents/Early.ipynb?type=notebook")
    [render] = resource_entries(page, "/static/dist/render.js")
    assert notebook["start"] < render["end"], (notebook, render)  # not after every module has arrived
    assert page.js_errors == []


def test_katex_is_loaded_only_when_math_is_shown(live_server: LiveServer, page: Any) -> None:
    open_notebook(page, live_server, "Plain.ipynb", [nbformat.v4.new_markdown_cell("# Plain\n\nNo *math* here.")],
                  kernel=False)
    page.locator(".cell.markdown.rendered h1").wait_for()
    page.wait_for_timeout(300)
    assert resource_entries(page, "/chunks/katex-") == []
    open_notebook(page, live_server, "Math.ipynb", [nbformat.v4.new_markdown_cell("Euler: $e^{i\\pi} + 1 = 0$")],
                  kernel=False)
    euler = page.locator(".cell.markdown.rendered .katex").first
    assert euler.locator(".katex-html").evaluate("node => node.textContent.replace(/[\\s\\u200b]/g, '')") == "eiπ+1=0"
    assert len(resource_entries(page, "/chunks/katex-")) == 1
    assert page.locator(".math-pending").count() == 0
    assert page.js_errors == []


def test_math_far_below_the_viewport_is_drawn_when_it_comes_near(live_server: LiveServer, page: Any) -> None:
    tall = nbformat.v4.new_code_cell("print('line\\n' * 400)", outputs=[
        nbformat.v4.new_output("stream", name="stdout", text="line\n" * 400)])
    open_notebook(page, live_server, "Far.ipynb", [tall, nbformat.v4.new_markdown_cell("Far: $a^2$")], kernel=False)
    page.locator(".cell.markdown .math-pending").wait_for(state="attached")
    page.wait_for_timeout(500)
    assert page.locator(".cell.markdown .katex").count() == 0  # its source waits, as its text
    assert page.locator(".cell.markdown .math-pending").text_content() == "a^2"
    page.locator(".cell.markdown").scroll_into_view_if_needed()
    page.locator(".cell.markdown .katex").wait_for()
    assert page.locator(".math-pending").count() == 0
    assert page.js_errors == []
