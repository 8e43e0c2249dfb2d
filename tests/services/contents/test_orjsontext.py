"""orjsontext: orjson only where it writes what json writes (values for replies, bytes for files)."""

from __future__ import annotations

import json
import math
import re

import pytest

from nbserver.services.contents import orjsontext
from nbserver.services.contents.notebooks import _disk_form, notebook_bytes
from nbserver.services.contents.replycache import encode_reply

pytest.importorskip("orjson")


def file_text_by_json(nb: dict) -> bytes:
    return json.dumps(_disk_form(nb), indent=1, sort_keys=True, ensure_ascii=False,
                      separators=(",", ": ")).encode("utf-8")


def notebook(*outputs: dict) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3"}},
            "cells": [{"cell_type": "code", "id": "a", "metadata": {}, "execution_count": 1,
                       "source": "x = '  spaced  '\n  indented\n", "outputs": list(outputs)}]}


def test_orjson_passes_its_self_check():
    assert orjsontext.usable_orjson() is not None


def test_file_bytes_are_json_s_for_strings_of_every_kind():
    nb = notebook({"output_type": "display_data", "metadata": {}, "data": {
        "image/png": "iVBORw0KGgo" * 7000, "text/plain": "caf\u00e9 \u4e2d \U0001f600\n\t\x01 \" \\ \u2028 \x7f\n   x"}},
        {"output_type": "stream", "name": "stdout", "text": "  leading\n\n    deeper\n"})
    assert orjsontext.notebook_file_bytes(_disk_form(nb)) is not None  # orjson wrote it
    assert notebook_bytes(nb) == file_text_by_json(nb)


def test_notebook_of_short_lines_is_left_to_ujson():
    nb = notebook(*[{"output_type": "stream", "name": "stdout", "text": "x\n" * 50}] * 20)
    assert orjsontext.notebook_file_bytes(_disk_form(nb)) is None
    assert notebook_bytes(nb) == file_text_by_json(nb)


def test_notebook_with_floats_is_not_written_by_orjson_and_is_still_json_s(monkeypatch):
    monkeypatch.setattr(orjsontext, "notebook_file_bytes", lambda disk: pytest.fail("orjson used for floats"))
    nb = notebook({"output_type": "execute_result", "execution_count": 1, "metadata": {},
                   "data": {"application/json": {"x": [1e-05, 0.1, 1e22]}}})
    assert notebook_bytes(nb) == file_text_by_json(nb)


@pytest.mark.parametrize("value", [2**64, "\ud800"], ids=["integer past 64 bits", "lone surrogate"])
def test_what_orjson_refuses_falls_back(value):
    nb = notebook({"output_type": "execute_result", "execution_count": 1, "metadata": {},
                   "data": {"application/json": {"x": value}}})
    model = {"path": "a.ipynb", "last_modified": "2026-01-01T00:00:00Z", "content": nb}
    assert json.loads(encode_reply(model).body) == model
    if isinstance(value, int):
        assert notebook_bytes(nb) == file_text_by_json(nb)


def test_reply_is_utf8_json_of_the_same_values():
    model = {"path": "a.ipynb", "last_modified": "2026-01-01T00:00:00Z", "content": notebook(), "x": "\u00e9\U0001f600"}
    body = encode_reply(model).body
    assert json.loads(body.decode("utf-8")) == model
    assert "\u00e9".encode() in body


def test_reply_with_infinity_or_deep_nesting_is_not_left_to_orjson():
    assert orjsontext.reply_bytes({"x": [1.0, math.inf]}) is None
    deep: list = []
    for _ in range(orjsontext.MAX_ORJSON_DEPTH + 5):
        deep = [deep]
    assert orjsontext.reply_bytes({"x": deep}) is None
    model = {"path": "a.ipynb", "last_modified": "2026-01-01T00:00:00Z", "x": deep, "y": math.inf}
    assert json.loads(encode_reply(model).body)["y"] is None  # as before: sent as null (and logged)


@pytest.mark.parametrize("text", [b"", b"\n", b"x\n", b"\n  x", b'{\n  "a": [\n    1\n  ]\n}', b"a\n\n  \n    b\n  ",
                                  b"x\n" + b"  " * 254 + b"y"])
def test_indentation_is_halved_after_every_line_break_only(text):
    expected = re.sub(rb"\n( +)", lambda match: b"\n" + b" " * (len(match.group(1)) // 2), text)
    assert orjsontext._halve_indentation(text) == expected


def test_halving_gives_up_past_its_line_bound():
    text = b"[\n  1,\n  2\n]"  # three line breaks
    assert orjsontext._halve_indentation(text, max_lines=3) == b"[\n 1,\n 2\n]"
    assert orjsontext._halve_indentation(text, max_lines=2) is None
