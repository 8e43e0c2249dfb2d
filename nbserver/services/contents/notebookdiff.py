"""A cell-by-cell diff of two notebooks, for comparing a checkpoint with the notebook as it is.

A small structural diff over nbformat 4 cells with :mod:`difflib` (nbdime does more, at the
cost of a large dependency): cells are aligned by type and source with ``SequenceMatcher``;
within a replaced run, cells pair up in order as "modified", with a unified diff of their
source, and the rest are "removed" or "added". The shape is in ``api.yaml``
(``CheckpointDiff``)::

    {"checkpoint_id": "...", "path": "a.ipynb", "metadata_changed": false,
     "summary": {"added": 1, "removed": 0, "modified": 1, "unchanged": 3},
     "cells": [{"status": "modified", "cell_type": "code", "checkpoint_index": 0,
                "current_index": 0, "source_diff": ["--- checkpoint", "+++ current", "@@ ...", "-a", "+b"],
                "outputs_changed": true}, ...]}
"""

from __future__ import annotations

import difflib
from typing import Any

from nbserver.errors import InvalidInput

CellDiff = dict[str, Any]
STATUSES = ("added", "removed", "modified", "unchanged")


def cell_source(cell: dict[str, Any]) -> str:
    """A cell's source as one string (nbformat allows a list of lines on disk)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def notebook_cells(notebook: Any) -> list[dict[str, Any]]:
    """The cells of a notebook dict; InvalidInput when it is not a notebook."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list) or not all(isinstance(cell, dict) for cell in cells):
        raise InvalidInput("Only notebooks can be compared cell by cell.")
    return cells


def _source_diff(old: str, new: str) -> list[str]:
    return list(difflib.unified_diff(old.splitlines(), new.splitlines(), "checkpoint", "current", lineterm=""))


def _entry(status: str, old: dict[str, Any] | None, new: dict[str, Any] | None,
           old_index: int | None, new_index: int | None) -> CellDiff:
    cell = new if new is not None else old
    assert cell is not None
    compared = old is not None and new is not None
    return {
        "status": status,
        "cell_type": cell.get("cell_type", "code"),
        "checkpoint_index": old_index,
        "current_index": new_index,
        "source_diff": _source_diff(cell_source(old), cell_source(new)) if compared and old and new else [],
        "outputs_changed": bool(compared and old and new and old.get("outputs") != new.get("outputs")),
    }


def diff_cells(old_cells: list[dict[str, Any]], new_cells: list[dict[str, Any]]) -> list[CellDiff]:
    """Entries for every cell of both lists, in the current notebook's order."""
    keys_old = [(cell.get("cell_type"), cell_source(cell)) for cell in old_cells]
    keys_new = [(cell.get("cell_type"), cell_source(cell)) for cell in new_cells]
    entries: list[CellDiff] = []
    matcher = difflib.SequenceMatcher(None, keys_old, keys_new, autojunk=False)
    for tag, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if tag == "equal":
            for old_index, new_index in zip(range(old_start, old_end), range(new_start, new_end)):
                old, new = old_cells[old_index], new_cells[new_index]
                status = "unchanged" if old.get("outputs") == new.get("outputs") else "modified"
                entries.append(_entry(status, old, new, old_index, new_index))
            continue
        paired = min(old_end - old_start, new_end - new_start) if tag == "replace" else 0
        for offset in range(paired):
            old_index, new_index = old_start + offset, new_start + offset
            entries.append(_entry("modified", old_cells[old_index], new_cells[new_index], old_index, new_index))
        for old_index in range(old_start + paired, old_end):
            entries.append(_entry("removed", old_cells[old_index], None, old_index, None))
        for new_index in range(new_start + paired, new_end):
            entries.append(_entry("added", None, new_cells[new_index], None, new_index))
    return entries


def diff_notebooks(checkpoint: Any, current: Any) -> dict[str, Any]:
    """The diff of two notebook dicts (checkpoint first): ``cells``, ``metadata_changed``, ``summary``."""
    cells = diff_cells(notebook_cells(checkpoint), notebook_cells(current))
    return {
        "metadata_changed": checkpoint.get("metadata") != current.get("metadata"),
        "summary": {status: sum(1 for entry in cells if entry["status"] == status) for status in STATUSES},
        "cells": cells,
    }
