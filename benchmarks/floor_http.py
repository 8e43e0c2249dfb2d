"""The floor of a tornado server: bare tornado handlers that send a file's bytes as they are.

    python floor_http.py ROOT PORT

Serves, with no authentication and no checks: ``GET /api/contents/<name>`` (query ignored) and
``GET /files/<name>`` by reading ``ROOT/<name>`` and writing its bytes (with the JSON and the
plain-text content type), and ``GET /api/status`` with a small JSON document of the shape both
servers send. A server answering a GET of an unchanged notebook with an already-encoded reply,
or a small request, can come close to this, not beat it. Run with the interpreter of the server
measured, so that both use their own tornado.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime, timezone

from tornado import web


class FileBytesHandler(web.RequestHandler):
    def initialize(self, root: str) -> None:
        self.root = root

    def get(self, name: str) -> None:
        with open(os.path.join(self.root, os.path.basename(name)), "rb") as handle:
            data = handle.read()
        self.set_header("Content-Type", "application/json")
        self.finish(data)


class FileHandler(FileBytesHandler):
    def get(self, name: str) -> None:
        with open(os.path.join(self.root, os.path.basename(name)), "rb") as handle:
            data = handle.read()
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(data)


STARTED = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class StatusHandler(web.RequestHandler):
    def get(self) -> None:
        now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"started": STARTED, "last_activity": now, "kernels": 0, "connections": 0}))


async def main() -> None:
    root, port = sys.argv[1], int(sys.argv[2])
    app = web.Application([(r"/api/contents/(.+)", FileBytesHandler, {"root": root}),
                           (r"/files/(.+)", FileHandler, {"root": root}), (r"/api/status", StatusHandler)])
    app.listen(port, "127.0.0.1")
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
