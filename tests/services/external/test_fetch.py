"""The guarded fetcher against the local source server (checklist items 42-45 at the fetch level):
redirects, caps counted after decompression, memory, timeouts, and where it connects."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import Any

import pytest

from nbserver.services.external.addresses import IPAddress
from nbserver.services.external.fetch import (
    CHUNK_SIZE,
    AddressGuard,
    ExternalFetcher,
    NotANotebookType,
    SourceBlocked,
    SourceFailed,
    SourceStatus,
    SourceTimeout,
    SourceTooLarge,
)
from tests.support.notebook_source import NetworkGuard, SourceServer

pytestmark = pytest.mark.timeout(120)
CAP = 25 * 1024 * 1024
LOOPBACK = [ipaddress.ip_network("127.0.0.1/32")]


def fetcher(timeout: float = 5.0, lookup: Any = None, allowed: Any = LOOPBACK) -> ExternalFetcher:
    guard = AddressGuard(allowed, lookup) if lookup is not None else AddressGuard(allowed)
    return ExternalFetcher(guard, CAP, timeout)


def rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


def reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets VmHWM to the current RSS (Linux 4.0+)


@pytest.mark.gen_test(timeout=30)
async def test_five_redirects_are_followed(source: SourceServer) -> None:
    fetched = await fetcher().fetch(source.url("hop5"))
    assert fetched.url.endswith("/nb.ipynb") and b"Hello from afar" in fetched.body
    assert source.log == ["/hop5", "/hop4", "/hop3", "/hop2", "/hop1", "/nb.ipynb"]


@pytest.mark.gen_test(timeout=30)
async def test_sixth_redirect_is_502(source: SourceServer) -> None:
    with pytest.raises(SourceFailed) as caught:
        await fetcher().fetch(source.url("hop6"))
    assert caught.value.status_code == 502 and caught.value.code == "too_many_redirects"
    assert len(source.log) == 6


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data/", "file:///etc/passwd",
                                      "http://[::ffff:169.254.169.254]/", "ftp://127.0.0.1/x",
                                      "http://localhost/x", "http://127.0.0.2/x"])
async def test_redirect_to_a_refused_destination_is_403(source: SourceServer, location: str) -> None:
    with pytest.raises(SourceBlocked):
        await fetcher().fetch(source.url(f"to?location={location}"))
    assert source.log == ["/to"]


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0x7f000001"])
async def test_an_oddly_spelled_address_is_refused_even_where_it_is_allowed(source: SourceServer, host: str) -> None:
    """127.0.0.1 is allowed here, yet no real link spells an address so: 403 before any connection,
    as a first URL and as a redirect's."""
    with pytest.raises(SourceBlocked):
        await fetcher().fetch(f"http://{host}:{source.port}/nb.ipynb")
    with pytest.raises(SourceBlocked):
        await fetcher().fetch(source.url(f"to?location=http://{host}:{source.port}/nb.ipynb"))
    assert source.log == ["/to"]


@pytest.mark.gen_test(timeout=60)
@pytest.mark.parametrize("path", ["big", "big-length", "bomb"])
async def test_200_mb_answers_stop_at_the_cap_with_bounded_memory(source: SourceServer, path: str) -> None:
    if path == "bomb":
        from tests.support.notebook_source import gzip_bomb
        gzip_bomb()  # built before measuring
    before = rss_kib("VmRSS")
    reset_peak_rss()
    with pytest.raises(SourceTooLarge) as caught:
        await fetcher(timeout=30).fetch(source.url(path))
    growth = (rss_kib("VmHWM") - before) * 1024
    assert caught.value.code == "source_too_large" and caught.value.status_code == 502
    assert caught.value.received <= CAP + CHUNK_SIZE
    if path == "big-length":
        assert caught.value.received == 0  # refused on its Content-Length, before the body
    print(f"{path}: read {caught.value.received} bytes, RSS grew {growth / 2**20:.1f} MiB")
    assert growth < 2 * CAP, f"RSS grew {growth / 2**20:.1f} MiB"


