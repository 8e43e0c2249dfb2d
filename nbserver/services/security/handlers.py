"""``POST /api/security/csp-report``: where browsers report Content-Security-Policy violations.

Every page and API reply names this route in its policy's ``report-uri`` (the route and
behaviour of Jupyter Server's CSP report handler). A report is logged as a warning, so an
operator sees a page that tried to load something it may not; nothing else is done with it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from nbserver.base.handlers import APIHandler
from nbserver.errors import PayloadTooLarge

log = logging.getLogger("nbserver")

#: Bytes of a report that are read; a browser's reports are a few hundred bytes.
MAX_REPORT_BYTES = 64 * 1024
#: The fields of a report (CSP level 2, ``application/csp-report``) that the log line shows.
REPORT_FIELDS = ("document-uri", "violated-directive", "blocked-uri", "source-file", "line-number")


def describe_report(raw: bytes) -> str:
    """One log line's worth of a report: its known fields, or its first bytes when it is not one."""
    try:
        parsed: Any = json.loads(raw)
    except (ValueError, RecursionError):
        parsed = None
    report = parsed.get("csp-report") if isinstance(parsed, dict) else None
    if isinstance(report, dict):
        fields = [f"{name}={report[name]!r}" for name in REPORT_FIELDS if name in report]
        if fields:
            return " ".join(fields)[:2000]
    return repr(raw[:500])


class CSPReportHandler(APIHandler):
    """Log a violation report. Browsers send it with the page's cookies but no XSRF header."""

    auth_resource = "csp"  # Jupyter Server's resource name for it

    def check_xsrf(self) -> None:
        return  # a report changes nothing, and a browser cannot add X-XSRFToken to it

    counts_as_activity = False  # a report is not a person using the server

    def post(self) -> None:
        raw = self.body
        if len(raw) > MAX_REPORT_BYTES:
            raise PayloadTooLarge(f"A CSP report may have at most {MAX_REPORT_BYTES} bytes.")
        log.warning("Content security violation: %s", describe_report(raw))
        self.set_status(204)
        self.finish()


handlers = [(r"/api/security/csp-report", CSPReportHandler)]
