"""Fetching an external notebook without letting the URL reach inside (design section 3.11, steps 1-5).

The client is tornado's own ``SimpleAsyncHTTPClient``, made per fetch with a
:class:`GuardedResolver`: tornado asks that resolver for the addresses of each hop's host and
connects to exactly what it returns (TLS still checks the certificate against the host name,
which tornado passes as SNI), so the addresses vetted are the addresses connected to and a
rebinding DNS server gets no second question. Redirects are followed here, one hop at a time,
so that every hop's URL and addresses are checked. Bodies are streamed and counted after
decompression, so neither a long answer nor a gzip bomb is held past the cap.

Why tornado's client and not httpx or ``http.client``: it is already a dependency, it resolves
through a pluggable :class:`tornado.netutil.Resolver` (literal addresses included), it ignores
proxy environment variables, and it streams with a per-chunk callback.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import SplitResult, urljoin, urlsplit

from tornado import httputil
from tornado.httpclient import HTTPRequest, HTTPResponse
from tornado.netutil import Resolver
from tornado.simple_httpclient import HTTPTimeoutError, SimpleAsyncHTTPClient

from nbserver import __version__
from nbserver.base.bodyreader import declared_length
from nbserver.errors import BadGateway, Forbidden, GatewayTimeout, InvalidInput, NbserverError, Unprocessable
from nbserver.services.external.addresses import IPAddress, IPNetwork, parse_literal, parse_plain_literal, refusal
from nbserver.services.external.cache import Validators

log = logging.getLogger("nbserver")

MAX_SOURCE_LENGTH = 2048
ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOWED_PORTS = (80, 443)
REDIRECT_CODES = (301, 302, 303, 307, 308)
NOT_MODIFIED = 304
CONNECT_TIMEOUT = 5.0
CHUNK_SIZE = 64 * 1024
#: Media types a notebook may be served as (a login page's text/html is not one); none at all is fine.
NOTEBOOK_MEDIA_TYPES = ("application/x-ipynb+json", "application/json", "text/plain", "application/octet-stream")
ACCEPT = "application/x-ipynb+json, application/json;q=0.9, text/plain;q=0.5, */*;q=0.1"
HOST_NAME = re.compile(r"^[a-z0-9._-]+$")

#: A name lookup: (host, port) -> every address the name has. Tests give a stub.
Lookup = Callable[[str, int], Awaitable[list[IPAddress]]]


class SourceInvalid(InvalidInput):
    """400: the ``source`` the client gave is not a URL nbserver fetches."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="source_invalid")


class SourceBlocked(Forbidden):
    """403: the URL (or a redirect hop) leads somewhere the server must not connect to."""

    def __init__(self, message: str, log_detail: str | None = None) -> None:
        super().__init__(message, log_detail=log_detail, code="source_blocked")


class SourceTooLarge(BadGateway):
    def __init__(self, limit: int, received: int) -> None:
        super().__init__(f"The notebook is larger than {limit} bytes.", code="source_too_large", limit=limit)
        #: Bytes (after decompression) read before giving up: at most the limit plus one chunk.
        self.received = received


class SourceStatus(BadGateway):
    def __init__(self, status: int) -> None:
        super().__init__(f"The source answered HTTP {status}.", code="source_status", status=status)


class SourceTimeout(GatewayTimeout):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"The source did not answer within {seconds:g} s.", code="source_timeout")


class SourceFailed(BadGateway):
    def __init__(self, message: str, log_detail: str | None = None, code: str = "source_failed") -> None:
        super().__init__(message, log_detail=log_detail, code=code)


class NotANotebookType(Unprocessable):
    def __init__(self, media_type: str) -> None:
        super().__init__(f"The source is {media_type}, not a notebook.", code="not_a_notebook",
                         content_type=media_type)


class _Abort(httputil.HTTPInputError):
    """Stops tornado reading a response; the real reason is kept in the fetch's state."""


@dataclass(frozen=True)
class Target:
    """A checked URL: what to connect to and ask for."""

    url: str
    scheme: str
    host: str
    port: int


