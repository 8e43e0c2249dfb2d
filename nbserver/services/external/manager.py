"""ExternalNotebooks: render or import a notebook from an http(s) URL, safely (design section 3.11).

The fetch (:mod:`.fetch`) refuses every destination inside the server's networks; the body
must parse and validate as a notebook (step 6); rendering runs in a child process
(:mod:`.render`); each user may start ``external_rate_limit`` fetches a minute (step 9).
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
from nbserver.services.external.fetch import AddressGuard, ExternalFetcher, Fetched, Lookup, system_lookup
from nbserver.services.external.render import RenderWorkers

RATE_WINDOW_SECONDS = 60.0
UTF8_BOM = b"\xef\xbb\xbf"


def notebook_from_body(body: bytes) -> dict[str, Any]:
    """Step 6: the fetched bytes as a valid v4 notebook model, else Unprocessable (422).

    UTF-8 (a BOM is allowed) JSON of a notebook that nbformat's schema accepts; older versions
    are upgraded to v4 first. The 422 names what is wrong (the JSON error or the schema's).
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

    @validate("external_allow_networks")
    def _validate_networks(self, proposal: Any) -> list[str]:
        for text in proposal["value"]:
            ipaddress.ip_network(text, strict=False)  # ValueError names a bad one
        return list(proposal["value"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limiter = LoginRateLimiter(self.external_rate_limit, RATE_WINDOW_SECONDS)
        self.lookup: Lookup = system_lookup
        self.renderer = RenderWorkers(self.external_render_workers, self.external_render_timeout)

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

    async def fetch_notebook(self, user: str, source: str) -> tuple[Fetched, dict[str, Any]]:
        """Steps 1-6 for ``user``: the fetch and the valid notebook model it holds."""
        self.admit(user)
        fetcher = ExternalFetcher(AddressGuard(self.allowed_networks, self.lookup), self.external_max_bytes,
                                  self.external_timeout, self.external_max_redirects)
        fetched = await fetcher.fetch(source)
        nb = await run_blocking(notebook_from_body, fetched.body)
        self.log.info("External notebook for %s: %s (%d bytes)", user, urlsplit(fetched.url).hostname,
                      len(fetched.body))
        return fetched, nb

    async def render(self, user: str, source: str) -> bytes:
        """The notebook at ``source`` as a sanitized HTML page (steps 1-7)."""
        _fetched, nb = await self.fetch_notebook(user, source)
        return await self.renderer.render(json.dumps(nb).encode("utf-8"))

    async def close(self) -> None:
        """Stop the render workers."""
        await self.renderer.close()
