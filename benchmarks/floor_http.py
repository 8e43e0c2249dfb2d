"""The floor for a notebook GET: a bare tornado handler that sends a file's bytes as they are.

    python floor_http.py ROOT PORT

Serves ``GET /api/contents/<name>`` (query ignored, no authentication) by reading ``ROOT/<name>``
and writing its bytes, with the JSON content type. A server answering a GET of an unchanged
notebook with an already-encoded reply can come close to this, not beat it. Run with the
interpreter of the server measured, so that both use their own tornado.
"""

from __future__ import annotations

import asyncio
import os
import sys

from tornado import web


class FileBytesHandler(web.RequestHandler):
    def initialize(self, root: str) -> None:
        self.root = root

    def get(self, name: str) -> None:
        with open(os.path.join(self.root, os.path.basename(name)), "rb") as handle:
            data = handle.read()
        self.set_header("Content-Type", "application/json")
        self.finish(data)


async def main() -> None:
    root, port = sys.argv[1], int(sys.argv[2])
    app = web.Application([(r"/api/contents/(.+)", FileBytesHandler, {"root": root})])
    app.listen(port, "127.0.0.1")
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
