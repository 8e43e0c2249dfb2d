"""Refusals under the default configuration (checklist items 39-41): no request ever leaves.

The network guard fixture fails any test that connects beyond loopback or looks up a real
name; for loopback forms the local source server's log proves that no request reached it.
"""

from __future__ import annotations

import pytest

from tests.support.api_client import APIClient
from tests.support.notebook_source import SourceServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def allow_loopback() -> bool:
    return False


@pytest.fixture
def lookup_answers() -> dict[str, list[str]]:
    return {
        "loopback.test": ["127.0.0.1"],
        "mixed.test": ["93.184.216.34", "10.0.0.7"],
        "metadata.test": ["169.254.169.254"],
        "nat64.test": ["64:ff9b::a9fe:a9fe"],
        "public.test": ["93.184.216.34"],
    }


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("source", [
    None, "", "file:///etc/passwd", "ftp://example.org/a.ipynb", "/a.ipynb", "http://user:pw@example.org/a.ipynb",
    "https://example.org:22/a.ipynb", "http://exa mple.org/a.ipynb", "http://[::1/a.ipynb", "gopher://x/",
    "http:///a.ipynb", "https://" + "a" * 2050 + ".org/",
])
async def test_bad_source_is_400(api: APIClient, source: str | None) -> None:
    params = {} if source is None else {"source": source}
    response = await api.get("api/external", params=params)
    assert response.status == 400, response.body
    assert response.json()["code"] == "source_invalid"


LOOPBACK_FORMS = [
    "http://127.0.0.1:{port}/nb.ipynb", "http://localhost:{port}/nb.ipynb", "http://[::1]:{port}/nb.ipynb",
    "http://0.0.0.0:{port}/nb.ipynb", "http://2130706433:{port}/nb.ipynb", "http://0x7f.1:{port}/nb.ipynb",
    "http://0177.0.0.1:{port}/nb.ipynb", "http://127.1:{port}/nb.ipynb", "http://[::ffff:127.0.0.1]:{port}/nb.ipynb",
    "http://sub.localhost:{port}/nb.ipynb", "http://localhost.:{port}/nb.ipynb", "http://LocalHost:{port}/",
]


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("form", LOOPBACK_FORMS)
async def test_loopback_forms_are_403_with_no_request(api: APIClient, source: SourceServer, form: str) -> None:
    response = await api.get("api/external", params={"source": form.format(port=source.port)})
    assert response.status == 403, response.body
    assert response.json()["code"] == "source_blocked"
    assert source.log == []


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("url", [
    "http://[64:ff9b::7f00:1]/", "http://169.254.169.254/latest/meta-data/", "http://100.100.100.200/",
    "http://[fd00:ec2::254]/", "http://10.0.0.1/a.ipynb", "http://192.168.0.1/", "http://100.64.0.1/",
    "http://[fe80::1%25eth0]/", "http://224.0.0.1/", "http://[2002:7f00:1::]/", "http://[64:ff9b:1::a9fe:a9fe]/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "https://169.254.169.254:443/",
])
async def test_private_and_metadata_literals_are_403_before_any_connect(api: APIClient, url: str) -> None:
    response = await api.get("api/external", params={"source": url})
    assert response.status == 403, response.body
    assert response.json()["code"] == "source_blocked"


@pytest.mark.gen_test(timeout=30)
@pytest.mark.parametrize("name", ["loopback.test", "mixed.test", "metadata.test", "nat64.test"])
async def test_names_resolving_to_any_refused_address_are_403(api: APIClient, name: str) -> None:
    response = await api.get("api/external", params={"source": f"http://{name}/nb.ipynb"})
    assert response.status == 403, response.body
    assert response.json()["code"] == "source_blocked"


@pytest.mark.gen_test(timeout=30)
async def test_import_of_a_refused_source_is_403_and_saves_nothing(api: APIClient, source: SourceServer) -> None:
    response = await api.post("api/files/import", {"source": source.url("nb.ipynb"), "parent_path": "/"})
    assert response.status == 403, response.body
    assert source.log == []
    listing = await api.get("api/contents")
    assert [item["name"] for item in listing.json()["content"]] == []
