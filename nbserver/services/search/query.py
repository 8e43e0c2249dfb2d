"""The search query language, parsed by nbserver (design section 3.12) and never passed raw to FTS5.

``words are ANDed``, ``"a quoted phrase"``, ``-word`` excludes, ``word*`` is a prefix and
``name:word`` looks only at file names. Everything else is plain text: FTS5's own syntax
(``NEAR(``, ``OR``, ``col:``, ``^``, ``"``...) cannot be formed, because each term is reduced to
its tokens (runs of letters and digits, as FTS5's ``unicode61`` tokenizer splits them) and
emitted as a double-quoted FTS5 string of those tokens. A term without any token (``"``, ``*``,
``(``) is dropped; a query with no positive term is :class:`InvalidInput` (HTTP 400).

The same tokens find the matched ranges in the plain text of a hit (:func:`match_ranges`), with
case and diacritics folded as ``unicode61 remove_diacritics 2`` folds them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from nbserver.errors import InvalidInput

#: A token as FTS5's unicode61 tokenizer sees one: letters and digits (``_`` separates).
TOKEN = re.compile(r"[^\W_]+")
#: The longest query nbserver parses (characters); longer queries are 400.
MAX_QUERY_CHARS = 1000
#: At most this many terms (a query is for finding, not a document).
MAX_TERMS = 32


def fold(token: str) -> str:
    """Case and diacritics folded, as unicode61 with ``remove_diacritics 2`` compares tokens."""
    decomposed = unicodedata.normalize("NFKD", token.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def tokens_of(text: str) -> list[str]:
    return TOKEN.findall(text)


@dataclass(frozen=True)
class Term:
    """One query term: its tokens (a phrase when several), and how it is used."""

    text: str
    tokens: tuple[str, ...]
    prefix: bool = False
    negated: bool = False
    names_only: bool = False

    def fts(self) -> str:
        """This term as an FTS5 expression: quoted tokens only, so nothing in it is an operator."""
        phrase = '"' + " ".join(self.tokens) + '"' + ("*" if self.prefix else "")
        return f"name : {phrase}" if self.names_only else phrase

    def tsquery(self) -> str:
        """This term as PostgreSQL ``tsquery`` text: folded tokens, each a quoted lexeme, joined by
        ``<->`` (a phrase), the last with ``:*`` for a prefix, all weight ``A`` (the name) for
        ``name:``. Nothing in it is an operator: lexemes are quoted (design 3.12)."""
        weight = "A" if self.names_only else ""
        lexemes = [tsquery_lexeme(fold(token)) for token in self.tokens]
        lexemes = [f"{lexeme}:{'*' if self.prefix and number == len(lexemes) - 1 else ''}{weight}".rstrip(":")
                   for number, lexeme in enumerate(lexemes)]
        return "(" + " <-> ".join(lexemes) + ")"


def tsquery_lexeme(lexeme: str) -> str:
    """``lexeme`` quoted for tsvector/tsquery text (quotes and backslashes doubled)."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass(frozen=True)
class Query:
    """A parsed query: terms to find (ANDed) and terms to exclude."""

    text: str
    positive: tuple[Term, ...]
    negative: tuple[Term, ...]

    def fts(self) -> str:
        """The FTS5 MATCH expression: ``(a AND b) NOT (c OR d)``."""
        found = " AND ".join(term.fts() for term in self.positive)
        if not self.negative:
            return found
        return f"({found}) NOT ({' OR '.join(term.fts() for term in self.negative)})"

    def tsquery(self) -> str:
        """The PostgreSQL tsquery text (passed as a value, cast to ``tsquery``): ``a & b & !(c | d)``."""
        found = " & ".join(term.tsquery() for term in self.positive)
        if not self.negative:
            return found
        return f"{found} & !({' | '.join(term.tsquery() for term in self.negative)})"


def _split(text: str) -> list[tuple[str, bool]]:
    """(raw term, quoted) pairs; a ``"`` opening a term (after ``-``/``name:``) runs to the next ``"``."""
    parts: list[tuple[str, bool]] = []
    position, length = 0, len(text)
    while position < length:
        if text[position].isspace():
            position += 1
            continue
        start = position
        body = position + (text[position] == "-")
        if text.startswith("name:", body):
            body += len("name:")
        if body < length and text[body] == '"':
            end = text.find('"', body + 1)
            end = length if end < 0 else end + 1
            if end < length and text[end] == "*":
                end += 1
            parts.append((text[start:end], True))
            position = end
            continue
        while position < length and not text[position].isspace():
            position += 1
        parts.append((text[start:position], False))
    return parts


