"""/api/config/<section>: JSON sections stored in the Jupyter config dir."""

import json
import os

import pytest


@pytest.mark.gen_test
async def test_unknown_section_is_empty(api):
    response = await api.get("api/config/notebook")
    assert response.status == 200 and response.json() == {}


@pytest.mark.gen_test
async def test_put_replaces_and_is_stored_in_the_config_dir(api, jupyter_env):
    assert (await api.put("api/config/tree", {"a": 1, "b": {"c": 2}})).status == 204
    assert (await api.get("api/config/tree")).json() == {"a": 1, "b": {"c": 2}}
    with open(os.path.join(jupyter_env["config"], "nbconfig", "tree.json")) as handle:
        assert json.load(handle) == {"a": 1, "b": {"c": 2}}
    await api.put("api/config/tree", {"z": 0})
    assert (await api.get("api/config/tree")).json() == {"z": 0}


@pytest.mark.gen_test
async def test_patch_merges_recursively_and_null_removes(api):
    await api.put("api/config/notebook", {"keep": 1, "drop": 2, "nested": {"x": 1, "y": 2}})
    response = await api.patch("api/config/notebook", {"drop": None, "nested": {"y": None, "z": 3}, "new": True})
    expected = {"keep": 1, "nested": {"x": 1, "z": 3}, "new": True}
    assert response.status == 200 and response.json() == expected
    assert (await api.get("api/config/notebook")).json() == expected


@pytest.mark.gen_test
@pytest.mark.parametrize("body", [[1, 2], "text", None])
async def test_non_object_body_is_400(api, body):
    response = await api.put("api/config/notebook", body)
    assert response.status == 400 and set(response.json()) == {"message", "reason"}


@pytest.mark.gen_test
@pytest.mark.parametrize("section", ["..", ".hidden", "a%2Fb", "%00"])
async def test_bad_section_names_are_400_or_404(api, section):
    response = await api.put(f"api/config/{section}", {"a": 1})
    assert response.status in (400, 404)


@pytest.mark.gen_test
async def test_patch_removing_the_last_nested_key_removes_the_emptied_object(api):
    await api.put("api/config/notebook", {"keep": 1, "outer": {"inner": {"only": 1}}})
    response = await api.patch("api/config/notebook", {"outer": {"inner": {"only": None}}})
    assert response.status == 200 and response.json() == {"keep": 1}
    assert (await api.get("api/config/notebook")).json() == {"keep": 1}


@pytest.mark.gen_test
async def test_patch_with_an_empty_object_stores_nothing_for_it(api):
    response = await api.patch("api/config/notebook", {"empty": {}, "nulls": {"a": None}, "x": 1})
    assert response.status == 200 and response.json() == {"x": 1}
