"""The log filter redacts secrets from messages and tracebacks."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from nbserver.auth.logscrub import MIN_SCRUBBED_LENGTH, REDACTED, SHOW_SECRET, SecretScrubbingFilter, scrub
from tests.support.server_process import ServerProcess


def test_known_secret_and_generic_patterns_are_redacted():
    text = scrub("GET /tree?token=abc&x=1 by the-token", ["the-token"])
    assert text == f"GET /tree?token={REDACTED}&x=1 by {REDACTED}"
    headers = scrub("Authorization: token s3cr3t\nCookie: a=b; c=d\nHost: h", [])
    assert headers == f"Authorization: {REDACTED}\nCookie: {REDACTED}\nHost: h"


def test_request_reprs_and_header_dicts_are_redacted():
    text = scrub("{'Authorization': 'token xyz', 'Cookie': 'nbserver-session-1=sig', 'Host': 'h'}", [])
    assert "xyz" not in text and "sig" not in text and "'Host': 'h'" in text


def test_filter_rewrites_message_args_and_traceback():
    record_filter = SecretScrubbingFilter(lambda: ["tok12345"])
    try:
        raise RuntimeError("failed with tok12345")
    except RuntimeError:
        import sys

        record = logging.LogRecord("nbserver", logging.ERROR, __file__, 1, "url %s", ("/x?token=tok12345",),
                                   sys.exc_info())
    assert record_filter.filter(record)
    formatted = logging.Formatter().format(record)
    assert "tok12345" not in formatted
    assert "RuntimeError" in formatted


def test_the_startup_url_record_may_show_the_token():
    record = logging.LogRecord("nbserver", logging.INFO, __file__, 1, "open %s", ("/tree?token=tok",), None)
    setattr(record, SHOW_SECRET, True)
    assert SecretScrubbingFilter(lambda: ["tok"]).filter(record)
    assert record.getMessage() == "open /tree?token=tok"


def test_a_one_letter_token_leaves_the_rest_of_a_line_readable():
    line = "404 GET /api/contents/test/notebook.txt (3.1 ms)"
    assert scrub(line, ["t"]) == line


def test_a_short_token_is_still_redacted_where_tokens_are_passed():
    assert scrub("GET /tree?token=t&path=nt", ["t"]) == f"GET /tree?token={REDACTED}&path=nt"
    assert scrub("Authorization: token t", ["t"]) == f"Authorization: {REDACTED}"


def test_a_token_of_the_minimum_length_is_redacted_everywhere():
    token = "x" * MIN_SCRUBBED_LENGTH
    assert scrub(f"404 GET /api/contents/{token}.txt", [token]) == f"404 GET /api/contents/{REDACTED}.txt"


def request_missing(server: ServerProcess, name: str) -> int:
    request = urllib.request.Request(f"{server.base_url}api/contents/{name}",
                                     headers={"Authorization": f"token {server.token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def logged_line(server: ServerProcess, fragment: str) -> str:
    """The first log line holding ``fragment``, waiting for the server to write it (a few seconds at most)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in server.log.splitlines():
            if fragment in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"{fragment!r} not logged:\n{server.log}")


@pytest.mark.timeout(90)
def test_a_server_with_a_one_letter_token_warns_and_logs_readable_lines(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, token="t") as server:
        assert request_missing(server, "test/notebook-that-is-not-there.ipynb") == 404
        line = logged_line(server, "404 GET")
        assert "/api/contents/test/notebook-that-is-not-there.ipynb" in line, line
        assert REDACTED not in line
        assert "The token is short (1 of at least 8 characters)" in server.log


@pytest.mark.timeout(90)
def test_a_server_with_a_long_token_still_scrubs_it_from_log_lines(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, token="long-enough-token-42") as server:
        assert request_missing(server, "long-enough-token-42.txt") == 404
        line = logged_line(server, "404 GET")
        assert line.endswith(")") and f"/api/contents/{REDACTED}.txt" in line, line
        assert "The token is short" not in server.log
