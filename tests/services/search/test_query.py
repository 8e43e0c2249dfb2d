"""The query parser: every term quoted for FTS5, FTS5's syntax only ever plain text (design 3.12)."""

from __future__ import annotations

import random
import sqlite3

import pytest

from nbserver.errors import InvalidInput
from nbserver.services.search.query import _token_ranges, fold, match_ranges, may_occur, parse_query, \
    substring_ranges

INJECTIONS = ['NEAR("x', '"', '*', 'OR', 'a OR b', 'col:x', 'name:', '^x', 'x AND', 'NOT x', '(x', 'x)', '"a" "b',
              "a'b", '{name title}: x', 'x + y', '-', '""*', 'name:"x', 'NEAR(a b, 2)']


def test_words_are_anded_and_quoted() -> None:
    query = parse_query("quasar spectra")
    assert query.fts() == '"quasar" AND "spectra"'


def test_phrase_prefix_exclusion_and_names() -> None:
    query = parse_query('"red shift" galax* -noise name:report')
    assert [term.tokens for term in query.positive] == [("red", "shift"), ("galax",), ("report",)]
    assert query.positive[1].prefix and query.positive[2].names_only
    assert query.fts() == '("red shift" AND "galax"* AND name : "report") NOT ("noise")'


def test_operators_and_punctuation_are_plain_text() -> None:
    assert parse_query('NEAR("x').fts() == '"NEAR x"'
    assert parse_query("a OR b").fts() == '"a" AND "OR" AND "b"'
    assert parse_query("col:x").fts() == '"col x"'


@pytest.mark.parametrize("text", ["", "   ", '"', "*", "-x", "-a -b", "()", "^"])
def test_no_word_to_find_is_400(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_query(text)


def test_too_long_query_is_400() -> None:
    with pytest.raises(InvalidInput):
        parse_query("x" * 1001)


@pytest.mark.parametrize("text", INJECTIONS)
def test_every_query_is_a_valid_fts5_expression(text: str) -> None:
    """Whatever the user typed, FTS5 parses what nbserver sends (or the parser said 400 first)."""
    try:
        expression = parse_query(text).fts()
    except InvalidInput:
        return
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(name, title)")
    db.execute("INSERT INTO t VALUES ('near x or b', 'col x')")
    db.execute("SELECT * FROM t WHERE t MATCH ?", (expression,)).fetchall()


def test_fold_removes_case_and_diacritics() -> None:
    assert fold("Ångström") == "angstrom"


def test_match_ranges_find_tokens_phrases_and_prefixes() -> None:
    text = "The Quasar spectra; quasars and red-shift."
    assert match_ranges(text, parse_query("quasar").positive) == [(4, 10)]
    assert match_ranges(text, parse_query("quasar*").positive) == [(4, 10), (20, 27)]
    assert match_ranges(text, parse_query('"red shift"').positive) == [(32, 41)]
    assert [text[a:b] for a, b in match_ranges(text, parse_query("spectra the").positive)] == ["The", "spectra"]


def test_substring_ranges_for_names() -> None:
    assert substring_ranges("Scatter3D.ipynb", parse_query("catter").positive) == [(1, 7)]


def test_may_occur_rules_out_only_ascii_text_without_the_words() -> None:
    terms = parse_query("quasar café").positive
    assert not may_occur("nothing of the kind here", terms)
    assert may_occur("a QUASAR bright", terms) and may_occur("the cafe", terms)
    assert may_occur("non-ASCII text: ünïcode", terms)  # not ruled out: match_ranges decides


def test_ascii_text_gets_the_ranges_of_the_token_by_token_rule() -> None:
    rng = random.Random(5)
    words = ["quasar", "Quasars", "qua", "a", "b_c", "x9", "QUA"]
    for _ in range(300):
        text = "".join(rng.choice(words) + rng.choice([" ", "  ", "-", "_", ".", "\n"]) for _ in range(12))
        for q in ("quasar", "qua*", '"a qua"', '"a a"*', "b c", "x9 quasar"):
            terms = parse_query(q).positive
            assert match_ranges(text, terms) == _token_ranges(text, terms), (text, q)
