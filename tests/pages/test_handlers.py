"""The page routes over HTTP: redirects, escaping, /files headers and caching, /nbconvert."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest


def write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Hello\n\nSome *text*."),
        nbformat.v4.new_code_cell("print('hi')", outputs=[nbformat.v4.new_output("stream", name="stdout", text="hi\n")]),
    ]
    nb.metadata["language_info"] = {"name": "python", "file_extension": ".py", "mimetype": "text/x-python"}
    nbformat.write(nb, str(path))


# -- pages --------------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_root_redirects_to_tree(api):
    response = await api.get("")
    assert response.status in (301, 302)
    assert response.headers["Location"].endswith("/tree")


@pytest.mark.gen_test
async def test_tree_of_a_folder_is_an_html_page(api, root_dir):
    (root_dir / "sub").mkdir()
    response = await api.get("tree/sub")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert b'data-path="sub"' in response.body


@pytest.mark.gen_test
async def test_tree_escapes_folder_names(api, root_dir):
    name = "<img src=x onerror=alert(1)>&\""
    (root_dir / name).mkdir()
    response = await api.get(f"tree/{name}")
    assert response.status == 200
    html = response.body.decode()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;&#34;" in html


@pytest.mark.gen_test
async def test_tree_of_a_notebook_redirects_to_the_notebook_page(api, root_dir):
    write_notebook(root_dir / "a.ipynb")
    response = await api.get("tree/a.ipynb")
    assert response.status == 302
    assert response.headers["Location"].endswith("/notebooks/a.ipynb")


@pytest.mark.gen_test
async def test_tree_of_a_text_file_redirects_to_the_editor(api, root_dir):
    (root_dir / "notes.txt").write_text("x")
    response = await api.get("tree/notes.txt")
    assert response.status == 302
    assert response.headers["Location"].endswith("/edit/notes.txt")


@pytest.mark.gen_test
async def test_tree_of_a_missing_folder_is_an_html_404(api):
    response = await api.get("tree/nowhere")
    assert response.status == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert b"nowhere" in response.body


@pytest.mark.gen_test
async def test_a_broken_error_template_still_gives_the_status_and_a_plain_page(api, monkeypatch):
    from nbserver.pages.base import PageBase

    def broken(self, template_name, **context):
        raise RuntimeError("template exploded")

    monkeypatch.setattr(PageBase, "render_template", broken)
    response = await api.get("tree/nowhere")
    assert response.status == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert b"<h1>404 Not Found</h1>" in response.body
    assert b"exploded" not in response.body and b"Traceback" not in response.body


@pytest.mark.gen_test
async def test_tree_of_a_hidden_folder_is_404(api, root_dir):
    (root_dir / ".secret").mkdir()
    response = await api.get("tree/.secret")
    assert response.status == 404


@pytest.mark.gen_test
async def test_pages_without_login_redirect_to_the_login_page(api):
    response = await api.get("tree", authenticated=False)
    assert response.status == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.gen_test
async def test_notebook_page_renders_and_missing_notebook_is_404(api, root_dir):
    write_notebook(root_dir / "a b.ipynb")
    response = await api.get("notebooks/a b.ipynb")
    assert response.status == 200
    assert b'data-path="a b.ipynb"' in response.body
    assert (await api.get("notebooks/missing.ipynb")).status == 404


@pytest.mark.gen_test
async def test_notebook_print_view_is_marked(api, root_dir):
    write_notebook(root_dir / "a.ipynb")
    response = await api.get("notebooks/a.ipynb?print")
    assert response.status == 200
    assert b'data-print="true"' in response.body


@pytest.mark.gen_test
async def test_edit_page_and_view_page(api, root_dir):
    (root_dir / "notes.txt").write_text("x")
    (root_dir / "page.html").write_text("<p>hi</p>")
    assert (await api.get("edit/notes.txt")).status == 200
    view = await api.get("view/page.html")
    assert view.status == 200
    assert b'sandbox=""' in view.body
    assert (await api.get("edit/missing.txt")).status == 404


# -- /files -------------------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_files_serves_bytes_with_type_from_extension(api, root_dir):
    (root_dir / "data.csv").write_text("a,b\n1,2\n")
    response = await api.get("files/data.csv")
    assert response.status == 200
    assert response.body == b"a,b\n1,2\n"
    assert response.headers["Content-Type"] == "text/csv; charset=UTF-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Last-Modified" in response.headers and "ETag" in response.headers


@pytest.mark.gen_test
@pytest.mark.parametrize("name", ["page.html", "drawing.svg", "doc.xhtml", "data.xml", "x.js"])
async def test_files_sandboxes_active_content(api, root_dir, name):
    (root_dir / name).write_text("<script>alert(document.cookie)</script>")
    response = await api.get(f"files/{name}")
    assert response.status == 200
    assert response.headers["Content-Security-Policy"].split(";")[0] == "sandbox"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.gen_test
async def test_files_download_is_an_attachment_with_the_utf8_name(api, root_dir):
    (root_dir / "résumé.txt").write_text("x")
    response = await api.get("files/résumé.txt?download=1")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9.txt" in disposition


@pytest.mark.gen_test
async def test_files_answers_304_to_a_matching_etag(api, root_dir):
    (root_dir / "a.txt").write_text("x")
    first = await api.get("files/a.txt")
    again = await api.get("files/a.txt", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304
    assert again.body == b""
    since = await api.get("files/a.txt", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status == 304


@pytest.mark.gen_test
async def test_files_etag_changes_when_the_file_does(api, root_dir):
    target = root_dir / "a.txt"
    target.write_text("x")
    first = await api.get("files/a.txt")
    target.write_text("longer")
    second = await api.get("files/a.txt", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status == 200
    assert second.body == b"longer"


@pytest.mark.gen_test
async def test_files_streams_a_large_file_whole(api, root_dir):
    data = bytes(range(256)) * (5 * 4096 + 7)  # about 5 MB: several chunks
    (root_dir / "big.bin").write_bytes(data)
    response = await api.get("files/big.bin")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.body == data


@pytest.mark.gen_test
async def test_files_hides_hidden_files(api, root_dir):
    (root_dir / ".env").write_text("SECRET=1")
    (root_dir / ".hidden").mkdir()
    (root_dir / ".hidden" / "a.txt").write_text("x")
    assert (await api.get("files/.env")).status == 404
    assert (await api.get("files/.hidden/a.txt")).status == 404


@pytest.mark.gen_test
async def test_files_stays_inside_the_root(api, root_dir):
    (root_dir.parent / "outside.txt").write_text("secret")
    response = await api.get("files/%2E%2E/outside.txt")
    assert response.status in (400, 404)
    assert b"secret" not in response.body


@pytest.mark.gen_test
async def test_files_of_a_folder_or_missing_file_is_404(api, root_dir):
    (root_dir / "sub").mkdir()
    assert (await api.get("files/sub")).status == 404
    assert (await api.get("files/missing.txt")).status == 404


@pytest.mark.gen_test(timeout=10)
async def test_files_of_a_fifo_is_404_without_waiting_for_a_writer(api, root_dir):
    os.mkfifo(root_dir / "pipe")
    assert (await api.get("files/pipe")).status == 404


@pytest.mark.gen_test
async def test_files_head_sends_headers_only(api, root_dir):
    (root_dir / "a.txt").write_text("hello")
    response = await api.request("HEAD", "files/a.txt")
    assert response.status == 200
    assert response.headers["Content-Length"] == "5"
    assert response.body == b""


# -- /nbconvert and /api/nbconvert ----------------------------------------------------------------

@pytest.mark.gen_test(timeout=60)
async def test_nbconvert_html_is_sandboxed_html(api, root_dir):
    write_notebook(root_dir / "a.ipynb")
    response = await api.get("nbconvert/html/a.ipynb")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert response.headers["Content-Security-Policy"].split(";")[0] == "sandbox"
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert b"Hello" in response.body


@pytest.mark.gen_test(timeout=60)
async def test_nbconvert_download_is_an_attachment(api, root_dir):
    write_notebook(root_dir / "a.ipynb")
    response = await api.get("nbconvert/html/a.ipynb?download=1")
    assert response.status == 200
    assert response.headers["Content-Disposition"].startswith('attachment; filename="a.html"')


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("format, extension, text", [
    ("script", ".py", b"print('hi')"),
    ("python", ".py", b"print('hi')"),
    ("markdown", ".md", b"# Hello"),
    ("notebook", ".ipynb", b'"cell_type": "markdown"'),
])
async def test_nbconvert_formats(api, root_dir, format, extension, text):
    write_notebook(root_dir / "a.ipynb")
    response = await api.get(f"nbconvert/{format}/a.ipynb?download=1")
    assert response.status == 200
    assert f'filename="a{extension}"' in response.headers["Content-Disposition"]
    assert text in response.body


@pytest.mark.gen_test
async def test_nbconvert_unknown_format_is_404(api, root_dir):
    write_notebook(root_dir / "a.ipynb")
    assert (await api.get("nbconvert/nosuchformat/a.ipynb")).status == 404


@pytest.mark.gen_test
async def test_nbconvert_of_a_missing_or_non_notebook_file(api, root_dir):
    (root_dir / "a.txt").write_text("x")
    assert (await api.get("nbconvert/html/missing.ipynb")).status == 404
    assert (await api.get("nbconvert/html/a.txt")).status == 400


@pytest.mark.gen_test(timeout=60)
async def test_nbconvert_failure_is_a_clear_500_without_details(api, root_dir, monkeypatch):
    import nbconvert.exporters

    def broken(self, nb, resources=None, **kw):
        raise RuntimeError("/secret/path/template.tpl missing")

    monkeypatch.setattr(nbconvert.exporters.MarkdownExporter, "from_notebook_node", broken)
    write_notebook(root_dir / "a.ipynb")
    response = await api.get("nbconvert/markdown/a.ipynb")
    assert response.status == 500
    assert b"could not export this notebook to markdown" in response.body
    assert b"/secret/path" not in response.body


@pytest.mark.gen_test
async def test_pdf_is_viewed_in_an_embed_and_served_unsandboxed_for_the_viewer(api, root_dir):
    (root_dir / "paper.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    view = await api.get("view/paper.pdf")
    assert view.status == 200
    assert b'<embed src="/files/paper.pdf" type="application/pdf"' in view.body
    served = await api.get("files/paper.pdf")
    assert served.headers["Content-Type"] == "application/pdf"
    assert "sandbox" not in served.headers.get("Content-Security-Policy", "")
    assert served.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.gen_test(timeout=60)
async def test_nbconvert_says_when_a_format_needs_pandoc(api, root_dir, monkeypatch):
    import nbconvert.exporters
    from nbconvert.utils.pandoc import PandocMissing

    def no_pandoc(self, nb, resources=None, **kw):
        raise PandocMissing()

    monkeypatch.setattr(nbconvert.exporters.RSTExporter, "from_notebook_node", no_pandoc)
    write_notebook(root_dir / "a.ipynb")
    response = await api.get("nbconvert/rst/a.ipynb")
    assert response.status == 500
    assert b"needs pandoc" in response.body
