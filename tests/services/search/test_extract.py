"""What the index keeps of notebooks and text files, within the caps."""

from __future__ import annotations

import json

from nbserver.services.search.extract import Limits, extract_notebook, extract_text_file, title_of


def notebook_bytes(cells: list[dict[str, object]]) -> bytes:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def test_notebook_cells_title_and_short_text_outputs() -> None:
    data = notebook_bytes([
        {"cell_type": "markdown", "source": ["Intro\n", "## The *Title*\n"]},
        {"cell_type": "code", "source": "print(1)", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": "1\n"},
            {"output_type": "execute_result", "data": {"text/plain": "'x' * 5000", "text/html": "<b>no</b>"}},
            {"output_type": "display_data", "data": {"image/png": "AAAA"}}]},
        {"cell_type": "raw", "source": "raw text"},
    ])
    document = extract_notebook("a.ipynb", data, Limits(output_chars=20))
    assert document.title == "The *Title*"
    assert [(s.column, s.cell_index, s.cell_type) for s in document.segments] == [
        ("markdown", 0, "markdown"), ("code", 1, "code"), ("outputs", 1, "code"), ("code", 2, "raw")]
    assert document.segments[2].text == "1\n\n'x' * 5000"[:len("1\n") + 1 + 12]
    assert "<b>" not in "".join(document.column_texts())
    assert document.column_texts()[0] == "a.ipynb"


def test_caps_per_file_and_for_outputs() -> None:
    cells = [{"cell_type": "code", "source": "y" * 100, "outputs": [{"output_type": "stream", "text": "z" * 100}]}
             for _ in range(10)]
    document = extract_notebook("a.ipynb", notebook_bytes(cells), Limits(chars_per_file=500, outputs_chars=150))
    texts = document.column_texts()
    assert len(texts[3]) + len(texts[4]) <= 500 + 20  # newlines between segments
    assert len(texts[4].replace("\n", "")) == 150


def test_not_a_notebook_is_found_by_name_only() -> None:
    for data in (b"{not json", b"[1, 2]", b'{"cells": 3}'):
        document = extract_notebook("bad.ipynb", data, Limits())
        assert document.segments == [] and document.name == "bad.ipynb"


def test_text_files_markdown_and_binaries() -> None:
    assert extract_text_file("a.py", "x = 'é'".encode(), Limits()).segments[0].text == "x = 'é'"
    markdown = extract_text_file("r.md", b"# Read me\ntext", Limits())
    assert markdown.title == "Read me" and markdown.segments[0].column == "markdown"
    assert extract_text_file("b.bin", b"\x00\x01\x02", Limits()).segments == []
    assert extract_text_file("c.txt", b"\xff\xfe bad utf-8 \xff" + b"x" * 10, Limits()).segments == []


def test_title_of() -> None:
    assert title_of("text\n# First ##\n# Second") == "First"
    assert title_of("#not a heading") == ""
