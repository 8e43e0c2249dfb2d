"""A logging filter that keeps secrets out of log output, whatever logged them.

Handlers already avoid logging query strings, cookies and headers; this is the second
line: it redacts ``token=...`` parameters, ``Authorization`` and ``Cookie`` header values and
``password=...`` form fields, and the server's secrets wherever they appear when they are at
least :data:`MIN_SCRUBBED_LENGTH` characters long. A shorter secret (``--IdentityProvider.token=t``)
is redacted only in those token-bearing places: replacing every ``t`` would garble every line,
and a token that short is guessed faster than read from a log (the server warns at start).
"""

from __future__ import annotations

import logging
import re
from typing import Callable

REDACTED = "[secret]"

#: Secrets shorter than this are redacted only after ``token=`` and in auth headers, not everywhere.
MIN_SCRUBBED_LENGTH = 8
_PATTERNS = [
    re.compile(r"(?i)(\btoken=)[^&\s'\"]+"),
    re.compile(r"(?i)(\b_xsrf=)[^&\s'\"]+"),
    re.compile(r"(?i)(\bpassword=)[^&\s'\"]+"),
    re.compile(r"(?i)(['\"]?authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+"),
    re.compile(r"(?i)(['\"]?(?:set-)?cookie['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n}]+"),
]

#: Set ``extra={SHOW_SECRET: True}`` on the one record meant to show the token to its owner.
SHOW_SECRET = "nbserver_show_secret"


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with each secret of at least MIN_SCRUBBED_LENGTH characters, and whatever stands in a
    token-bearing place (``token=``, ``Authorization:``...), replaced by REDACTED."""
    for secret in secrets:
        if len(secret) >= MIN_SCRUBBED_LENGTH:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class SecretScrubbingFilter(logging.Filter):
    """Rewrites each record's message (and traceback text) with secrets redacted."""

    def __init__(self, secrets: Callable[[], list[str]]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, SHOW_SECRET, False):
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        secrets = self.secrets()
        record.msg = scrub(message, secrets)
        record.args = None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, secrets)
        return True


def install_secret_scrubbing(handlers: list[logging.Handler], secrets: Callable[[], list[str]]) -> None:
    """Add one scrubbing filter to each handler (idempotent)."""
    for handler in handlers:
        if not any(isinstance(existing, SecretScrubbingFilter) for existing in handler.filters):
            handler.addFilter(SecretScrubbingFilter(secrets))
