"""/api/kernelspecs and the kernelspec resource files."""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def custom_spec(jupyter_env) -> str:
    """A kernelspec with a logo and a kernel.js in the isolated data folder."""
    folder = os.path.join(jupyter_env["data"], "kernels", "custom")
    os.makedirs(folder)
    with open(os.path.join(folder, "kernel.json"), "w") as handle:
        json.dump({"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                   "display_name": "Custom", "language": "python", "metadata": {"debugger": True}}, handle)
    with open(os.path.join(folder, "logo-64x64.png"), "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\nfake")
    with open(os.path.join(folder, "kernel.js"), "w") as handle:
        handle.write("define([], function() { return {}; });\n")
    return folder


@pytest.mark.gen_test
async def test_list_has_default_and_every_spec(api, custom_spec):
    response = await api.get("api/kernelspecs")
    assert response.status == 200
    body = response.json()
    assert body["default"] == "python3"
    assert {"python3", "custom"} <= set(body["kernelspecs"])
    custom = body["kernelspecs"]["custom"]
    assert custom["name"] == "custom"
    assert custom["spec"]["display_name"] == "Custom"
    assert custom["spec"]["language"] == "python"
    assert custom["spec"]["metadata"] == {"debugger": True}
    assert {"argv", "env", "interrupt_mode"} <= set(custom["spec"])
    assert custom["resources"] == {
        "logo-64x64": "/kernelspecs/custom/logo-64x64.png",
        "kernel.js": "/kernelspecs/custom/kernel.js",
    }


@pytest.mark.gen_test
async def test_get_one_spec(api, custom_spec):
    response = await api.get("api/kernelspecs/custom")
    assert response.status == 200
    assert response.json()["name"] == "custom"
    assert response.json()["spec"]["display_name"] == "Custom"


@pytest.mark.gen_test
async def test_unknown_spec_is_404_json(api):
    response = await api.get("api/kernelspecs/nope")
    assert response.status == 404
    assert response.json() == {"message": "No such kernel spec: nope", "reason": "Not Found"}


@pytest.mark.gen_test
async def test_resource_is_served_with_caching_headers(api, custom_spec):
    response = await api.get("kernelspecs/custom/logo-64x64.png")
    assert response.status == 200
    assert response.body == b"\x89PNG\r\n\x1a\nfake"
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Cache-Control"] == "private, max-age=3600"
    assert "Last-Modified" in response.headers
    etag = response.headers["Etag"]
    again = await api.get("kernelspecs/custom/logo-64x64.png", headers={"If-None-Match": etag})
    assert again.status == 304


@pytest.mark.gen_test
async def test_resource_head_sends_headers_only(api, custom_spec):
    response = await api.request("HEAD", "kernelspecs/custom/logo-64x64.png")
    assert response.status == 200
    assert response.headers["Content-Length"] == str(len(b"\x89PNG\r\n\x1a\nfake"))
    assert response.body == b""


@pytest.mark.gen_test
async def test_builtin_python_logo_is_served(api):
    logo = (await api.get("api/kernelspecs/python3")).json()["resources"]["logo-64x64"]
    response = await api.get(logo)
    assert response.status == 200
    assert response.body.startswith(b"\x89PNG")


@pytest.mark.gen_test
async def test_missing_resource_and_unknown_spec_are_404(api, custom_spec):
    assert (await api.get("kernelspecs/custom/nothing.png")).status == 404
    assert (await api.get("kernelspecs/nope/logo-64x64.png")).status == 404


@pytest.mark.gen_test
async def test_resource_path_cannot_leave_the_spec_folder(api, custom_spec):
    response = await api.get("kernelspecs/custom/../../etc/passwd")
    assert response.status in (403, 404)
    assert b"root:" not in response.body


@pytest.mark.gen_test
async def test_resource_needs_authentication(api, custom_spec):
    response = await api.get("kernelspecs/custom/logo-64x64.png", authenticated=False)
    assert response.status in (401, 403, 302)


@pytest.mark.gen_test
async def test_head_of_a_resource_has_the_headers_and_no_body(api, custom_spec):
    response = await api.request("HEAD", "kernelspecs/custom/logo-64x64.png")
    assert response.status == 200 and response.body == b""
    assert response.headers["Content-Type"] == "image/png"
    assert (await api.request("HEAD", "kernelspecs/custom/nothing.png")).status == 404


@pytest.mark.gen_test
async def test_resource_path_with_nul_is_404(api, custom_spec):
    response = await api.get("kernelspecs/custom/logo%00.png")
    assert response.status == 404 and set(response.json()) == {"message", "reason"}
