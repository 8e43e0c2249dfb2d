"""The log filter redacts secrets from messages and tracebacks."""

from __future__ import annotations

import logging

from nbserver.auth.logscrub import REDACTED, SHOW_SECRET, SecretScrubbingFilter, scrub


def test_known_secret_and_generic_patterns_are_redacted():
    text = scrub("GET /tree?token=abc&x=1 by the-token", ["the-token"])
    assert text == f"GET /tree?token={REDACTED}&x=1 by {REDACTED}"
    headers = scrub("Authorization: token s3cr3t\nCookie: a=b; c=d\nHost: h", [])
    assert headers == f"Authorization: {REDACTED}\nCookie: {REDACTED}\nHost: h"


def test_request_reprs_and_header_dicts_are_redacted():
    text = scrub("{'Authorization': 'token xyz', 'Cookie': 'nbserver-session-1=sig', 'Host': 'h'}", [])
    assert "xyz" not in text and "sig" not in text and "'Host': 'h'" in text


def test_filter_rewrites_message_args_and_traceback():
    record_filter = SecretScrubbingFilter(lambda: ["tok123"])
    try:
        raise RuntimeError("failed with tok123")
    except RuntimeError:
        import sys

        record = logging.LogRecord("nbserver", logging.ERROR, __file__, 1, "url %s", ("/x?token=tok123",),
                                   sys.exc_info())
    assert record_filter.filter(record)
    formatted = logging.Formatter().format(record)
    assert "tok123" not in formatted
    assert "RuntimeError" in formatted


def test_the_startup_url_record_may_show_the_token():
    record = logging.LogRecord("nbserver", logging.INFO, __file__, 1, "open %s", ("/tree?token=tok",), None)
    setattr(record, SHOW_SECRET, True)
    assert SecretScrubbingFilter(lambda: ["tok"]).filter(record)
    assert record.getMessage() == "open /tree?token=tok"
