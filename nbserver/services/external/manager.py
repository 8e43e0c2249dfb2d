"""ExternalNotebooks: render or import a notebook from an http(s) URL, safely (design section 3.11).

The fetch (:mod:`.fetch`) refuses every destination inside the server's networks; the body
must parse and validate as a notebook with at most ``external_max_cells`` cells and
``external_max_outputs`` outputs (step 6); rendering runs in child processes with a memory cap
(:mod:`.render`, step 7); each user may start ``external_rate_limit`` fetches a minute, and
validated notebooks are kept a while by URL (:mod:`.cache`), so a second look within
``external_cache_ttl`` seconds fetches nothing, and a later one sends a conditional request (step 9).
"""

from __future__ import annotations

import ipaddress
import json
import math
import posixpath
from typing import Any
from urllib.parse import unquote, urlsplit

from traitlets import Bool, Float, Integer, List, Unicode, validate
from traitlets.config import LoggingConfigurable

from nbserver.auth.ratelimit import LoginRateLimiter
from nbserver.blocking import run_blocking
from nbserver.errors import Forbidden, InvalidInput, TooManyRequests, Unprocessable
from nbserver.services.contents.notebooks import read_notebook, validation_message
from nbserver.services.external.addresses import IPNetwork
from nbserver.services.external.cache import NotebookCache
from nbserver.services.external.fetch import AddressGuard, ExternalFetcher, Lookup, system_lookup
from nbserver.services.external.render import RenderWorkers

RATE_WINDOW_SECONDS = 60.0
UTF8_BOM = b"\xef\xbb\xbf"


def count_cells_and_outputs(data: Any) -> tuple[int, int]:
    """(cells, outputs) of a parsed notebook of any version (v4 ``cells``, v3 ``worksheets``); what is
    not a list counts nothing (the schema check says what is wrong with it)."""
    cells: list[Any] = []
    if isinstance(data, dict):
        if isinstance(data.get("cells"), list):
            cells = data["cells"]
        elif isinstance(data.get("worksheets"), list):
            for sheet in data["worksheets"]:
                if isinstance(sheet, dict) and isinstance(sheet.get("cells"), list):
                    cells.extend(sheet["cells"])
    outputs = sum(len(cell["outputs"]) for cell in cells
                  if isinstance(cell, dict) and isinstance(cell.get("outputs"), list))
    return len(cells), outputs


def check_counts(data: Any, max_cells: int, max_outputs: int) -> None:
    """Unprocessable (422, ``too_many_cells`` / ``too_many_outputs``) past the limits (design 3.11 step 6)."""
    cells, outputs = count_cells_and_outputs(data)
    if cells > max_cells:
        raise Unprocessable(f"The notebook has {cells} cells; at most {max_cells} are rendered or imported.",
                            code="too_many_cells", limit=max_cells, count=cells)
    if outputs > max_outputs:
        raise Unprocessable(f"The notebook has {outputs} outputs; at most {max_outputs} are rendered or imported.",
                            code="too_many_outputs", limit=max_outputs, count=outputs)


def notebook_from_body(body: bytes, max_cells: int = 10_000, max_outputs: int = 50_000) -> dict[str, Any]:
    """Step 6: the fetched bytes as a valid v4 notebook model, else Unprocessable (422).

    UTF-8 (a BOM is allowed) JSON of a notebook that nbformat's schema accepts; older versions
    are upgraded to v4 first. The 422 names what is wrong (the JSON error or the schema's);
    more than ``max_cells`` cells or ``max_outputs`` outputs is refused before the schema check.
    """
    if body.startswith(UTF8_BOM):
        body = body[len(UTF8_BOM):]
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise Unprocessable("The source is not UTF-8 text, so not a notebook.", code="not_a_notebook") from None
    except (ValueError, RecursionError) as exc:
        raise Unprocessable(f"The source is not valid JSON: {exc}.", code="not_a_notebook") from None
    if not isinstance(data, dict) or "nbformat" not in data:
        from nbformat.validator import get_validator  # words the first error of the v4 schema for us

        first = next(iter(get_validator(version=4, version_minor=5).iter_errors(data)), None)
        reason = first.message if first is not None else "it has no 'nbformat' version"
        raise Unprocessable(f"The source is not a notebook: {reason}.", code="not_a_notebook")
    check_counts(data, max_cells, max_outputs)
    try:
        nb = read_notebook(body).nb
    except InvalidInput as exc:
        raise Unprocessable(f"The source is not a notebook: {exc.message}", code="not_a_notebook") from None
    message = validation_message(nb)
    if message is not None:
        raise Unprocessable(f"The source is not a valid notebook: {message}", code="not_a_notebook")
    if not isinstance(nb, dict):
        raise Unprocessable("The source is not a notebook.", code="not_a_notebook")
    return nb


def import_name(url: str) -> str:
    """A file name for a notebook fetched from ``url``: its last path segment, ``.ipynb`` added."""
    name = unquote(posixpath.basename(urlsplit(url).path)).strip()
    if not name or name.startswith(".") or any(char in name for char in "/\\\x00") or len(name) > 200:
        name = "Imported"
    return name if name.endswith(".ipynb") else name + ".ipynb"


