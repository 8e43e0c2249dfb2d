"""Helpers to build URL paths under the server's base URL."""

from __future__ import annotations

from urllib.parse import quote


def url_path_join(*pieces: str) -> str:
    """Join URL path pieces with single slashes, keeping a leading and trailing slash if given."""
    if not pieces:
        return ""
    initial = pieces[0].startswith("/")
    final = pieces[-1].endswith("/")
    stripped = [p.strip("/") for p in pieces]
    result = "/".join(p for p in stripped if p)
    if initial:
        result = "/" + result
    if final and result != "/":
        result += "/"
    return result or "/"


def url_escape_path(path: str) -> str:
    """Percent-encode each component of an API path, keeping the slashes."""
    return "/".join(quote(part, safe="") for part in path.split("/"))


def normalize_base_url(base_url: str) -> str:
    """Return the base URL with exactly one leading and one trailing slash."""
    stripped = base_url.strip("/")
    return "/" + stripped + "/" if stripped else "/"
