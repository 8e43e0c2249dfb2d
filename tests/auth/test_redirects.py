"""safe_next_path: only paths under the base URL of this server."""

from __future__ import annotations

import pytest

from nbserver.auth.redirects import safe_next_path


@pytest.mark.parametrize("value", ["/tree", "/tree/a%20b.ipynb", "/notebooks/x.ipynb?kernel=1", "/"])
def test_local_paths_are_kept(value):
    assert safe_next_path(value, "/") == value


@pytest.mark.parametrize("value", [
    "", "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example",
    "http:evil.example", "javascript:alert(1)", "%2F%2Fevil.example", "/%2F/evil.example", "/%5Cevil",
    "%252F%252Fevil.example", "/\t/evil.example", "/%09/evil.example", " /tree", "tree", "/tree\n",
])
def test_anything_that_could_leave_the_server_is_refused(value):
    assert safe_next_path(value, "/") is None


def test_paths_outside_the_base_url_are_refused():
    assert safe_next_path("/other/tree", "/nb/") is None
    assert safe_next_path("/nb/tree", "/nb/") == "/nb/tree"
    assert safe_next_path("/nb", "/nb/") == "/nb"
