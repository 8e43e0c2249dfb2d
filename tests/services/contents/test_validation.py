"""Notebook validation without nbformat at hand: the verdicts must be nbformat's own."""

from __future__ import annotations

import copy
import json
import sys
from typing import Any, Callable

import fastjsonschema
import nbformat
import pytest

from nbserver.services.contents import validation
from nbserver.services.contents.validation import (
    SchemaValidator,
    nbformat_message,
    schema_validator,
    validate_notebook,
)


def valid_notebook() -> dict[str, Any]:
    """A v4.5 notebook with every kind of cell and output."""
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    markdown = nbformat.v4.new_markdown_cell("# Title\n![a](attachment:a.png)", id="md")
    markdown["attachments"] = {"a.png": {"image/png": "iVBORw0KGgo="}}
    code = nbformat.v4.new_code_cell("print(1)", id="code", execution_count=1)
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="1\n"),
        nbformat.v4.new_output("execute_result", execution_count=1,
                               data={"text/plain": "1", "application/json": {"a": [1.5, None]}}),
        nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="}, metadata={"w": 3}),
        nbformat.v4.new_output("error", ename="E", evalue="v", traceback=["t"]),
    ]
    nb.cells = [markdown, code, nbformat.v4.new_raw_cell("raw", id="raw")]
    return json.loads(json.dumps(nb))


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(nb: dict[str, Any]) -> None:
        node = nb
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(nb: dict[str, Any]) -> None:
        node = nb
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return change


CODE, STREAM, RESULT, DISPLAY, ERROR = ("cells", 1), ("cells", 1, "outputs", 0), ("cells", 1, "outputs", 1), \
    ("cells", 1, "outputs", 2), ("cells", 1, "outputs", 3)

CHANGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "unchanged": lambda nb: None,
    "cells not a list": _set(("cells",), 5),
    "cell not an object": _set(("cells", 0), "text"),
    "unknown cell type": _set(CODE + ("cell_type",), "sql"),
    "unhashable cell type": _set(CODE + ("cell_type",), ["code"]),
    "missing cell type": _delete(CODE + ("cell_type",)),
    "code cell typed markdown": _set(CODE + ("cell_type",), "markdown"),
    "extra cell field": _set(("cells", 2, "extra"), 1),
    "source a number": _set(CODE + ("source",), 5),
    "source lines not strings": _set(CODE + ("source",), ["a", 1]),
    "source as lines": _set(CODE + ("source",), ["a\n", "b"]),
    "source no lines": _set(CODE + ("source",), []),
    "source nested lines": _set(CODE + ("source",), [["a"]]),
    "source an object": _set(CODE + ("source",), {"a": "b"}),
    "stream text as lines": _set(STREAM + ("text",), ["1\n", "2"]),
    "plain text lines with a number": _set(RESULT + ("data", "text/plain"), ["a", 2]),
    "codemirror mode a name": _set(("metadata", "language_info"), {"name": "python", "codemirror_mode": "ipython"}),
    "codemirror mode an object": _set(("metadata", "language_info"), {"name": "python", "codemirror_mode": {"v": 3}}),
    "codemirror mode a list": _set(("metadata", "language_info"), {"name": "python", "codemirror_mode": ["x"]}),
    "outputs missing": _delete(CODE + ("outputs",)),
    "outputs an object": _set(CODE + ("outputs",), {}),
    "markdown cell with outputs": _set(("cells", 0, "outputs"), []),
    "execution count a string": _set(CODE + ("execution_count",), "1"),
    "execution count null": _set(CODE + ("execution_count",), None),
    "unknown output type": _set(STREAM + ("output_type",), "bogus"),
    "unhashable output type": _set(STREAM + ("output_type",), {}),
    "missing output type": _delete(STREAM + ("output_type",)),
    "output not an object": _set(CODE + ("outputs", 0), [1]),
    "stream without name": _delete(STREAM + ("name",)),
    "stream text a number": _set(STREAM + ("text",), 3),
    "result without count": _delete(RESULT + ("execution_count",)),
    "plain text a number": _set(RESULT + ("data", "text/plain"), 5),
    "json output anything": _set(RESULT + ("data", "application/json"), 5),
    "data a list": _set(DISPLAY + ("data",), []),
    "output metadata a list": _set(DISPLAY + ("metadata",), []),
    "result typed display_data": _set(RESULT + ("output_type",), "display_data"),
    "traceback a string": _set(ERROR + ("traceback",), "t"),
    "attachment bundle a string": _set(("cells", 0, "attachments", "a.png"), "x"),
    "kernelspec without name": _delete(("metadata", "kernelspec", "name")),
    "metadata a list": _set(("metadata",), []),
    "extra top-level field": _set(("extra",), 1),
    "minor a string": _set(("nbformat_minor",), "5"),
    "minor from the future": _set(("nbformat_minor",), 9),
    "negative minor": _set(("nbformat_minor",), -1),
    "major a float": _set(("nbformat",), 4.0),
    "bad cell id": _set(CODE + ("id",), "not an id!"),
    "cell id too long": _set(CODE + ("id",), "x" * 65),
    "cell id a number": _set(CODE + ("id",), 7),
    "missing cell id": _delete(CODE + ("id",)),
    "duplicate cell id": _set(CODE + ("id",), "md"),
}