@pytest.mark.gen_test(timeout=30)
async def test_a_stalled_source_times_out_in_time(source: SourceServer) -> None:
    started = time.monotonic()
    with pytest.raises(SourceTimeout) as caught:
        await fetcher(timeout=2.0).fetch(source.url("stall"))
    assert caught.value.status_code == 504 and caught.value.code == "source_timeout"
    assert time.monotonic() - started < 3.0


@pytest.mark.gen_test(timeout=30)
async def test_html_is_refused_before_its_body(source: SourceServer) -> None:
    with pytest.raises(NotANotebookType) as caught:
        await fetcher().fetch(source.url("html"))
    assert caught.value.status_code == 422


@pytest.mark.gen_test(timeout=30)
async def test_upstream_404_is_502_source_status(source: SourceServer) -> None:
    with pytest.raises(SourceStatus) as caught:
        await fetcher().fetch(source.url("nothing-here"))
    assert caught.value.status_code == 502 and caught.value.public_fields()["status"] == 404


@pytest.mark.parametrize("length", ["\u00b2", "1\u00b3\u00b9", "+5", "-1", "1 2", "0x10"])
@pytest.mark.gen_test(timeout=30)
async def test_a_malformed_content_length_is_502_without_a_traceback(length: str, caplog: Any) -> None:
    """A source answering ``Content-Length: ²`` a Latin-1 byte ``str.isdigit`` accepts: a 502,
    with nothing logged as an uncaught exception."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {length}\r\n\r\n{{}}".encode("latin-1"))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(SourceFailed) as caught:
            await fetcher().fetch(f"http://127.0.0.1:{port}/nb.ipynb")
        assert caught.value.status_code == 502
    finally:
        server.close()
        await server.wait_closed()
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


@pytest.mark.gen_test(timeout=30)
async def test_connects_to_exactly_the_vetted_address_after_one_lookup(network_guard: NetworkGuard) -> None:
    lookups: list[str] = []

    async def lookup(host: str, port: int) -> list[IPAddress]:
        lookups.append(host)
        return [ipaddress.ip_address("93.184.216.34")]

    with pytest.raises(SourceFailed):
        await fetcher(lookup=lookup, allowed=[]).fetch("http://public.test/nb.ipynb")
    assert lookups == ["public.test"]
    # The network guard refused the one connect the fetcher tried: to the vetted address, port 80.
    assert network_guard.violations == ["connect to ('93.184.216.34', 80)"]
    network_guard.violations.clear()


@pytest.mark.gen_test(timeout=30)
async def test_a_name_with_one_refused_address_never_connects(network_guard: NetworkGuard) -> None:
    async def lookup(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("fd00:ec2::254")]

    with pytest.raises(SourceBlocked):
        await fetcher(lookup=lookup, allowed=[]).fetch("https://mixed.test/nb.ipynb")
    assert network_guard.violations == []


@pytest.mark.gen_test(timeout=30)
async def test_https_checks_the_certificate(tmp_path: Any) -> None:
    import shutil
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-days", "1", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    server = SourceServer(ssl_options={"certfile": str(cert), "keyfile": str(key)})
    try:
        with pytest.raises(SourceFailed) as caught:  # a self-signed certificate: refused, nothing read
            await fetcher().fetch(server.url("nb.ipynb"))
        assert "CERTIFICATE_VERIFY_FAILED" in (caught.value.log_detail or "")
        assert server.log == []
    finally:
        await server.close()


@pytest.mark.gen_test(timeout=30)
async def test_external_enabled_off_refuses_both_routes() -> None:
    from nbserver.errors import Forbidden
    from nbserver.services.external.manager import ExternalNotebooks

    with pytest.raises(Forbidden) as caught:
        await ExternalNotebooks(external_enabled=False).fetch_notebook("alice", "https://example.org/a.ipynb")
    assert caught.value.code == "external_disabled"
