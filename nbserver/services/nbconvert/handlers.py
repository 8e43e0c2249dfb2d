"""``GET /api/nbconvert``: the nbconvert exporters this server can use, as Jupyter Server lists them."""

from __future__ import annotations

import logging
from typing import Any

from nbserver.base.handlers import APIHandler
from nbserver.blocking import run_blocking

log = logging.getLogger("nbserver")


def exporter_listing() -> dict[str, dict[str, Any]]:
    """``{name: {"output_mimetype": ...}}`` for every exporter that loads (entry points may not)."""
    from nbconvert.exporters import get_export_names, get_exporter

    listing: dict[str, dict[str, Any]] = {}
    for name in get_export_names():
        try:
            exporter_class = get_exporter(name)
        except Exception:  # a broken third-party exporter must not break the listing
            log.warning("nbconvert exporter %r does not load; left out of /api/nbconvert", name, exc_info=True)
            continue
        listing[name] = {"output_mimetype": exporter_class.output_mimetype}
    return listing


class NbconvertRootHandler(APIHandler):
    auth_resource = "nbconvert"

    async def get(self) -> None:
        self.finish_json(await run_blocking(exporter_listing))


handlers = [
    (r"/api/nbconvert/?", NbconvertRootHandler),
]
