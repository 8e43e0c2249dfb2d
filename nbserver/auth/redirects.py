"""Where a ``next`` parameter may send a browser: only to a path on this server."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# Browsers ignore or fold these: "/\tevil" or "/\\evil" can become "//evil", another host.
_UNSAFE_RAW = re.compile(r"[\x00-\x20\x7f\\]")
_UNSAFE_DECODED = re.compile(r"[\x00-\x1f\x7f\\]")


def safe_next_path(next_url: str | None, base_url: str) -> str | None:
    """``next_url`` if it is a path under ``base_url`` on this server, else None.

    Refused: anything with a scheme or host (``https://x``, ``//x``, ``javascript:``),
    backslashes, whitespace and control characters, and the same after percent-decoding.
    """
    if not next_url:
        return None
    if _UNSAFE_RAW.search(next_url):
        return None
    for form in (next_url, unquote(next_url), unquote(unquote(next_url))):
        if _UNSAFE_DECODED.search(form):
            return None
        if not form.startswith("/") or form.startswith("//"):
            return None
        try:
            parts = urlsplit(form)
        except ValueError:
            return None
        if parts.scheme or parts.netloc:
            return None
    if not next_url.startswith(base_url) and next_url + "/" != base_url:
        return None
    return next_url
