"""``/api/kernelspecs``: the installed kernels, and ``/kernelspecs/<name>/<file>``: their resources."""

from __future__ import annotations

import glob
import os
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from tornado import web

from nbserver.base.handlers import APIHandler, BaseHandler, JSONErrorsMixin
from nbserver.base.urls import url_escape_path, url_path_join
from nbserver.blocking import run_blocking
from nbserver.errors import NotFound

KERNEL_NAME_REGEX = r"(?P<kernel_name>[\w.-]+)"
#: Files of a kernelspec's folder that a front end may load, besides its logo-* images.
RESOURCE_FILES = ("kernel.js", "kernel.css")
#: How long browsers may reuse a kernel's logo or script before asking again, in seconds.
RESOURCE_MAX_AGE = 3600


def kernelspec_model(base_url: str, name: str, spec: dict[str, Any], resource_dir: str) -> dict[str, Any]:
    """A kernelspec as Jupyter reports it: name, the kernel.json content, resource URLs."""
    resources: dict[str, str] = {}
    for filename in RESOURCE_FILES:
        if os.path.isfile(os.path.join(resource_dir, filename)):
            resources[filename] = url_path_join(base_url, "kernelspecs", name, filename)
    for logo in sorted(glob.glob(os.path.join(glob.escape(resource_dir), "logo-*"))):
        filename = os.path.basename(logo)
        resources[os.path.splitext(filename)[0]] = url_path_join(
            base_url, "kernelspecs", name, url_escape_path(filename)
        )
    return {"name": name, "spec": spec, "resources": resources}


def _all_models(manager: KernelSpecManager, base_url: str) -> dict[str, Any]:
    models = {}
    for name, found in manager.get_all_specs().items():
        models[name] = kernelspec_model(base_url, name, found["spec"], found["resource_dir"])
    return models


def _one_model(manager: KernelSpecManager, base_url: str, name: str) -> dict[str, Any]:
    try:
        spec = manager.get_kernel_spec(name)
    except NoSuchKernel:
        raise NotFound(f"No such kernel spec: {name}") from None
    return kernelspec_model(base_url, name, spec.to_dict(), spec.resource_dir)


class KernelSpecsAPIHandler(APIHandler):
    auth_resource = "kernelspecs"

    @property
    def kernel_spec_manager(self) -> KernelSpecManager:
        return self.settings["kernel_spec_manager"]  # type: ignore[no-any-return]


class MainKernelSpecHandler(KernelSpecsAPIHandler):
    async def get(self) -> None:
        specs = await run_blocking(_all_models, self.kernel_spec_manager, self.base_url)
        default = self.settings["kernel_manager"].default_kernel_name
        self.finish_json({"default": default, "kernelspecs": specs})


class KernelSpecHandler(KernelSpecsAPIHandler):
    async def get(self, kernel_name: str) -> None:
        model = await run_blocking(_one_model, self.kernel_spec_manager, self.base_url, kernel_name)
        self.finish_json(model)


class KernelSpecResourceHandler(JSONErrorsMixin, BaseHandler, web.StaticFileHandler):
    """A file of a kernelspec's folder (its logos, kernel.js), with caching headers."""

    auth_resource = "kernelspecs"

    def initialize(self, **kwargs: Any) -> None:  # type: ignore[override]
        super().initialize(path="")

    async def get(self, kernel_name: str, path: str, include_body: bool = True) -> None:  # type: ignore[override]
        if "\x00" in path:
            raise NotFound("No such kernelspec resource.")  # tornado's path checks fail on NUL
        manager: KernelSpecManager = self.settings["kernel_spec_manager"]
        try:
            spec = await run_blocking(manager.get_kernel_spec, kernel_name)
        except NoSuchKernel:
            raise NotFound(f"No such kernel spec: {kernel_name}") from None
        self.root = spec.resource_dir
        await super().get(path, include_body=include_body)

    async def head(self, kernel_name: str, path: str) -> None:  # type: ignore[override]
        await self.get(kernel_name, path, include_body=False)

    def get_cache_time(self, path: str, modified: Any, mime_type: str) -> int:
        return RESOURCE_MAX_AGE

    def set_extra_headers(self, path: str) -> None:
        # The resource needs the token: shared caches must not keep it.
        self.set_header("Cache-Control", f"private, max-age={RESOURCE_MAX_AGE}")


handlers = [
    (r"/api/kernelspecs", MainKernelSpecHandler),
    (rf"/api/kernelspecs/{KERNEL_NAME_REGEX}", KernelSpecHandler),
    (rf"/kernelspecs/{KERNEL_NAME_REGEX}/(?P<path>.+)", KernelSpecResourceHandler),
]
