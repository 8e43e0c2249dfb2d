"""Run inside ``unshare --net`` (only loopback up): the real fetcher, the system resolver and real
sockets against a source server on 127.0.0.1. Prints one JSON object: each URL's outcome and
the source server's request log."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import sys

from nbserver.errors import NbserverError
from nbserver.services.external.fetch import AddressGuard, ExternalFetcher
from tests.support.notebook_source import SourceServer

BLOCKED_FORMS = [
    "http://127.0.0.1:{port}/nb.ipynb", "http://localhost:{port}/nb.ipynb", "http://[::1]:{port}/nb.ipynb",
    "http://0.0.0.0:{port}/nb.ipynb", "http://2130706433:{port}/nb.ipynb", "http://0x7f.1:{port}/nb.ipynb",
    "http://127.1:{port}/nb.ipynb", "http://[::ffff:127.0.0.1]:{port}/nb.ipynb", "http://[64:ff9b::7f00:1]/",
    "http://169.254.169.254/latest/meta-data/", "http://100.100.100.200/", "http://[fd00:ec2::254]/",
    "http://127.0.0.1/", "http://localhost./",
]


async def outcome(fetcher: ExternalFetcher, url: str) -> str:
    try:
        fetched = await fetcher.fetch(url)
    except NbserverError as exc:
        return f"{exc.status_code} {exc.code}"
    return f"200 {len(fetched.body)} bytes"


async def main() -> None:
    source = SourceServer()
    closed = ExternalFetcher(AddressGuard([]), 1024 * 1024, 5.0)
    results = {url: await outcome(closed, url.format(port=source.port)) for url in BLOCKED_FORMS}
    log_when_closed = list(source.log)
    opened = ExternalFetcher(AddressGuard([ipaddress.ip_network("127.0.0.1/32")]), 1024 * 1024, 5.0)
    allowed = await outcome(opened, source.url("nb.ipynb"))
    await source.close()
    json.dump({"blocked": results, "log_when_blocked": log_when_closed, "allowed": allowed,
               "log": source.log}, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
