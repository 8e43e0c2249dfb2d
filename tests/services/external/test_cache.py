"""NotebookCache: freshness by TTL, what upstream Cache-Control allows, 304 confirmations, LRU bounds."""

from __future__ import annotations

from tornado.httputil import HTTPHeaders

from nbserver.services.external.cache import NotebookCache, cache_directives
from tests.support.clock import FakeClock as Clock

URL = "https://example.org/a.ipynb"


def headers(**fields: str) -> HTTPHeaders:
    return HTTPHeaders({name.replace("_", "-"): value for name, value in fields.items()})


def test_an_entry_is_fresh_for_its_ttl_then_stale_with_its_validators() -> None:
    clock = Clock()
    cache = NotebookCache(ttl=300, max_entries=64, max_bytes=10_000, clock=clock)
    cache.store(URL, b"{}", URL + "?final", headers(ETag='"v1"', Last_Modified="Mon, 02 Nov 2026 10:00:00 GMT"))
    entry = cache.get(URL)
    assert entry is not None and cache.is_fresh(entry)
    clock.now += 300
    assert not cache.is_fresh(entry)
    assert entry.validators.url == URL + "?final"
    assert entry.validators.headers() == {"If-None-Match": '"v1"',
                                          "If-Modified-Since": "Mon, 02 Nov 2026 10:00:00 GMT"}


def test_a_304_makes_an_entry_fresh_again_and_updates_its_validators() -> None:
    clock = Clock()
    cache = NotebookCache(ttl=300, max_entries=64, max_bytes=10_000, clock=clock)
    cache.store(URL, b"{}", URL, headers(ETag='"v1"'))
    entry = cache.get(URL)
    assert entry is not None
    clock.now += 301
    cache.confirm(URL, entry, headers(ETag='"v2"'))
    assert cache.is_fresh(entry) and entry.validators.etag == '"v2"'


def test_no_store_is_never_kept_and_no_cache_is_always_asked_again() -> None:
    cache = NotebookCache(ttl=300, max_entries=64, max_bytes=10_000, clock=Clock())
    cache.store(URL, b"{}", URL, headers(Cache_Control="private, no-store"))
    assert cache.get(URL) is None
    cache.store(URL, b"{}", URL, headers(Cache_Control="no-cache", ETag='"v1"'))
    entry = cache.get(URL)
    assert entry is not None and not cache.is_fresh(entry)
    cache.confirm(URL, entry, headers(Cache_Control="no-store"))
    assert cache.get(URL) is None


def test_the_least_recently_used_go_first_past_the_entry_and_byte_limits() -> None:
    cache = NotebookCache(ttl=300, max_entries=2, max_bytes=10, clock=Clock())
    cache.store("a", b"1234", "a", headers())
    cache.store("b", b"1234", "b", headers())
    assert cache.get("a") is not None  # now "b" is the least recently used
    cache.store("c", b"12", "c", headers())
    assert (cache.get("b"), len(cache)) == (None, 2)
    cache.store("d", b"123456", "d", headers())  # a, c, d: 4 + 2 + 6 > 10 bytes, so "a" goes
    assert [url for url in "acd" if cache.get(url) is not None] == ["c", "d"]
    cache.store("e", b"x" * 11, "e", headers())  # larger than the whole cache: not kept
    assert cache.get("e") is None and cache.get("d") is not None


def test_cache_directives_are_read_from_every_cache_control_header() -> None:
    both = HTTPHeaders()
    both.add("Cache-Control", "max-age=60, No-Cache")
    both.add("Cache-Control", "public")
    assert cache_directives(both) == {"max-age", "no-cache", "public"}