def _term(raw: str, quoted: bool) -> Term | None:
    negated = raw.startswith("-") and len(raw) > 1
    body = raw[1:] if negated else raw
    names_only = body.startswith("name:") and len(body) > len("name:")
    body = body[len("name:"):] if names_only else body
    prefix = body.endswith("*")
    if quoted:
        body = body.rstrip("*").strip('"')
    else:
        body = body.rstrip("*")
    tokens = tuple(tokens_of(body))
    if not tokens:
        return None
    return Term(body, tokens, prefix, negated, names_only)


def parse_query(text: str) -> Query:
    """Parse a user's query; InvalidInput (400) when it is empty, too long, or only exclusions."""
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(f"The query is longer than {MAX_QUERY_CHARS} characters.", code="invalid_field")
    terms = [term for raw, quoted in _split(text) if (term := _term(raw, quoted)) is not None]
    if len(terms) > MAX_TERMS:
        raise InvalidInput(f"The query has more than {MAX_TERMS} terms.", code="invalid_field")
    positive = tuple(term for term in terms if not term.negated)
    if not positive:
        raise InvalidInput("'q' needs at least one word to look for.", code="invalid_field")
    return Query(text, positive, tuple(term for term in terms if term.negated))


def match_ranges(text: str, terms: tuple[Term, ...]) -> list[tuple[int, int]]:
    """``[start, end)`` character ranges of ``text`` where any of ``terms`` occurs, in order.

    A term occurs where its tokens are consecutive tokens of ``text`` (the last one a prefix for
    ``word*``), compared folded: the same rule FTS5 used to find the document.
    """
    if text.isascii():  # folding is lowering: one regular expression per term finds its places
        lowered = text.lower()
        return _merged([match.span(1) for term in terms for match in _ascii_pattern(term).finditer(lowered)])
    return _token_ranges(text, terms)


def _token_ranges(text: str, terms: tuple[Term, ...]) -> list[tuple[int, int]]:
    """match_ranges for any text: each token folded, then compared with the terms' tokens."""
    spans = [(match.start(), match.end(), fold(match.group())) for match in TOKEN.finditer(text)]
    found: list[tuple[int, int]] = []
    for term in terms:
        wanted = [fold(token) for token in term.tokens]
        size = len(wanted)
        for index in range(len(spans) - size + 1):
            window = spans[index:index + size]
            if all(window[k][2] == wanted[k] for k in range(size - 1)) and (
                    window[-1][2].startswith(wanted[-1]) if term.prefix else window[-1][2] == wanted[-1]):
                found.append((window[0][0], window[-1][1]))
    return _merged(found)


def _ascii_pattern(term: Term) -> re.Pattern[str]:
    """Where ``term`` occurs in lowered ASCII text: its folded tokens, whole (the last one a prefix
    for ``word*``), separated by anything that is not a token character."""
    tokens = [re.escape(fold(token)) for token in term.tokens]
    tail = r"[^\W_]*" if term.prefix else ""
    # In a lookahead, so that overlapping places are all found ("a a" twice in "a a a").
    return re.compile(r"(?=((?<![^\W_])" + r"[\W_]+".join(tokens) + tail + r"(?![^\W_])))")


def may_occur(text: str, terms: tuple[Term, ...]) -> bool:
    """False only when none of ``terms`` can occur in ``text``: a check at C speed before
    :func:`match_ranges` tokenizes it in Python (ASCII text lacking each term's first token, folded)."""
    if not text.isascii():
        return True
    lowered = text.lower()
    return any(fold(term.tokens[0]) in lowered for term in terms)


def substring_ranges(text: str, terms: tuple[Term, ...]) -> list[tuple[int, int]]:
    """Ranges of each term's text inside ``text``, case-insensitively (the name-only fallback's LIKE)."""
    folded = text.casefold()
    found: list[tuple[int, int]] = []
    for term in terms:
        needle = term.text.casefold()
        start = folded.find(needle)
        while needle and start >= 0 and len(folded) == len(text):
            found.append((start, start + len(needle)))
            start = folded.find(needle, start + 1)
    return _merged(found)


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
