"""Notebook bytes <-> model: the fast v4 path writes exactly what nbformat writes."""

import json

import nbformat
import pytest

from nbserver.errors import InvalidInput
from nbserver.services.contents.notebooks import (
    _disk_form,
    _join_lines,
    empty_notebook,
    notebook_text,
    parse_notebook,
    read_notebook,
    serialize_notebook,
    usable_ujson,
)


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


def test_empty_notebook_is_nbformats_new_notebook():
    assert empty_notebook() == json.loads(json.dumps(nbformat.v4.new_notebook()))


AWKWARD_VALUES = {
    "non-BMP": "emoji \U0001f600 and the last code point \U0010ffff",
    "line separators": "a\u2028b\u2029c",
    "control characters": "".join(chr(code) for code in range(32)) + "\x7f\x80\x9f",
    "slashes and quotes": '</script> "quoted" back\\slash /path/',
    "non-ASCII": "café 中文 ﻿BOM",
    "floats": [0.0, -0.0, 1.5, 1e16, 1e-05, 1e-7, 2.5e-08, 123456789.123, 1e300, 5e-324, 0.1],
    "big ints": [2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**40, -(10**40)],
    "empty containers": [[], {}, [[]], [{}], {"a": {}, "b": []}, ""],
    "constants": [True, False, None, 0, -1],
    "keys": {"b": 1, "a": 2, "B": 3, "": 4, "\U0001f600": 5, "\ue000": 6, "é": 7},
    "lone surrogate": "\ud800",
}


def awkward_notebook(value):
    nb = rich_notebook()
    nb.metadata["awkward"] = value
    nb.cells[1].outputs[1]["data"]["application/json"] = {"value": value}
    nb.cells[1].source = f"x = {value!r}\n" * 3
    return json.loads(json.dumps(nb))


@pytest.mark.parametrize("name", list(AWKWARD_VALUES))
def test_notebook_text_is_json_dumps_byte_for_byte(name):
    nb = awkward_notebook(AWKWARD_VALUES[name])
    expected = json.dumps(_disk_form(nb), indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": "))
    assert notebook_text(nb) == expected


@pytest.mark.parametrize("name", [name for name in AWKWARD_VALUES if name != "lone surrogate"])
def test_awkward_content_is_written_as_nbformat_writes_it(name):
    nb = awkward_notebook(AWKWARD_VALUES[name])
    expected = (nbformat.writes(nbformat.from_dict(json.loads(json.dumps(nb))), version=4) + "\n").encode()
    assert serialize_notebook(nb)[0] == expected


@pytest.mark.parametrize("number, literal", [(float("nan"), "NaN"), (float("inf"), "Infinity"),
                                             (float("-inf"), "-Infinity")])
def test_a_notebook_with_a_non_finite_number_is_refused_naming_it_and_where(number, literal):
    nb = awkward_notebook([1.5, number])
    with pytest.raises(InvalidInput) as refused:
        serialize_notebook(nb)
    assert f"{literal} at /" in refused.value.message
    assert "/metadata/awkward/1" in refused.value.message or "/cells/" in refused.value.message


def test_a_notebook_with_a_lone_surrogate_is_refused_not_an_error():
    with pytest.raises(InvalidInput, match="UTF-8"):
        serialize_notebook(awkward_notebook("\ud800"))


def test_stored_nan_and_infinity_are_read_as_null_with_a_note():
    nb = awkward_notebook("placeholder")
    text = json.dumps(nb).replace('"placeholder"', "[NaN, -Infinity]")
    loaded = read_notebook(text.encode())
    assert loaded.nb["metadata"]["awkward"] == [None, None]
    assert "NaN or infinity" in loaded.note and "/metadata/awkward/0 and 3 more" in loaded.note
    json.dumps(loaded.nb, allow_nan=False)  # strict JSON from here on
    assert read_notebook(json.dumps(nb).encode()).note is None


