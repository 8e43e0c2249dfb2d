"""What the search index keeps of a file: its name, title and text, cell by cell (design section 3.12).

A notebook gives its markdown, code and raw cell sources, and short plain-text outputs
(``stream`` text and ``text/plain``, at most ``output_chars`` per output and
``outputs_chars`` per notebook: outputs are noisy and large); its title is its first markdown
heading. A text file (valid UTF-8, no NUL byte) gives its text. Anything else, or a notebook
that is not JSON, is found by name only. Extraction parses JSON only (no nbformat validation)
and runs on the indexer's thread, never on the event loop.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

#: The FTS5 columns, in order, and their bm25 weights (design section 3.12).
COLUMNS = ("name", "title", "markdown", "code", "outputs")
WEIGHTS = (10.0, 5.0, 2.0, 1.0, 0.5)
HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.M)


@dataclass(frozen=True)
class Limits:
    """Caps on what one file adds to the index (characters)."""

    chars_per_file: int = 256 * 1024
    output_chars: int = 1000
    outputs_chars: int = 16 * 1024


@dataclass(frozen=True)
class Segment:
    """A piece of a file's text that a match can point at: a cell's source or outputs, or the text."""

    column: str
    text: str
    cell_index: int | None = None
    cell_type: str | None = None

    def as_json(self) -> list[Any]:
        return [self.column, self.text, self.cell_index, self.cell_type]

    @classmethod
    def from_json(cls, item: list[Any]) -> Segment:
        return cls(str(item[0]), str(item[1]), item[2], item[3])


@dataclass
class Document:
    """A file as the index sees it: the text of each column, and the segments it came from."""

    name: str
    title: str = ""
    segments: list[Segment] = field(default_factory=list)

    def column_texts(self) -> tuple[str, ...]:
        """The text of each of :data:`COLUMNS`."""
        texts = {column: [] for column in COLUMNS}  # type: dict[str, list[str]]
        texts["name"].append(self.name)
        texts["title"].append(self.title)
        for segment in self.segments:
            texts[segment.column].append(segment.text)
        return tuple("\n".join(texts[column]) for column in COLUMNS)


def _text(value: Any) -> str:
    """A notebook's multiline string (a string or a list of strings); "" for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(item for item in value if isinstance(item, str))
    return ""


def title_of(markdown: str) -> str:
    """The first markdown heading's text ("" without one)."""
    match = HEADING.search(markdown)
    return match.group(1).strip() if match else ""


def _output_text(output: Any) -> str:
    if not isinstance(output, dict):
        return ""
    if output.get("output_type") == "stream":
        return _text(output.get("text"))
    data = output.get("data")
    if isinstance(data, dict):
        return _text(data.get("text/plain"))
    return ""


class _Budget:
    """The characters a file may still add."""

    def __init__(self, chars: int) -> None:
        self.left = chars

    def take(self, text: str) -> str:
        kept = text[:max(self.left, 0)]
        self.left -= len(kept)
        return kept


def extract_notebook(name: str, data: bytes, limits: Limits) -> Document:
    """The document of a notebook's bytes; by name only when they are not a JSON notebook."""
    document = Document(name)
    try:
        notebook = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return document
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return document
    budget = _Budget(limits.chars_per_file)
    outputs_budget = _Budget(limits.outputs_chars)
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or budget.left <= 0:
            continue
        cell_type = str(cell.get("cell_type", ""))
        source = budget.take(_text(cell.get("source")))
        if cell_type == "markdown" and not document.title:
            document.title = title_of(source)
        if source:
            column = "markdown" if cell_type == "markdown" else "code"
            document.segments.append(Segment(column, source, index, cell_type))
        outputs = cell.get("outputs") if cell_type == "code" else None
        pieces = [_output_text(output)[:limits.output_chars] for output in outputs or () if outputs_budget.left > 0]
        text = budget.take(outputs_budget.take("\n".join(piece for piece in pieces if piece)))
        if text:
            document.segments.append(Segment("outputs", text, index, cell_type))
    return document


def extract_text_file(name: str, data: bytes, limits: Limits) -> Document:
    """The document of a text file (UTF-8, no NUL byte); by name only for anything else."""
    document = Document(name)
    if b"\x00" in data[:8192]:
        return document
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(data) - 3:
            return document
        text = data[:exc.start].decode("utf-8")  # the byte cap cut the last character
    text = text[:limits.chars_per_file]
    if posixpath.splitext(name)[1].lower() in (".md", ".markdown"):
        document.title = title_of(text)
        document.segments.append(Segment("markdown", text))
    elif text:
        document.segments.append(Segment("code", text))
    return document
