"""The kernelspecs of a kernel gateway, with their resources (logos, kernel.js) proxied here.

A gateway names its resources with its own URLs; they become this server's
``<base_url>kernelspecs/<name>/<file>``, which fetches them from the gateway.
"""

from __future__ import annotations

from typing import Any

from nbserver.errors import NotFound
from nbserver.services.kernels.gateway.client import GatewayClient, GatewayError, quote_segment
from nbserver.services.kernelspecs.specs import KernelSpecResource, resource_url


def resource_file(gateway_url: str, name: str) -> str:
    """The file part of a gateway's resource URL (what follows ``/<name>/``), or its last segment."""
    marker = f"/{name}/"
    path = gateway_url.split("?", 1)[0]
    if marker in path:
        return path.split(marker, 1)[1]
    return path.rsplit("/", 1)[-1]


def local_model(base_url: str, model: Any, fallback_name: str) -> dict[str, Any]:
    """A gateway's kernelspec model with its resource URLs made this server's."""
    if not isinstance(model, dict) or not isinstance(model.get("spec"), dict):
        raise GatewayError("The kernel gateway sent a kernelspec that is not one.",
                           log_detail=f"kernelspec {fallback_name}: {str(model)[:200]}")
    name = str(model.get("name") or fallback_name)
    resources = model.get("resources")
    if not isinstance(resources, dict):
        resources = {}
    return {
        "name": name,
        "spec": model["spec"],
        "resources": {
            key: resource_url(base_url, name, resource_file(str(url), name)) for key, url in resources.items()
        },
    }


class GatewayKernelSpecs:
    """The kernelspecs a kernel gateway offers (GET <gateway>/api/kernelspecs)."""

    def __init__(self, client: GatewayClient) -> None:
        self.client = client

    async def listing(self, base_url: str) -> dict[str, Any]:
        reply = await self.client.fetch_json("GET", self.client.kernelspecs_endpoint)
        if not isinstance(reply, dict) or not isinstance(reply.get("kernelspecs"), dict):
            raise GatewayError("The kernel gateway sent a kernelspec list that is not one.",
                               log_detail=str(reply)[:200])
        specs = {name: local_model(base_url, model, name) for name, model in reply["kernelspecs"].items()}
        return {"default": reply.get("default") or next(iter(specs), ""), "kernelspecs": specs}

    async def model(self, base_url: str, name: str) -> dict[str, Any]:
        try:
            reply = await self.client.fetch_json("GET", f"{self.client.kernelspecs_endpoint}/{quote_segment(name)}")
        except NotFound:
            raise NotFound(f"No such kernel spec: {name}") from None
        return local_model(base_url, reply, name)

    async def resource(self, name: str, path: str) -> KernelSpecResource:
        segments = "/".join(quote_segment(part) for part in path.split("/"))
        url = f"{self.client.kernelspecs_resource_endpoint}/{quote_segment(name)}/{segments}"
        try:
            response = await self.client.fetch("GET", url)
        except NotFound:
            raise NotFound("No such kernelspec resource.") from None
        content_type = response.headers.get("Content-Type", "application/octet-stream")
        return KernelSpecResource(body=response.body, content_type=content_type)