def test_a_notebook_file_nested_past_the_parser_is_unreadable_not_an_error():
    nb = awkward_notebook("placeholder")
    text = json.dumps(nb).replace('"placeholder"', "[" * 5000 + "]" * 5000)
    with pytest.raises(InvalidInput, match="too deeply"):
        read_notebook(text.encode())


def test_ujson_writes_documents_of_plain_json_types(monkeypatch):
    pytest.importorskip("ujson")
    from nbserver.services.contents import notebooks

    assert usable_ujson() is not None  # it passes the self-check
    monkeypatch.setattr(notebooks, "_json_text", lambda value: "json was used")
    assert notebook_text({"cells": [], "metadata": {"a": [1, "b", None]}}) != "json was used"
    assert notebook_text({"cells": [], "metadata": {"a": [1.5]}}) != "json was used"
    assert notebook_text({"cells": [], "metadata": {"a": (1, 2)}}) == "json was used"
    assert notebook_text({"cells": [], "metadata": {1: "int key"}}) == "json was used"


def test_ujson_is_not_used_when_missing(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ujson", None)
    usable_ujson.cache_clear()
    try:
        assert usable_ujson() is None
        assert notebook_text({"cells": [], "a": ["b\n"]}) == '{\n "a": [\n  "b\\n"\n ],\n "cells": []\n}'
    finally:
        usable_ujson.cache_clear()


def test_ujson_is_not_used_when_its_self_check_differs(monkeypatch):
    import sys
    import types

    fake = types.SimpleNamespace(dumps=lambda value, **options: "different", __version__="0")
    monkeypatch.setitem(sys.modules, "ujson", fake)
    usable_ujson.cache_clear()
    try:
        assert usable_ujson() is None
        assert notebook_text({"cells": []}) == '{\n "cells": []\n}'
    finally:
        usable_ujson.cache_clear()


# -- the shapes of issue 20: plots of floats, large base64 strings, many cells, non-ASCII ---------

def plot_notebook(seed=11, points=300):
    """Plotly-like output: lists of floats of every magnitude (one-digit negative exponents too)."""
    import random

    rng = random.Random(seed)
    values = [rng.gauss(0, 1) * 10 ** rng.randint(-12, 20) for _ in range(points)] + [1e-05, -3e-07, 1e16, 0.0]
    figure = {"data": [{"x": values, "y": [round(v, 3) for v in values], "last": values[-5]}],
              "layout": {"height": 400.0, "range": [1e-9, 2.5e-05]}}
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("fig.show()", outputs=[nbformat.v4.new_output(
        "display_data", data={"application/vnd.plotly.v1+json": figure, "text/html": "<div></div>"})])]
    nb.metadata["scale"] = 1e-06
    return json.loads(json.dumps(nb))


def png_notebook():
    import base64

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("plot()", outputs=[nbformat.v4.new_output(
        "display_data", data={"image/png": base64.b64encode(bytes(range(256)) * 800).decode() + "\n",
                              "text/plain": "<Figure>"})])]
    return json.loads(json.dumps(nb))


def many_cells_notebook(count=300):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"## {index}\ntext") if index % 5 == 0 else
                nbformat.v4.new_code_cell(f"x = {index}\nx", execution_count=index, outputs=[
                    nbformat.v4.new_output("execute_result", execution_count=index, data={"text/plain": str(index)})])
                for index in range(count)]
    return json.loads(json.dumps(nb))


def non_ascii_notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("# Überschrift — 表\nprint(x)", outputs=[nbformat.v4.new_output(
        "stream", name="stdout", text="naïve café Привет 数据 😀 📈\n" * 50)])]
    return json.loads(json.dumps(nb))


SHAPES = {"plot": plot_notebook, "png": png_notebook, "many cells": many_cells_notebook,
          "non-ASCII": non_ascii_notebook}


@pytest.mark.parametrize("name", list(SHAPES))
def test_every_shape_is_written_as_nbformat_writes_it(name):
    nb = SHAPES[name]()
    expected = (nbformat.writes(nbformat.from_dict(json.loads(json.dumps(nb))), version=4) + "\n").encode()
    assert serialize_notebook(nb)[0] == expected


