"""A gateway's kernelspec models made this server's: resource URLs rewritten, bad models refused."""

from __future__ import annotations

import pytest

from nbserver.services.kernels.gateway.client import GatewayError
from nbserver.services.kernels.gateway.kernelspecs import local_model, resource_file


@pytest.mark.parametrize("gateway_url, expected", [
    ("/kernelspecs/python3/logo-64x64.png", "logo-64x64.png"),
    ("/gw/base/kernelspecs/python3/logo-svg.svg?v=2", "logo-svg.svg"),
    ("/kernelspecs/python3/sub/kernel.js", "sub/kernel.js"),
    ("https://elsewhere.example/static/logo.png", "logo.png"),
])
def test_the_file_of_a_gateway_resource_url(gateway_url: str, expected: str) -> None:
    assert resource_file(gateway_url, "python3") == expected


def test_resource_urls_become_this_servers() -> None:
    model = {"name": "python3", "spec": {"display_name": "Python 3"},
             "resources": {"logo-64x64": "/gw/kernelspecs/python3/logo-64x64.png"}}
    assert local_model("/nb/", model, "python3") == {
        "name": "python3", "spec": {"display_name": "Python 3"},
        "resources": {"logo-64x64": "/nb/kernelspecs/python3/logo-64x64.png"},
    }


def test_a_model_without_resources_has_none() -> None:
    assert local_model("/", {"spec": {}}, "r")["resources"] == {}


@pytest.mark.parametrize("model", [None, [], {"name": "x"}, {"spec": "not an object"}])
def test_a_model_that_is_not_one_is_a_502(model: object) -> None:
    with pytest.raises(GatewayError):
        local_model("/", model, "x")
