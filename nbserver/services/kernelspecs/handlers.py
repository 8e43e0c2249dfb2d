"""``/api/kernelspecs``: the installed kernels, and ``/kernelspecs/<name>/<file>``: their resources."""

from __future__ import annotations

from typing import Any

from tornado import web

from nbserver.base.handlers import APIHandler, BaseHandler, JSONErrorsMixin
from nbserver.errors import NotFound
from nbserver.services.kernelspecs.specs import KernelSpecSource


KERNEL_NAME_REGEX = r"(?P<kernel_name>[\w.-]+)"
#: How long browsers may reuse a kernel's logo or script before asking again, in seconds.
RESOURCE_MAX_AGE = 3600


def kernelspec_source(settings: dict[str, Any]) -> KernelSpecSource:
    """Where the server's kernels come from: its kernel manager's kernelspecs."""
    source: KernelSpecSource = settings["kernel_manager"].kernelspecs
    return source


class KernelSpecsAPIHandler(APIHandler):
    auth_resource = "kernelspecs"

    @property
    def kernelspecs(self) -> KernelSpecSource:
        return kernelspec_source(self.settings)


class MainKernelSpecHandler(KernelSpecsAPIHandler):
    async def get(self) -> None:
        self.finish_json(await self.kernelspecs.listing(self.base_url))


class KernelSpecHandler(KernelSpecsAPIHandler):
    async def get(self, kernel_name: str) -> None:
        self.finish_json(await self.kernelspecs.model(self.base_url, kernel_name))


class KernelSpecResourceHandler(JSONErrorsMixin, BaseHandler, web.StaticFileHandler):
    """A file of a kernelspec's folder (its logos, kernel.js), with caching headers."""

    auth_resource = "kernelspecs"
    #: Whether the resource came from a kernel gateway rather than a local folder.
    proxied = False

    def initialize(self, **kwargs: Any) -> None:  # type: ignore[override]
        super().initialize(path="")

    async def get(self, kernel_name: str, path: str, include_body: bool = True) -> None:  # type: ignore[override]
        if "\x00" in path:
            raise NotFound("No such kernelspec resource.")  # tornado's path checks fail on NUL
        resource = await kernelspec_source(self.settings).resource(kernel_name, path)
        if resource.folder is None:
            # A kernel gateway's resource, fetched from it: no Range, an ETag of its bytes, the same caching.
            self.proxied = True
            self.set_header("Content-Type", resource.content_type)
            self.set_extra_headers(path)
            self.finish(resource.body if include_body else None)
            return
        self.root = resource.folder
        await super().get(path, include_body=include_body)

    async def head(self, kernel_name: str, path: str) -> None:  # type: ignore[override]
        await self.get(kernel_name, path, include_body=False)

    def compute_etag(self) -> str | None:
        if self.proxied:
            return web.RequestHandler.compute_etag(self)
        return super().compute_etag()

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