@pytest.mark.parametrize("name", list(SHAPES))
def test_every_shape_is_written_without_json(name, monkeypatch):
    pytest.importorskip("ujson")
    from nbserver.services.contents import notebooks

    monkeypatch.setattr(notebooks, "_json_text", lambda value: "json was used")
    assert notebook_text(SHAPES[name]()) != "json was used"


@pytest.mark.parametrize("name", ["many cells", "non-ASCII"])
def test_float_free_text_is_written_by_msgspec_as_json_writes_it(name, monkeypatch):
    from nbserver.services.contents import notebooks

    assert notebooks.usable_msgspec() is not None  # it passes its self-check
    nb = SHAPES[name]()
    expected = json.dumps(_disk_form(nb), indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": "))

    def refuse(*args, **kwargs):
        raise AssertionError("ujson was used")
    monkeypatch.setattr(notebooks, "_ujson_text", refuse)
    assert notebook_text(nb) == expected


@pytest.mark.parametrize("name", [name for name in AWKWARD_VALUES if name not in ("floats", "lone surrogate")])
def test_msgspec_writes_awkward_content_as_json_does(name):
    from nbserver.services.contents import notebooks

    nb = awkward_notebook(AWKWARD_VALUES[name])
    expected = json.dumps(_disk_form(nb), indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": "))
    assert notebooks._msgspec_text(notebooks.usable_msgspec(), _disk_form(nb)).decode() == expected


def test_msgspec_is_not_used_when_its_self_check_differs(monkeypatch):
    import sys
    import types

    from nbserver.services.contents import notebooks

    fake_json = types.SimpleNamespace(encode=lambda value, **options: b"{}", format=lambda text, **options: text)
    monkeypatch.setitem(sys.modules, "msgspec", types.SimpleNamespace(json=fake_json))
    notebooks.usable_msgspec.cache_clear()
    try:
        assert notebooks.usable_msgspec() is None
        nb = non_ascii_notebook()
        assert notebook_text(nb) == json.dumps(
            _disk_form(nb), indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": "))
    finally:
        notebooks.usable_msgspec.cache_clear()


@pytest.mark.parametrize("name", list(SHAPES))
def test_files_are_read_by_msgspec_as_json_reads_them(name):
    from nbserver.jsonio import UNPARSED, parsed_exactly

    raw = serialize_notebook(SHAPES[name]())[0]
    assert parsed_exactly(raw) is not UNPARSED
    loaded = read_notebook(raw)
    assert loaded.note is None
    assert repr(loaded.nb) == repr(_join_lines(json.loads(raw)))


def test_floats_anywhere_are_written_as_json_writes_them():
    """ujson's one-digit negative exponents are padded wherever a float ends a line, and nowhere else."""
    import random

    pytest.importorskip("ujson")
    rng = random.Random(5)
    floats = [rng.uniform(1, 10) * 10.0 ** rng.randint(-12, 25) * rng.choice((1, -1)) for _ in range(3000)]
    floats += [1e-05, 1e-9, 5e-324, 1e-10, 1e16, 1e15, 0.1, -0.0]
    nb = nbformat.v4.new_notebook()
    nb.metadata.update({
        "list": floats, "dict": {f"k{index}": value for index, value in enumerate(floats[:200])},
        "last": floats[-3], "nested": [[1e-05], {"a": 1e-06}, 2e-07],
        # Strings that look like the end of a number before a line break must stay as they are.
        "strings": ["1e-5", "x 1e-5\n", "1e-5,\n", 'a": 1e-5'], 'key": 1e-5': 1e-05, "1e-5\n": "e-5",
    })
    nb = json.loads(json.dumps(nb))
    expected = json.dumps(_disk_form(nb), indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": "))
    assert notebook_text(nb) == expected


def test_a_non_finite_float_is_still_refused_when_ujson_writes_floats():
    nb = plot_notebook()
    nb["metadata"]["bad"] = [1e-05, float("inf")]
    with pytest.raises(InvalidInput, match="Infinity at /metadata/bad/1"):
        serialize_notebook(nb)