class ExternalNotebooks(LoggingConfigurable):
    """Fetches, validates and renders notebooks from other servers for ``/api/external`` and import."""

    external_enabled = Bool(True, help="Offer /api/external and /api/files/import; off, both answer 403.").tag(
        config=True)
    external_max_bytes = Integer(
        25 * 1024 * 1024, min=1, help="Largest external notebook fetched, in bytes, counted after decompression "
        "(a larger one gets 502 source_too_large).").tag(config=True)
    external_timeout = Float(
        20.0, min=0.1, help="Seconds an external fetch may take over all its redirects (then 504 source_timeout).",
    ).tag(config=True)
    external_max_redirects = Integer(5, min=0, help="Redirects an external fetch follows (one more: 502).").tag(
        config=True)
    external_allow_networks = List(
        Unicode(), [], help="Networks (CIDR, e.g. 10.1.0.0/16) external fetches may reach although they are "
        "private, loopback or otherwise refused, on any port when the URL names the address. For intranet "
        "servers and tests; empty by default.").tag(config=True)
    external_rate_limit = Integer(
        30, min=1, help="External renders and imports one user may start per minute (then 429).").tag(config=True)
    external_render_workers = Integer(2, min=1, help="Renders that run at once, each in a child process.").tag(
        config=True)
    external_render_timeout = Float(
        30.0, min=0.1, help="Seconds a render may take before its process is killed (503).").tag(config=True)
    external_render_memory_bytes = Integer(
        2 * 1024 ** 3, min=0, help="Address space each render process may use, in bytes (RLIMIT_AS, set in the "
        "process at its start); a render that needs more gets 503 render_memory_exceeded and its process is "
        "replaced. 0: no limit.").tag(config=True)
    external_max_cells = Integer(
        10_000, min=1, help="Most cells an external notebook may have (more: 422 too_many_cells).").tag(config=True)
    external_max_outputs = Integer(
        50_000, min=0, help="Most outputs, over all cells, an external notebook may have (more: 422 "
        "too_many_outputs).").tag(config=True)
    external_cache_ttl = Float(
        300.0, min=0.0, help="Seconds a fetched notebook is used again without asking its source; after that, "
        "it is asked with If-None-Match / If-Modified-Since and a 304 keeps it. 0: always ask.").tag(config=True)
    external_cache_entries = Integer(
        64, min=0, help="Most notebooks kept by URL (least recently used go first); 0: no cache.").tag(config=True)
    external_cache_max_bytes = Integer(
        128 * 1024 * 1024, min=0, help="Most bytes of notebook JSON the cache holds.").tag(config=True)

    @validate("external_allow_networks")
    def _validate_networks(self, proposal: Any) -> list[str]:
        for text in proposal["value"]:
            ipaddress.ip_network(text, strict=False)  # ValueError names a bad one
        return list(proposal["value"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limiter = LoginRateLimiter(self.external_rate_limit, RATE_WINDOW_SECONDS)
        self.lookup: Lookup = system_lookup
        self.renderer = RenderWorkers(self.external_render_workers, self.external_render_timeout,
                                      self.external_render_memory_bytes)
        self.cache = NotebookCache(self.external_cache_ttl, self.external_cache_entries,
                                   self.external_cache_max_bytes)

    @property
    def allowed_networks(self) -> list[IPNetwork]:
        return [ipaddress.ip_network(text, strict=False) for text in self.external_allow_networks]

    def admit(self, user: str) -> None:
        """Count one fetch for ``user``; TooManyRequests (429) past ``external_rate_limit`` a minute."""
        if not self.external_enabled:
            raise Forbidden("External notebooks are switched off on this server.", code="external_disabled")
        wait = self.limiter.retry_after(user)
        if wait > 0:
            raise TooManyRequests(f"At most {self.external_rate_limit} external notebooks a minute; try again "
                                  "later.", retry_after=max(1, math.ceil(wait)), code="rate_limited")
        self.limiter.record_failure(user)  # the limiter counts events; every fetch is one

    async def notebook_json(self, user: str, source: str) -> bytes:
        """Steps 1-6 and the cache of step 9 for ``user``: the valid notebook at ``source``, as JSON.

        The rate limit counts every call and the SSRF guard checks ``source`` and its host's
        addresses every time, cached or not; only the fetch itself is saved.
        """
        self.admit(user)
        guard = AddressGuard(self.allowed_networks, self.lookup)
        fetcher = ExternalFetcher(guard, self.external_max_bytes, self.external_timeout,
                                  self.external_max_redirects)
        target = fetcher.check(source)
        entry = self.cache.get(target.url)
        if entry is not None and self.cache.is_fresh(entry):
            await guard.vetted_addresses(target.host, target.port)
            self.log.info("External notebook for %s: %s (cached)", user, target.host)
            return entry.notebook_json
        fetched = await fetcher.fetch(target.url, entry.validators if entry is not None else None)
        host = urlsplit(fetched.url).hostname
        if fetched.not_modified and entry is not None:
            self.cache.confirm(target.url, entry, fetched.headers)
            self.log.info("External notebook for %s: %s (not modified)", user, host)
            return entry.notebook_json
        notebook = await run_blocking(self._validated_json, fetched.body)
        self.cache.store(target.url, notebook, fetched.url, fetched.headers)
        self.log.info("External notebook for %s: %s (%d bytes)", user, host, len(fetched.body))
        return notebook

    def _validated_json(self, body: bytes) -> bytes:
        nb = notebook_from_body(body, self.external_max_cells, self.external_max_outputs)
        return json.dumps(nb).encode("utf-8")

    async def fetch_notebook(self, user: str, source: str) -> dict[str, Any]:
        """Steps 1-6 for ``user``: the valid notebook model at ``source`` (a copy of its own)."""
        notebook = await self.notebook_json(user, source)
        nb: dict[str, Any] = await run_blocking(json.loads, notebook)
        return nb

    async def render(self, user: str, source: str) -> bytes:
        """The notebook at ``source`` as a sanitized HTML page (steps 1-7)."""
        return await self.renderer.render(await self.notebook_json(user, source))

    async def close(self) -> None:
        """Stop the render workers."""
        await self.renderer.close()
