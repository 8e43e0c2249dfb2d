"""Strict client JSON: UTF-8, finite numbers, bounded nesting; strict JSON out."""

from __future__ import annotations

import json
import math
import re

import pytest

from nbserver.jsonio import (
    MAX_DEPTH,
    JSONRefused,
    deeper_than,
    describe_non_finite,
    dumps_for_client,
    dumps_strict,
    parse_client_json,
    replace_non_finite,
)


def nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("text", [nested_arrays(979), nested_objects(979), nested_arrays(100_000),
                                  nested_objects(100_000), nested_arrays(MAX_DEPTH + 1)])
def test_deep_nesting_is_refused(text):
    with pytest.raises(JSONRefused, match=f"deeper than {MAX_DEPTH} levels"):
        parse_client_json(text.encode())


def test_nesting_up_to_the_bound_is_taken():
    assert parse_client_json(nested_arrays(MAX_DEPTH)) is not None
    assert parse_client_json(nested_objects(MAX_DEPTH - 1).encode()) is not None


@pytest.mark.parametrize("text, named", [
    ('{"a": [1, NaN]}', "NaN at /a/1"),
    ('{"a/b": {"c~d": Infinity}}', "Infinity at /a~1b/c~0d"),
    ("[-Infinity]", "-Infinity at /0"),
    ('{"x": 1e400}', "1e400 at /x"),
    ('{"x": -2.5E+308}', "-2.5E+308 at /x"),
])
def test_non_finite_numbers_are_refused_naming_the_value_and_where(text, named):
    with pytest.raises(JSONRefused) as refused:
        parse_client_json(text)
    assert named in str(refused.value)


def test_large_finite_and_tiny_numbers_are_taken():
    assert parse_client_json("[1.7976931348623157e308, 1e-400, 12345678901234567890]") == [
        1.7976931348623157e308, 0.0, 12345678901234567890]


@pytest.mark.parametrize("raw, reason", [
    (b"\xff\xfe[]", "not UTF-8"),
    (b'{"a": "\xc3\x28"}', "not UTF-8"),
    (b"not json", "Expecting value"),
    (b'{"a": 1,}', "double quotes"),
    (b"1" * 5000, "integer of more than"),
    (b'"\\ud800"', "unpaired UTF-16 surrogate"),
    (b'{"k": ["x\\udc00"]}', "at /k/0"),
])
def test_malformed_documents_are_refused_with_a_reason(raw, reason):
    with pytest.raises(JSONRefused, match=reason):
        parse_client_json(raw)


def test_surrogate_pairs_and_escaped_backslashes_are_taken():
    assert parse_client_json(b'["\\ud83d\\ude00", "\\\\ud800"]') == ["\U0001f600", "\\ud800"]


def test_deeper_than_counts_containers_only():
    assert not deeper_than(1, 0)
    assert not deeper_than([[1]], 2)
    assert deeper_than([[{}]], 2)


def test_dumps_strict_names_the_value():
    with pytest.raises(JSONRefused, match="NaN at /a/0"):
        dumps_strict({"a": [math.nan]})
    assert dumps_strict({"a": [1.5]}) == '{"a": [1.5]}'


def test_dumps_for_client_sends_non_finite_numbers_as_null(caplog):
    value = {"a": [1.0, math.nan], "b": {"c": -math.inf}}
    assert json.loads(dumps_for_client(value)) == {"a": [1.0, None], "b": {"c": None}}
    assert value["a"][1] != value["a"][1]  # the caller's model is left alone
    assert "non-finite" in caplog.text


def test_replace_non_finite_reports_pointers_in_document_order():
    value = {"a": [math.inf, 1, {"b": math.nan}], "c": 2.0}
    assert replace_non_finite(value) == ["/a/0", "/a/2/b"]
    assert value == {"a": [None, 1, {"b": None}], "c": 2.0}
    assert describe_non_finite({"x": [0.5, math.inf]}).startswith("Infinity at /x/1")


@pytest.mark.parametrize("raw", [b'"\\ud800\\ud800\\udc00"', b'"\\\\\\ud800"', b'"\\\\ud800\\udc00"', b'"x\\uDBFF"'])
def test_lone_surrogate_escapes_are_found_among_pairs_and_escaped_backslashes(raw):
    with pytest.raises(JSONRefused, match="unpaired"):
        parse_client_json(raw)


def test_floats_are_parsed_as_json_parses_them():
    text = json.dumps({"x": [0.1, -2.5e-07, 1e-05, 1.7976931348623157e308, 123456789.125, 5e-324], "y": 1e16})
    assert parse_client_json(text.encode()) == json.loads(text)


@pytest.mark.parametrize("text, named", [
    ('{"a": [[[1.5, 2e400]]]}', "2e400 at /a/0/0/1"),
    ('{"a": {"b": -1' + "0" * 400 + '.0}}', "at /a/b"),
])
def test_overflowing_numbers_deep_inside_are_refused_naming_where(text, named):
    with pytest.raises(JSONRefused, match="too large") as refused:
        parse_client_json(text)
    assert named in str(refused.value)


