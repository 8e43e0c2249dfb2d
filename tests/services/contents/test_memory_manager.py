"""The contract suite run against the in-memory store, and the REST API served from it."""

import pytest

from tests.services.contents.contract import ContentsManagerContract
from tests.services.contents.memory_manager import InMemoryContentsManager


class TestInMemoryContentsManager(ContentsManagerContract):
    @pytest.fixture
    def manager(self) -> InMemoryContentsManager:
        return InMemoryContentsManager()


@pytest.fixture
def server_config():
    return {"contents_manager_class": InMemoryContentsManager}


@pytest.mark.gen_test
async def test_rest_api_works_over_the_in_memory_store(api, root_dir):
    created = await api.post("api/contents", {"type": "notebook"})
    assert created.status == 201 and created.json()["name"] == "Untitled.ipynb"
    listing = (await api.get("api/contents")).json()
    assert [c["name"] for c in listing["content"]] == ["Untitled.ipynb"]
    assert list(root_dir.iterdir()) == []  # nothing reached the disk
