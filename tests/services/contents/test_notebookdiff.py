"""The cell-by-cell notebook diff on its own: alignment, statuses, source diffs, refusals."""

from __future__ import annotations

import pytest

from nbserver.errors import InvalidInput
from nbserver.services.contents.notebookdiff import cell_source, diff_notebooks


def nb(*cells: tuple[str, str], metadata: dict | None = None) -> dict:
    return {"cells": [{"cell_type": kind, "source": source, "metadata": {}, "outputs": []} for kind, source in cells],
            "metadata": metadata or {}, "nbformat": 4, "nbformat_minor": 5}


def test_identical_notebooks_are_all_unchanged():
    same = nb(("code", "x"), ("markdown", "# t"))
    diff = diff_notebooks(same, same)
    assert diff["summary"] == {"added": 0, "removed": 0, "modified": 0, "unchanged": 2}
    assert diff["metadata_changed"] is False


def test_a_changed_cell_type_is_a_modification_with_the_source_diff():
    diff = diff_notebooks(nb(("code", "a\nb")), nb(("markdown", "a\nc")))
    [entry] = diff["cells"]
    assert entry["status"] == "modified" and entry["cell_type"] == "markdown"
    assert entry["source_diff"][:2] == ["--- checkpoint", "+++ current"] and "-b" in entry["source_diff"]


def test_changed_outputs_alone_are_a_modification():
    old, new = nb(("code", "x")), nb(("code", "x"))
    new["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "1"}]
    [entry] = diff_notebooks(old, new)["cells"]
    assert entry["status"] == "modified" and entry["outputs_changed"] and entry["source_diff"] == []


def test_metadata_changes_are_reported():
    assert diff_notebooks(nb(), nb(metadata={"k": 1}))["metadata_changed"] is True


def test_sources_stored_as_lists_compare_as_text():
    assert cell_source({"source": ["a\n", "b"]}) == "a\nb"
    assert diff_notebooks(nb(("code", "a\nb")), {**nb(), "cells": [
        {"cell_type": "code", "source": ["a\n", "b"], "outputs": []}]})["summary"]["unchanged"] == 1


@pytest.mark.parametrize("not_a_notebook", [[], {"cells": "x"}, {"cells": [1]}, "text"])
def test_what_is_not_a_notebook_is_refused(not_a_notebook):
    with pytest.raises(InvalidInput):
        diff_notebooks(not_a_notebook, nb())