# nbformat warns when it repairs cell ids; both sides of these comparisons do it.
ignore_missing_id = pytest.mark.filterwarnings("ignore:Cell is missing an id field")
ignore_duplicate_id = pytest.mark.filterwarnings("ignore:Non-unique cell id")


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
@ignore_missing_id
@ignore_duplicate_id
def test_verdict_is_nbformats(change):
    ours, theirs = valid_notebook(), valid_notebook()
    CHANGES[change](ours)
    CHANGES[change](theirs)
    assert validate_notebook(ours).message == nbformat_message(theirs)


@pytest.mark.parametrize("minor", range(6))
@pytest.mark.parametrize("with_ids", [True, False])
@ignore_missing_id
def test_verdict_is_nbformats_for_every_v4_minor(minor, with_ids):
    ours = valid_notebook()
    ours["nbformat_minor"] = minor
    if not with_ids:
        for cell in ours["cells"]:
            del cell["id"]
    theirs = copy.deepcopy(ours)
    assert validate_notebook(ours).message == nbformat_message(theirs)


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_per_kind_checks_agree_with_the_whole_schema(change):
    """Checking each cell and output against its own kind's schema = nbformat's compiled oneOf."""
    nb = valid_notebook()
    CHANGES[change](nb)
    minor = nb["nbformat_minor"] if nb["nbformat_minor"] in range(6) else 5
    check = schema_validator(minor)
    assert check is not None and check._whole is None  # the per-kind path is the one under test
    with open(validation._schema_path(minor)) as handle:
        whole = fastjsonschema.compile(json.load(handle))
    try:
        whole(nb)
        expected = True
    except fastjsonschema.JsonSchemaException:
        expected = False
    assert check(nb) == expected


def test_one_of_disjoint_types_becomes_any_of_and_nothing_else_does():
    schema = {"definitions": {
        "lines": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "numbers": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 2}]},
        "same": {"oneOf": [{"type": "string", "maxLength": 3}, {"type": "string", "minLength": 2}]},
        "refs": {"oneOf": [{"$ref": "#/definitions/lines"}, {"type": "object"}]},
    }}
    validation._disjoint_one_of_as_any_of(schema)
    kinds = {name: next(iter(rule)) for name, rule in schema["definitions"].items()}
    assert kinds == {"lines": "anyOf", "numbers": "oneOf", "same": "oneOf", "refs": "oneOf"}


def test_an_unexpected_schema_shape_is_checked_whole():
    with open(validation._schema_path(5)) as handle:
        schema = json.load(handle)
    schema["definitions"]["cell"]["oneOf"].append({"$ref": "#/definitions/code_cell"})
    check = SchemaValidator(schema)
    assert check._whole is not None
    assert check(valid_notebook()) is False  # a code cell now matches two members of oneOf


def test_valid_notebook_is_repeatable_and_left_unchanged():
    nb = valid_notebook()
    assert validate_notebook(nb) == (None, True)
    assert nb == valid_notebook()


def test_missing_cell_ids_are_repaired_by_nbformat_and_not_repeatable():
    nb = valid_notebook()
    del nb["cells"][0]["id"]
    with pytest.warns(Warning):
        verdict = validate_notebook(nb)
    assert verdict == (None, False)
    assert isinstance(nb["cells"][0]["id"], str)  # as nbformat.validate leaves it


def test_without_fastjsonschema_nbformat_gives_every_verdict(monkeypatch):
    monkeypatch.setattr(validation, "_validators", {})
    monkeypatch.setitem(sys.modules, "fastjsonschema", None)  # import fastjsonschema now fails
    assert schema_validator(5) is None
    nb = valid_notebook()
    assert validate_notebook(nb) == (None, True)
    CHANGES["stream text a number"](nb)
    assert validate_notebook(nb).message == nbformat_message(copy.deepcopy(nb)) is not None


def test_nbformat_validator_setting_is_respected(monkeypatch):
    monkeypatch.setattr(validation, "_validators", {})
    monkeypatch.setenv("NBFORMAT_VALIDATOR", "jsonschema")
    assert schema_validator(5) is None
    assert validate_notebook(valid_notebook()).message is None
