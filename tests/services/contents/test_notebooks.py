"""Notebook bytes <-> model: the fast v4 path writes exactly what nbformat writes."""

import json

import nbformat
import pytest

from nbserver.errors import InvalidInput
from nbserver.services.contents.notebooks import parse_notebook, serialize_notebook


def rich_notebook():
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    markdown = nbformat.v4.new_markdown_cell("# Title\n\nSome *text*\n![img](attachment:a.png)")
    markdown["attachments"] = {"a.png": {"image/png": "iVBORw0KGgo=", "text/plain": "an\nimage"}}
    code = nbformat.v4.new_code_cell("import json\nprint('hi')\n", execution_count=3)
    code.metadata["trusted"] = True
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="hi\nthere\n"),
        nbformat.v4.new_output("execute_result", execution_count=3, data={
            "text/plain": "{'a': 1}\nmore", "application/json": {"a": [1, 2]},
            "image/svg+xml": "<svg>\n</svg>", "text/html": "<b>bold</b>\n<i>x</i>"}),
        nbformat.v4.new_output("error", ename="E", evalue="v", traceback=["line 1", "line 2"]),
    ]
    nb.cells = [markdown, code, nbformat.v4.new_raw_cell("raw\ntext")]
    nb.metadata["orig_nbformat"] = 3
    return nb


def test_serialized_bytes_match_nbformat_writer():
    nb = rich_notebook()
    expected = (nbformat.writes(nbformat.from_dict(json.loads(json.dumps(nb))), version=4) + "\n").encode()
    assert serialize_notebook(json.loads(json.dumps(nb)))[0] == expected


def test_parse_gives_what_nbformat_reads():
    raw = serialize_notebook(rich_notebook())[0]
    nb, message = parse_notebook(raw)
    assert message is None
    assert json.loads(json.dumps(nb)) == json.loads(json.dumps(nbformat.reads(raw.decode(), as_version=4)))


def test_serialize_leaves_the_clients_model_untouched():
    nb = json.loads(json.dumps(rich_notebook()))
    before = json.dumps(nb, sort_keys=True)
    serialize_notebook(nb)
    assert json.dumps(nb, sort_keys=True) == before


def test_v3_content_is_upgraded_on_save():
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [
        {"cells": [{"cell_type": "code", "input": "1+1", "language": "python", "outputs": [],
                    "metadata": {}, "collapsed": False}], "metadata": {}}]}
    saved = json.loads(serialize_notebook(v3)[0])
    assert saved["nbformat"] == 4 and saved["cells"][0]["source"] == ["1+1"]


@pytest.mark.parametrize("raw", [b"[]", b"{", b"\xff\xfe", b'{"nbformat": 3}'])
def test_unparseable_documents_are_invalid_input(raw):
    with pytest.raises(InvalidInput):
        parse_notebook(raw)


def test_wrong_structure_is_read_with_a_validation_message():
    nb, message = parse_notebook(b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": 5}')
    assert nb["cells"] == 5 and "validation" in message.lower()
