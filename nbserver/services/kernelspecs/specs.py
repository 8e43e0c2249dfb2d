"""Where kernelspecs come from: the kernels installed here, or a kernel gateway's (gateway/).

A source lists kernelspecs as Jupyter's REST models (``{"name", "spec", "resources"}``, the
resources as this server's URLs) and finds their resource files (logos, kernel.js).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

from nbserver.base.urls import url_escape_path, url_path_join
from nbserver.blocking import run_blocking
from nbserver.errors import NotFound

#: Files of a kernelspec's folder that a front end may load, besides its logo-* images.
RESOURCE_FILES = ("kernel.js", "kernel.css")


@dataclass(frozen=True)
class KernelSpecResource:
    """A resource file of a kernelspec: a folder to serve it from, or its bytes and media type."""

    folder: str | None = None
    body: bytes = b""
    content_type: str = "application/octet-stream"


class KernelSpecSource(Protocol):
    """Lists kernelspecs and finds their resources (NotFound for an unknown name)."""

    async def listing(self, base_url: str) -> dict[str, Any]:
        """``{"default": name, "kernelspecs": {name: model}}``, as ``GET /api/kernelspecs`` answers."""
        ...

    async def model(self, base_url: str, name: str) -> dict[str, Any]: ...

    async def resource(self, name: str, path: str) -> KernelSpecResource: ...


def resource_url(base_url: str, name: str, filename: str) -> str:
    """This server's URL of a kernelspec's resource file."""
    return url_path_join(base_url, "kernelspecs", name, url_escape_path(filename))


def kernelspec_model(base_url: str, name: str, spec: dict[str, Any], resource_dir: str) -> dict[str, Any]:
    """A kernelspec as Jupyter reports it: name, the kernel.json content, resource URLs."""
    resources: dict[str, str] = {}
    for filename in RESOURCE_FILES:
        if os.path.isfile(os.path.join(resource_dir, filename)):
            resources[filename] = resource_url(base_url, name, filename)
    for logo in sorted(glob.glob(os.path.join(glob.escape(resource_dir), "logo-*"))):
        filename = os.path.basename(logo)
        resources[os.path.splitext(filename)[0]] = resource_url(base_url, name, filename)
    return {"name": name, "spec": spec, "resources": resources}


class LocalKernelSpecs:
    """The kernelspecs jupyter_client finds on this machine."""

    def __init__(self, manager: KernelSpecManager, default_name: Callable[[], str]) -> None:
        self.manager = manager
        self._default_name = default_name

    def _all_models(self, base_url: str) -> dict[str, Any]:
        models = {}
        for name, found in self.manager.get_all_specs().items():
            models[name] = kernelspec_model(base_url, name, found["spec"], found["resource_dir"])
        return models

    def _one_model(self, base_url: str, name: str) -> dict[str, Any]:
        spec = self._spec(name)
        return kernelspec_model(base_url, name, spec.to_dict(), spec.resource_dir)

    def _spec(self, name: str) -> Any:
        try:
            return self.manager.get_kernel_spec(name)
        except NoSuchKernel:
            raise NotFound(f"No such kernel spec: {name}") from None

    async def listing(self, base_url: str) -> dict[str, Any]:
        specs = await run_blocking(self._all_models, base_url)
        return {"default": self._default_name(), "kernelspecs": specs}

    async def model(self, base_url: str, name: str) -> dict[str, Any]:
        return await run_blocking(self._one_model, base_url, name)

    async def resource(self, name: str, path: str) -> KernelSpecResource:
        spec = await run_blocking(self._spec, name)
        return KernelSpecResource(folder=spec.resource_dir)
