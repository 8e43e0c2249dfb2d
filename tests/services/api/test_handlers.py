"""/api, /api/status and /api/spec.yaml, and the spec kept true to the route table."""

import asyncio
import re
from datetime import datetime

import pytest
import yaml
from openapi_spec_validator import OpenAPIV30SpecValidator

import nbserver
from nbserver.services.api.handlers import SPEC_PATH

NAMED_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")


def route_to_template(pattern: str) -> str:
    """Turn a route regex into an OpenAPI path template: (?P<kernel_id>...) -> {kernel_id}."""
    template = NAMED_GROUP.sub(lambda m: "{%s}" % m.group(1), pattern)
    template = template.replace("/?", "").rstrip("$")
    return re.sub(r"(?<!/)\{path\}", "/{path}", template)


@pytest.mark.gen_test
async def test_api_root_reports_version_without_auth(api):
    response = await api.get("api", authenticated=False)
    assert response.status == 200
    assert response.json() == {"version": nbserver.__version__}


@pytest.mark.gen_test
async def test_status_reports_start_activity_and_counts(api):
    response = await api.get("api/status")
    assert response.status == 200
    status = response.json()
    assert set(status) == {"started", "last_activity", "connections", "kernels"}
    started = datetime.fromisoformat(status["started"].replace("Z", "+00:00"))
    last = datetime.fromisoformat(status["last_activity"].replace("Z", "+00:00"))
    assert last >= started and status["kernels"] == 0 and status["connections"] == 0


@pytest.mark.gen_test
async def test_status_needs_auth(api):
    assert (await api.get("api/status", authenticated=False)).status == 401


@pytest.mark.gen_test
async def test_spec_is_served_as_yaml(api):
    response = await api.get("api/spec.yaml")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/x-yaml")
    assert yaml.safe_load(response.body)["openapi"].startswith("3.")


def test_spec_describes_exactly_the_api_routes(server_app):
    with open(SPEC_PATH) as handle:
        spec_paths = set(yaml.safe_load(handle)["paths"])
    routed = {route_to_template(pattern) for pattern, _ in server_app.route_table()
              if pattern.startswith(("/api", "/rstservice")) and pattern != "/api/.*"}
    assert routed - spec_paths == set(), "routes missing from api.yaml"
    assert spec_paths - routed == set(), "api.yaml paths with no route"


def test_spec_is_a_valid_openapi_document():
    """Strict OpenAPI 3.0 validation: a plain-scalar description holding a comma inside a flow
    mapping silently turns into extra keys, which only a validator notices."""
    with open(SPEC_PATH) as handle:
        spec = yaml.safe_load(handle)
    errors = [f"{'/'.join(map(str, error.path))}: {error.message[:200]}"
              for error in OpenAPIV30SpecValidator(spec).iter_errors()]
    assert errors == []


def test_route_to_template_examples():
    assert route_to_template(r"/api/contents(?P<path>(?:/[^/]+)*)/?") == "/api/contents/{path}"
    assert route_to_template(r"/api/contents(?P<path>(?:/[^/]+)*)/checkpoints/(?P<checkpoint_id>[^/]+)") \
        == "/api/contents/{path}/checkpoints/{checkpoint_id}"
    assert route_to_template(r"/api/?") == "/api"


@pytest.mark.gen_test
async def test_polling_status_is_not_activity(api):
    first = (await api.get("api/status")).json()["last_activity"]
    await asyncio.sleep(0.05)
    assert (await api.get("api/status")).json()["last_activity"] == first
    await api.get("api/contents")
    assert (await api.get("api/status")).json()["last_activity"] > first
