"""APIHandler: request bodies are parsed as strict JSON once, for every route; replies are strict JSON."""

from __future__ import annotations

import json

import pytest

from nbserver.jsonio import MAX_DEPTH


def strict_loads(body: bytes):
    def refuse(literal: str):
        raise AssertionError(f"the server sent {literal}")

    return json.loads(body, parse_constant=refuse)


def nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def notebook(metadata: dict | None = None) -> dict:
    return {"cells": [], "metadata": metadata or {}, "nbformat": 4, "nbformat_minor": 5}


BODY_ROUTES = [
    ("PUT", "api/contents/deep.ipynb"),
    ("POST", "api/contents"),
    ("PATCH", "api/contents/existing.txt"),
    ("POST", "api/kernels"),
    ("POST", "api/sessions"),
    ("PATCH", "api/config/section"),
    ("PUT", "api/config/section"),
]


@pytest.mark.parametrize("method, path", BODY_ROUTES)
@pytest.mark.parametrize("body", [nested_arrays(979), nested_objects(979), nested_arrays(100_000)],
                         ids=["arrays-979", "objects-979", "arrays-100000"])
@pytest.mark.gen_test(timeout=60)
async def test_deeply_nested_body_is_400_on_every_route(api, root_dir, method, path, body):
    (root_dir / "existing.txt").write_text("x")
    response = await api.request(method, path, raw_body=body)
    assert response.status == 400, response.body
    error = response.json()
    assert set(error) == {"message", "reason"}
    assert f"deeper than {MAX_DEPTH} levels" in error["message"]


@pytest.mark.gen_test(timeout=60)
async def test_deeply_nested_permissions_query_is_400(api):
    for raw in (nested_arrays(979), nested_objects(2000)):
        response = await api.get("api/me", params={"permissions": raw.decode()})
        assert response.status == 400
        assert "deeper than" in response.json()["message"]


@pytest.mark.parametrize("literal, named", [("NaN", "NaN at /content/metadata/x"),
                                            ("Infinity", "Infinity at /content/metadata/x"),
                                            ("-Infinity", "-Infinity at /content/metadata/x"),
                                            ("1e400", "1e400 at /content/metadata/x")])
@pytest.mark.gen_test(timeout=60)
async def test_notebook_with_non_finite_number_is_400_naming_it_and_nothing_is_written(
        api, root_dir, literal, named):
    body = json.dumps({"type": "notebook", "content": notebook({"x": 0.5})}).replace("0.5", literal)
    response = await api.put("api/contents/bad.ipynb", raw_body=body.encode())
    assert response.status == 400
    assert named in response.json()["message"]
    assert not (root_dir / "bad.ipynb").exists()


@pytest.mark.gen_test(timeout=60)
async def test_nan_over_an_existing_notebook_leaves_it_unchanged(api, root_dir):
    path = root_dir / "kept.ipynb"
    path.write_text(json.dumps(notebook({"x": 1})))
    before = path.read_bytes()
    body = json.dumps({"type": "notebook", "content": notebook({"x": 1.5})}).replace("1.5", "NaN")
    assert (await api.put("api/contents/kept.ipynb", raw_body=body.encode())).status == 400
    assert path.read_bytes() == before


@pytest.mark.gen_test(timeout=60)
async def test_stored_notebook_with_nan_is_sent_as_strict_json_with_null_and_a_message(api, root_dir):
    text = json.dumps(notebook({"x": [1.0, 2.0], "y": 3.0})).replace("2.0", "NaN").replace("3.0", "-Infinity")
    (root_dir / "nan.ipynb").write_text(text)
    response = await api.get("api/contents/nan.ipynb")
    assert response.status == 200
    model = strict_loads(response.body)
    assert model["content"]["metadata"] == {"x": [1.0, None], "y": None}
    assert "/content" not in model["message"] and "/metadata/x/1 and 1 more" in model["message"]
    # Saving what was read writes strict JSON.
    assert (await api.put("api/contents/nan.ipynb", {"type": "notebook", "content": model["content"]})).status == 200
    strict_loads((root_dir / "nan.ipynb").read_bytes())


@pytest.mark.gen_test(timeout=60)
async def test_stored_overflowing_number_is_sent_as_null(api, root_dir):
    (root_dir / "big.ipynb").write_text(json.dumps(notebook({"x": 0.5})).replace("0.5", "1e400"))
    response = await api.get("api/contents/big.ipynb")
    assert response.status == 200
    assert strict_loads(response.body)["content"]["metadata"] == {"x": None}


@pytest.mark.gen_test(timeout=60)
async def test_notebook_nested_up_to_the_bound_round_trips(api, root_dir):
    # The body's own levels (model, content, metadata) count too: MAX_DEPTH in all.
    deep = json.loads(nested_arrays(MAX_DEPTH - 3))
    model = {"type": "notebook", "content": notebook({"deep": deep})}
    assert (await api.put("api/contents/deep.ipynb", model)).status == 201
    response = await api.get("api/contents/deep.ipynb")
    assert response.status == 200
    assert response.json()["content"]["metadata"]["deep"] == deep
    assert (await api.put("api/contents/deep.ipynb", model)).status == 200


@pytest.mark.gen_test(timeout=60)
async def test_config_nested_up_to_the_bound_is_merged_and_read_back(api):
    body = nested_objects(MAX_DEPTH)
    response = await api.patch("api/config/deep", raw_body=body)
    assert response.status == 200, response.body
    assert (await api.get("api/config/deep")).json() == json.loads(body)
    assert (await api.patch("api/config/deep", raw_body=body)).status == 200  # merged into itself


@pytest.mark.gen_test
@pytest.mark.parametrize("method, path, allowed", [
    ("GET", "api/files/upload", {"POST", "OPTIONS"}),
    ("DELETE", "api/status", {"GET", "OPTIONS"}),
    ("POST", "shared/not-a-token", {"GET", "HEAD"}),
    ("PUT", "tree", {"GET"}),
])
async def test_a_method_a_route_does_not_answer_is_405_with_allow(api, method, path, allowed):
    """RFC 9110 15.5.6: a 405 names the methods the resource answers in ``Allow``."""
    response = await api.request(method, path, raw_body=b"" if method == "POST" else None)
    assert response.status == 405, response.body
    assert {name.strip() for name in response.headers["Allow"].split(",")} == allowed
    if path.startswith("api/"):
        assert json.loads(response.body)["message"]