def test_a_non_finite_number_is_named_before_too_deep_nesting():
    text = "[1e999, " + nested_arrays(MAX_DEPTH + 5) + "]"
    with pytest.raises(JSONRefused, match="1e999 at /0"):
        parse_client_json(text)


def test_an_overflowing_number_in_a_long_list_is_refused():
    text = "[" + ", ".join(["0.5"] * 100 + ["-3e999"] + ["1"] * 50) + "]"
    with pytest.raises(JSONRefused, match="-3e999 at /100"):
        parse_client_json(text)


# -- the msgspec path of parse_client_json ------------------------------------------------------

def same_values(a: object, b: object) -> bool:
    """Equal values of equal types all the way down (1 == 1.0 == True would pass ``==``)."""
    return repr(a) == repr(b) and json.dumps(a) == json.dumps(b)


def random_number_texts(count: int) -> list[str]:
    import random
    import struct

    rng = random.Random(20)
    texts = []
    while len(texts) < count:
        kind = len(texts) % 3
        if kind == 0:
            number = struct.unpack("d", rng.randbytes(8))[0]
            if math.isfinite(number):
                texts.append(repr(number))
        elif kind == 1:  # more digits than a double holds, exponents near the ends
            texts.append(f"{rng.randint(0, 10**20)}.{rng.randint(0, 10**20)}e{rng.randint(-330, 300)}")
        else:
            number = struct.unpack("d", rng.randbytes(8))[0]
            if math.isfinite(number):
                texts.append("%.*e" % (rng.randint(15, 25), number))
    return [text for text in texts if math.isfinite(json.loads(text))]  # an overflow is refused


def test_msgspec_reads_numbers_as_json_does():
    from nbserver.jsonio import UNPARSED, parsed_exactly

    body = ("[" + ",".join(random_number_texts(20_000)) + "]").encode()
    assert parsed_exactly(body) is not UNPARSED  # the fast path was taken
    assert same_values(parse_client_json(body), json.loads(body))


@pytest.mark.parametrize("integers", [[2**64], [-(2**63) - 1], [10**30, -(10**30)], [2**63, 2**64 - 1],
                                      [int("9" * 400)], [-int("7" * 1000)]])
@pytest.mark.parametrize("company", [[], [0.5] * 20, ["x"] * 20, [{"k": 1}] * 20])
def test_integers_past_64_bits_are_read_exactly(integers, company):
    from nbserver.jsonio import UNPARSED, parsed_exactly

    body = json.dumps({"a": [*company, *integers]}).encode()
    assert parsed_exactly(body) is not UNPARSED
    assert same_values(parse_client_json(body), json.loads(body))


def test_an_integer_of_too_many_digits_is_refused_as_json_refuses_it():
    with pytest.raises(JSONRefused, match="integer of more than"):
        parse_client_json(b"[" + b"9" * 5000 + b"]")


@pytest.mark.parametrize("body", [
    b'{"a": NaN}', b'[1e400]', b'{"s": "\\ud800"}', b'\xef\xbb\xbf{}', b'{"a": "\xff"}', b'[1,]',
    b'"a\x01b"', b"[" * 3000 + b"]" * 3000, b"[" + b"1" * 5000 + b"]",
])
def test_what_json_must_decide_is_left_to_it(body):
    from nbserver.jsonio import UNPARSED, parsed_exactly

    assert parsed_exactly(body) is UNPARSED


def test_nesting_past_the_limit_is_refused_though_msgspec_reads_it():
    from nbserver.jsonio import MAX_DEPTH, UNPARSED, parsed_exactly

    body = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    assert parsed_exactly(body) is not UNPARSED
    with pytest.raises(JSONRefused, match="deeper than"):
        parse_client_json(body)


@pytest.mark.parametrize("body, message", [
    (b'{"a": NaN}', "NaN at /a is not a JSON value"),
    (b'{"a": [1e400]}', "the number 1e400 at /a/0 is too large"),
    (b'{"s": "\\ud800"}', "a string at /s holds an unpaired UTF-16 surrogate escape"),
    (b'\xef\xbb\xbf{}', "Unexpected UTF-8 BOM"),
    (b'{"a": "\xff"}', "it is not UTF-8 text"),
    (b'{"a": [1,]}', "Expecting value"),
])
def test_what_msgspec_refuses_is_still_worded_by_json(body, message):
    with pytest.raises(JSONRefused, match=re.escape(message)):
        parse_client_json(body)


def test_strings_and_duplicate_keys_read_as_json_reads_them():
    body = '{"s": "\\u00e9\\ud83d\\ude00 \\"q\\" \\\\ \\/ caf\u00e9", "d": {"a": 1, "b": 2, "a": 3}, "e": [[], {}]}'
    assert same_values(parse_client_json(body.encode()), json.loads(body))
    assert same_values(parse_client_json(body), json.loads(body))
