"""Concrete request paths for the route patterns of the server, for tests that walk every route."""

from __future__ import annotations

import itertools
import re

from tornado import web

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
KERNEL_ID = "0b6f6d2e-4b1c-4bb3-9a59-3c4b2b1d5e71"
GROUP_SAMPLES: dict[str, list[str]] = {
    "path": ["a.ipynb", "/a.ipynb", ""],
    "kernel_id": [KERNEL_ID],
    "session_id": [KERNEL_ID],
    "checkpoint_id": ["checkpoint"],
    "section_name": ["notebook"],
    "section": ["notebook"],
    "kernel_name": ["python3"],
    "format": ["html"],
}
DEFAULT_SAMPLES = ["x", "/x", "", "python3"]
_NAMED_GROUP = re.compile(r"\?P<(\w+)>")


def _split_top_level_groups(pattern: str) -> list[tuple[str, str | None]]:
    """The pattern as pieces: ("literal", None) text and ("group", name) capture groups."""
    pieces: list[tuple[str, str | None]] = []
    literal, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            literal += pattern[i:i + 2]
            i += 2
            continue
        if char != "(":
            literal += char
            i += 1
            continue
        depth, j, in_class = 0, i, False
        while j < len(pattern):
            c = pattern[j]
            if c == "\\":
                j += 2
                continue
            if in_class:
                in_class = c != "]"
            elif c == "[":
                in_class = True
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        group = pattern[i:j + 1]
        match = _NAMED_GROUP.match(group, 1)
        pieces.append((literal, None))
        # An unnamed group keeps its text, so a literal one like (robots\.txt) gets filled.
        pieces.append((group[1:-1], match.group(1) if match else ""))
        literal, i = "", j + 1
        if i < len(pattern) and pattern[i] in "?*+":
            i += 1
    pieces.append((literal, None))
    return pieces


def _literal_text(regex_text: str) -> str:
    text = regex_text.replace(".*", "no-such-route")
    text = re.sub(r"(\\?.)\?", r"\1", text)  # an optional char: include it
    return re.sub(r"\\(.)", r"\1", text)


def sample_path(pattern: str) -> str:
    """A path that the route ``pattern`` matches whole, with plausible values in its groups."""
    pieces = _split_top_level_groups(pattern)
    options = [
        [_literal_text(text)] if name is None
        else GROUP_SAMPLES.get(name, DEFAULT_SAMPLES) if name
        else [_literal_text(text), *DEFAULT_SAMPLES]
        for text, name in pieces
    ]
    for combination in itertools.product(*options):
        candidate = "".join(combination)
        if re.fullmatch(pattern, candidate):
            return candidate
    raise ValueError(f"No sample path for route {pattern!r}")


def application_routes(app: web.Application) -> list[tuple[str, type[web.RequestHandler]]]:
    """Every (pattern, handler) of a tornado Application: route_table() plus tornado's static routes."""
    return [(rule.matcher.regex.pattern.removesuffix("$"), rule.target)
            for rule in app.wildcard_router.rules]


def implemented_methods(handler: type[web.RequestHandler]) -> list[str]:
    """The HTTP methods of METHODS that ``handler`` answers (HEAD wherever GET is)."""
    return [m for m in METHODS
            if getattr(handler, m.lower()) is not getattr(web.RequestHandler, m.lower())
            or (m == "HEAD" and handler.get is not web.RequestHandler.get)]
