"""Jupyter Server's OpenAPI document, every operation of it, fuzzed against nbserver and
jupyter_server 2.21.1 side by side (``scripts/schemathesis_api.py``), and the rules that compare them."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "schemathesis_api.py"


@pytest.fixture(scope="module")
def differential() -> ModuleType:
    spec = importlib.util.spec_from_file_location("schemathesis_api", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def pair(differential: ModuleType, label: str, nbserver: tuple[int, str, dict[str, str]],
         jupyter: tuple[int, str, dict[str, str]], body: Any = None) -> Any:
    case = SimpleNamespace(body=body)
    return differential.Pair(label, label, differential.Answer(*nbserver), differential.Answer(*jupyter),
                             differential.Planned(case, "positive"))


def test_a_5xx_from_nbserver_breaks_a_rule_whatever_jupyter_server_answers(differential):
    found = pair(differential, "GET /api/kernels", (500, "", {"not_a_server_error": "Server error"}),
                 (500, "", {"not_a_server_error": "Server error"}))
    assert found.problems == ["5xx: nbserver 500"]


def test_a_schema_violation_only_nbserver_has_breaks_a_rule(differential):
    violation = {"response_schema_conformance": "Response violates schema"}
    assert pair(differential, "GET /api/kernels", (200, "", violation), (200, "", {})).problems == [
        "schema: response_schema_conformance: Response violates schema"]
    assert pair(differential, "GET /api/kernels", (200, "", violation), (200, "", violation)).problems == []
    elsewhere = {"response_schema_conformance": "Response violates schema at properties/name/type"}
    assert pair(differential, "GET /api/kernels", (200, "", violation), (200, "", elsewhere)).problems


def test_a_2xx_from_jupyter_server_must_be_a_2xx_from_nbserver(differential):
    assert pair(differential, "GET /api/kernels", (404, "", {}), (200, "", {})).problems == [
        "2xx: jupyter_server 200, nbserver 404"]
    assert pair(differential, "GET /api/kernels", (201, "", {}), (404, "", {})).problems == []
    assert pair(differential, "GET /api/kernels", (400, "", {}), (500, "", {})).problems == []


def test_the_allow_list_covers_only_the_requests_it_names(differential):
    # A difference on a route no entry names is a difference.
    served = pair(differential, "GET /api/terminals", (404, '{"message": "Not found"}', {}), (200, "[]", {}))
    assert served.problems and differential.explain(served) is None
    # The PUT entry covers a model without "type", not every refused PUT.
    untyped = pair(differential, "PUT /api/contents/{path}", (400, "", {}), (201, "", {}), body={"x": 1})
    typed = pair(differential, "PUT /api/contents/{path}", (400, "", {}), (201, "", {}), body={"type": "file"})
    assert differential.explain(untyped) is not None and differential.explain(typed) is None


@pytest.mark.slow
@pytest.mark.timeout(330)
def test_every_operation_answers_as_well_as_jupyter_server_does(differential):
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=320)
    report = result.stdout[-12000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    table = result.stdout.split("status pairs per operation", 1)[1].split("allowed differences", 1)[0]
    operations = len(re.findall(r"^  (?:GET|POST|PUT|PATCH|DELETE) /api", table, re.MULTILINE))
    planned = differential.jupyter_server_spec()["paths"]
    expected = sum(1 for methods in planned.values() for method in methods if method != "parameters")
    assert operations == expected, report
    assert "unexplained differences: 0" in result.stdout, report