def check_url(source: str) -> Target:
    """Step 1: ``source`` as an http(s) URL with a host, else SourceInvalid (400).

    No user info, no control characters or spaces, at most 2048 characters; the host name is
    IDNA-encoded and lower-cased. An address written in a form other than dotted decimal IPv4 or
    IPv6 (``2130706433``, ``0x7f.1``, ``127.1``) is SourceBlocked (403) whatever it names. Ports
    and the addresses themselves are the fetcher's to check.
    """
    if not source:
        raise SourceInvalid("'source' is required: the http(s) URL of a notebook.")
    if len(source) > MAX_SOURCE_LENGTH:
        raise SourceInvalid(f"'source' is longer than {MAX_SOURCE_LENGTH} characters.")
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in source):
        raise SourceInvalid("'source' holds spaces or control characters.")
    try:
        parts: SplitResult = urlsplit(source)
        port = parts.port
    except ValueError:
        raise SourceInvalid("'source' is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise SourceInvalid("'source' must be an http or https URL.")
    if "@" in parts.netloc:
        raise SourceInvalid("'source' may not carry a user name or password.")
    host = parts.hostname or ""
    if not host:
        raise SourceInvalid("'source' has no host.")
    literal = parse_literal(host)
    if literal is not None and parse_plain_literal(host) is None:
        # 2130706433, 0x7f.1, 0177.0.0.1, 127.1: no real link spells an address so; refused whatever it names.
        raise SourceBlocked("The source's host is an address spelled in an unusual form.",
                            log_detail=f"host {host!r} ({literal})")
    if literal is None:
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise SourceInvalid("'source' has a host name that is not valid.") from None
        if not HOST_NAME.match(host):
            raise SourceInvalid("'source' has a host name that is not valid.")
    return Target(source, scheme, host, port if port is not None else DEFAULT_PORTS[scheme])


def is_localhost_name(host: str) -> bool:
    """``localhost`` and its subdomains, with or without the root's dot (RFC 6761, section 6.3)."""
    name = host.lower().removesuffix(".")
    return name == "localhost" or name.endswith(".localhost")


async def system_lookup(host: str, port: int) -> list[IPAddress]:
    """Every address the system's resolver gives for ``host`` (IPv4 and IPv6)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = parse_literal(str(sockaddr[0]))
        if address is not None and address not in addresses:
            addresses.append(address)
    return addresses


class AddressGuard:
    """Resolves a host and vets every address (step 3): the one place that says where we may go."""

    def __init__(self, allowed: Iterable[IPNetwork], lookup: Lookup = system_lookup) -> None:
        self.allowed = tuple(allowed)
        self.lookup = lookup

    async def vetted_addresses(self, host: str, port: int) -> list[IPAddress]:
        """Every address of ``host``, when all may be connected to; else SourceBlocked (403).

        Literal addresses are not looked up. ``localhost`` and ``*.localhost`` are refused
        before any lookup (RFC 6761). A name with one refused address is refused whole:
        mixed answers are how DNS rebinding starts.
        """
        literal = parse_literal(host)
        if literal is not None:
            addresses = [literal]
        elif is_localhost_name(host):
            raise SourceBlocked("The source's host is this machine.", log_detail=f"host {host!r}")
        else:
            try:
                addresses = await self.lookup(host, port)
            except (OSError, UnicodeError) as exc:
                raise SourceFailed("The source's host name does not resolve.", log_detail=str(exc)) from None
            if not addresses:
                raise SourceFailed("The source's host name does not resolve.")
        for address in addresses:
            why = refusal(address, self.allowed)
            if why is not None:
                raise SourceBlocked("The source's address is not one this server may fetch from.",
                                    log_detail=f"host {host!r}: {why}")
        return addresses


class GuardedResolver(Resolver):
    """A tornado resolver that answers only with addresses its guard vetted."""

    def initialize(self, guard: AddressGuard) -> None:
        self.guard = guard

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        answers: list[tuple[int, Any]] = []
        for address in await self.guard.vetted_addresses(host, port):
            if address.version == 4 and family in (socket.AF_UNSPEC, socket.AF_INET):
                answers.append((socket.AF_INET, (str(address), port)))
            elif address.version == 6 and family in (socket.AF_UNSPEC, socket.AF_INET6):
                answers.append((socket.AF_INET6, (str(address), port, 0, 0)))
        if not answers:
            raise SourceFailed("The source's host has no address of the family asked for.")
        return answers


@dataclass
class _Hop:
    """What one request saw: the status, headers and the body read so far."""

    limit: int
    conditional: bool = False  #: the request carried If-None-Match / If-Modified-Since: 304 is an answer
    status: int = 0
    headers: httputil.HTTPHeaders = field(default_factory=httputil.HTTPHeaders)
    chunks: list[bytes] = field(default_factory=list)
    received: int = 0
    failure: NbserverError | None = None

    def on_header_line(self, line: str) -> None:
        if not self.status:
            self.status = httputil.parse_response_start_line(line.rstrip("\r\n")).code
        elif line.strip():
            self.headers.parse_line(line)
        else:
            self._check_headers()

    def _check_headers(self) -> None:
        if self.status in REDIRECT_CODES or (self.conditional and self.status == NOT_MODIFIED):
            return
        if not 200 <= self.status < 300:
            self._fail(SourceStatus(self.status))
        length = declared_length(self.headers)  # a malformed one is left to tornado's reader (an error)
        if length is not None and length > self.limit:
            self._fail(SourceTooLarge(self.limit, 0))
        media_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if media_type and media_type not in NOTEBOOK_MEDIA_TYPES:
            self._fail(NotANotebookType(media_type))

    def on_chunk(self, chunk: bytes) -> None:
        """Count the (decompressed) bytes; stop past the limit, having read at most one chunk more."""
        self.received += len(chunk)
        if self.received > self.limit:
            self.chunks = []
            self._fail(SourceTooLarge(self.limit, self.received))
        self.chunks.append(chunk)

    def _fail(self, failure: NbserverError) -> None:
        self.failure = failure
        raise _Abort(failure.message)


@dataclass(frozen=True)
class Fetched:
    """A fetched body, where it finally came from and the answer's headers; ``not_modified`` for a
    304 to a conditional request (the body is then empty: the cached copy is current)."""

    url: str
    body: bytes
    content_type: str
    headers: httputil.HTTPHeaders = field(default_factory=httputil.HTTPHeaders)
    not_modified: bool = False


class ExternalFetcher:
    """Fetch one URL under the guard: steps 1-5 of design section 3.11."""

    def __init__(self, guard: AddressGuard, max_bytes: int, timeout: float, max_redirects: int = 5,
                 allowed_ports: Iterable[int] = ALLOWED_PORTS) -> None:
        self.guard = guard
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.allowed_ports = tuple(allowed_ports)

    def check(self, url: str) -> Target:
        """Steps 1 and the address part of 3 for one hop, before any lookup.

        A literal address or a ``localhost`` name that is refused gives SourceBlocked (403),
        whatever the port; then a port other than 80 and 443 gives SourceInvalid (400), except on
        a literal address inside ``external_allow_networks`` (test servers listen on any port).
        """
        target = check_url(url)
        literal = parse_literal(target.host)
        if literal is not None:
            why = refusal(literal, self.guard.allowed)
            if why is not None:
                raise SourceBlocked("The source's address is not one this server may fetch from.",
                                    log_detail=why)
            if any(literal.version == net.version and literal in net for net in self.guard.allowed):
                return target
        elif is_localhost_name(target.host):
            raise SourceBlocked("The source's host is this machine.", log_detail=f"host {target.host!r}")
        if target.port not in self.allowed_ports:
            raise SourceInvalid(f"'source' may use only ports {', '.join(map(str, self.allowed_ports))}.")
        return target

    async def fetch(self, source: str, validators: Validators | None = None) -> Fetched:
        """The body at ``source`` after at most ``max_redirects`` redirects.

        With ``validators`` (of a cached copy), the request to their URL is conditional, and a 304
        from it comes back as ``Fetched(not_modified=True)``.

        Raises SourceInvalid (400) for a bad ``source``; SourceBlocked (403) for a refused
        destination on any hop (a redirect to another scheme or port too); SourceStatus,
        SourceTooLarge, SourceFailed (502) and "too many redirects" (502); NotANotebookType
        (422); SourceTimeout (504) past ``timeout`` seconds over all hops.
        """
        target = self.check(source)
        deadline = time.monotonic() + self.timeout
        client = SimpleAsyncHTTPClient(force_instance=True, resolver=GuardedResolver(guard=self.guard),
                                       max_body_size=self.max_bytes + CHUNK_SIZE)
        try:
            for _hop in range(self.max_redirects + 1):
                conditions = validators.headers() if validators is not None and validators.url == target.url else {}
                hop = await self._request(client, target, deadline, conditions)
                if hop.conditional and hop.status == NOT_MODIFIED:
                    return Fetched(target.url, b"", "", hop.headers, not_modified=True)
                if hop.status not in REDIRECT_CODES:
                    return Fetched(target.url, b"".join(hop.chunks),
                                   hop.headers.get("Content-Type", ""), hop.headers)
                location = hop.headers.get("Location")
                if not location:
                    raise SourceFailed(f"The source answered HTTP {hop.status} without a Location.")
                try:
                    target = self.check(urljoin(target.url, location))
                except SourceInvalid as exc:
                    raise SourceBlocked("The source redirects somewhere this server may not fetch from.",
                                        log_detail=exc.message) from None
            raise SourceFailed(f"The source redirected more than {self.max_redirects} times.",
                               code="too_many_redirects")
        finally:
            client.close()

    async def _request(self, client: SimpleAsyncHTTPClient, target: Target, deadline: float,
                       conditions: dict[str, str]) -> _Hop:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SourceTimeout(self.timeout)
        hop = _Hop(self.max_bytes, conditional=bool(conditions))
        request = HTTPRequest(
            target.url, follow_redirects=False, decompress_response=True,
            connect_timeout=min(CONNECT_TIMEOUT, remaining), request_timeout=remaining,
            headers={"Accept": ACCEPT, "User-Agent": f"nbserver/{__version__} (external render)", **conditions},
            header_callback=hop.on_header_line, streaming_callback=hop.on_chunk,
        )
        error: BaseException | None
        try:
            response: HTTPResponse = await client.fetch(request, raise_error=False)
            # A status other than 2xx comes as an HTTPClientError with that code: hop.status has it.
            error = response.error if response.code == 599 else None
        except Exception as exc:  # connection-level failures raise even with raise_error=False
            error = exc
        if hop.failure is not None:
            raise hop.failure
        if isinstance(error, NbserverError):
            raise error  # the guard's refusal, raised from inside the resolver
        if isinstance(error, HTTPTimeoutError) or (error is not None and time.monotonic() >= deadline):
            raise SourceTimeout(self.timeout)
        if error is not None:
            raise SourceFailed("The source could not be fetched.", log_detail=f"{target.host}: {error!r}")
        return hop
