"""ExternalNotebooks' own rules: what counts as a notebook (step 6), import names, the rate limit."""

from __future__ import annotations

import json

import pytest

from nbserver.errors import TooManyRequests, Unprocessable
from nbserver.services.external.manager import (
    ExternalNotebooks,
    count_cells_and_outputs,
    import_name,
    notebook_from_body,
)
from tests.support.notebook_source import NOTEBOOK, many_cells


def test_a_notebook_with_a_bom_is_read() -> None:
    nb = notebook_from_body(b"\xef\xbb\xbf" + json.dumps(NOTEBOOK).encode())
    assert nb["cells"][0]["source"].startswith("# Hello")


def test_a_v3_notebook_is_upgraded() -> None:
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "x"}, "worksheets": [{"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "hi"}], "metadata": {}}]}
    assert notebook_from_body(json.dumps(v3).encode())["nbformat"] == 4


@pytest.mark.parametrize("body, words", [
    (b'{"cells": [', "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b'{"a": 1}', "must contain"),
    (b"[1, 2]", "must be object"),
    (json.dumps({**NOTEBOOK, "cells": [{"cell_type": "bogus"}]}).encode(), "valid notebook"),
])
def test_what_is_not_a_notebook_is_422_saying_why(body: bytes, words: str) -> None:
    with pytest.raises(Unprocessable) as caught:
        notebook_from_body(body)
    assert caught.value.code == "not_a_notebook" and words in caught.value.message


def test_more_cells_than_allowed_is_422_too_many_cells() -> None:
    body = json.dumps(many_cells()).encode()
    assert len(notebook_from_body(body, max_cells=40, max_outputs=20)["cells"]) == 40
    with pytest.raises(Unprocessable) as caught:
        notebook_from_body(body, max_cells=39)
    assert caught.value.code == "too_many_cells"
    assert caught.value.details == {"limit": 39, "count": 40} and "40 cells" in caught.value.message


def test_more_outputs_than_allowed_is_422_too_many_outputs() -> None:
    with pytest.raises(Unprocessable) as caught:
        notebook_from_body(json.dumps(many_cells()).encode(), max_outputs=19)
    assert caught.value.code == "too_many_outputs" and caught.value.details == {"limit": 19, "count": 20}


def test_cells_and_outputs_of_a_v3_notebook_are_counted_too() -> None:
    code = {"cell_type": "code", "input": "1", "language": "python", "metadata": {},
            "outputs": [{"output_type": "pyout", "metadata": {}, "text": "1", "prompt_number": 1}] * 2}
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "x"},
          "worksheets": [{"cells": [code] * 3, "metadata": {}}, {"cells": [code], "metadata": {}}]}
    assert count_cells_and_outputs(v3) == (4, 8)
    with pytest.raises(Unprocessable) as caught:
        notebook_from_body(json.dumps(v3).encode(), max_cells=3)
    assert caught.value.code == "too_many_cells"
    assert count_cells_and_outputs({"cells": "not a list"}) == (0, 0)


@pytest.mark.parametrize("url, name", [
    ("https://example.org/a/b/Analysis.ipynb", "Analysis.ipynb"),
    ("https://example.org/raw/notes?x=1", "notes.ipynb"),
    ("https://example.org/My%20Notebook.ipynb", "My Notebook.ipynb"),
    ("https://example.org/", "Imported.ipynb"),
    ("https://example.org/.hidden.ipynb", "Imported.ipynb"),
    ("https://example.org/a%2Fb.ipynb", "Imported.ipynb"),
])
def test_import_names_come_from_the_url(url: str, name: str) -> None:
    assert import_name(url) == name


def test_the_rate_limit_counts_every_fetch_per_user() -> None:
    service = ExternalNotebooks(external_rate_limit=2)
    service.admit("alice")
    service.admit("alice")
    service.admit("bob")
    with pytest.raises(TooManyRequests) as caught:
        service.admit("alice")
    assert 1 <= caught.value.retry_after <= 60 and caught.value.code == "rate_limited"


def test_a_bad_allowed_network_is_refused_at_configuration() -> None:
    with pytest.raises(ValueError):
        ExternalNotebooks(external_allow_networks=["127.0.0.1/33"])
