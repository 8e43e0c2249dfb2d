"""/rstservice/render and /view of .rst and .md files: real docutils and markdown-it output, served sandboxed."""

from __future__ import annotations

import pytest

from nbserver.pages import documents
from nbserver.pages.files import SANDBOX_CSP

RST = """\
Report
======

Some *emphasis* and a list:

- one
- two

Section
-------

.. include:: /etc/passwd

.. raw:: html

   <script>alert("raw")</script>

.. csv-table:: numbers
   :file: /etc/passwd
"""


def assert_sandboxed_html(response) -> str:
    assert response.status == 200, response.body
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert response.headers["Content-Security-Policy"] == SANDBOX_CSP
    return response.body.decode()


@pytest.mark.gen_test(timeout=60)
async def test_an_rst_file_renders_with_docutils(api, root_dir):
    (root_dir / "report.rst").write_text(RST)
    html = assert_sandboxed_html(await api.get("rstservice/render", params={"path": "report.rst"}))
    assert '<h1 class="title">Report</h1>' in html
    assert "<em>emphasis</em>" in html and "<li><p>one</p></li>" in html
    assert "<h2" in html and "Section" in html
    assert "css/rendered.css" in html


@pytest.mark.gen_test(timeout=60)
async def test_include_raw_and_file_options_are_refused_and_leave_no_trace(api, root_dir):
    (root_dir / "report.rst").write_text(RST)
    html = assert_sandboxed_html(await api.get("rstservice/render", params={"path": "report.rst"}))
    with open("/etc/passwd") as handle:
        first_line = handle.readline().strip()
    assert first_line not in html and "root:" not in html
    assert "<script" not in html and "alert(" not in html
    assert "System Message" not in html and "directive disabled" not in html


@pytest.mark.gen_test(timeout=60)
async def test_post_renders_the_body_as_rst_by_default(api):
    response = await api.post("rstservice/render", raw_body="Hello *there*\n\n.. raw:: html\n\n   <b>x</b>\n".encode(),
                              headers={"Content-Type": "text/plain"})
    html = assert_sandboxed_html(response)
    assert "<p>Hello <em>there</em></p>" in html and "<b>x</b>" not in html


@pytest.mark.gen_test(timeout=60)
async def test_a_problem_at_the_halt_level_is_a_422_json_error(api, monkeypatch):
    # With file insertion off, docutils 0.2x has no *severe* (level 4) problem left that text can
    # cause, so the halt level is lowered to "error" to make real docutils stop on an unknown directive.
    monkeypatch.setitem(documents.SAFE_DOCUTILS_SETTINGS, "halt_level", 3)
    response = await api.post("rstservice/render", raw_body=b"Text\n\n.. no-such-directive::\n")
    assert response.status == 422
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["reason"] == "Unprocessable Entity" and "no-such-directive" in body["message"]


@pytest.mark.gen_test(timeout=60)
async def test_errors_below_the_halt_level_render_quietly(api):
    response = await api.post("rstservice/render", raw_body=b"Text\n\n.. no-such-directive::\n")
    html = assert_sandboxed_html(response)
    assert "<p>Text</p>" in html and "no-such-directive" not in html


@pytest.mark.gen_test(timeout=60)
async def test_a_markdown_file_renders_with_raw_html_escaped(api, root_dir):
    (root_dir / "notes.md").write_text("# Notes\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script>\n\n"
                                       "[bad](javascript:alert(2)) [good](https://example.org/)\n")
    html = assert_sandboxed_html(await api.get("rstservice/render", params={"path": "notes.md"}))
    assert "<h1>Notes</h1>" in html and "<td>1</td>" in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html and 'href="https://example.org/"' in html


@pytest.mark.gen_test(timeout=60)
async def test_post_with_the_markdown_format(api):
    response = await api.post("rstservice/render", params={"format": "markdown"}, raw_body=b"*hi* <i>x</i>")
    assert "<p><em>hi</em> &lt;i&gt;x&lt;/i&gt;</p>" in assert_sandboxed_html(response)


@pytest.mark.gen_test(timeout=60)
async def test_bad_requests_are_json_errors(api, root_dir):
    (root_dir / "data.csv").write_text("a,b\n")
    (root_dir / "bin.rst").write_bytes(b"\xff\xfe\x00bad")
    cases = [
        (await api.get("rstservice/render", params={"path": "data.csv"}), 400),
        (await api.get("rstservice/render", params={"path": "missing.rst"}), 404),
        (await api.get("rstservice/render", params={"path": "bin.rst"}), 400),
        (await api.post("rstservice/render", params={"format": "latex"}, raw_body=b"x"), 400),
        (await api.post("rstservice/render", raw_body=b"\xff\xfe"), 400),
        (await api.get("rstservice/render", params={"path": "report.rst"}, authenticated=False), 401),
    ]
    for response, status in cases:
        assert response.status == status, response.body
        body = response.json()
        assert set(body) >= {"message", "reason"} and "/" + str(root_dir).strip("/") not in body["message"]


@pytest.mark.gen_test(timeout=60)
async def test_view_of_rst_and_md_frames_the_rendered_document_sandboxed(api, root_dir):
    (root_dir / "a b.rst").write_text("Hi\n")
    (root_dir / "c.md").write_text("# Hi\n")
    rst_view = (await api.get("view/a b.rst")).body.decode()
    assert 'src="/rstservice/render?path=a%20b.rst" sandbox=""' in rst_view
    md_view = (await api.get("view/c.md")).body.decode()
    assert 'src="/rstservice/render?path=c.md" sandbox=""' in md_view
