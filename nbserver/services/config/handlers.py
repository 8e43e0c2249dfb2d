"""REST routes of ``/api/config/<section>``."""

from __future__ import annotations

from typing import Any

from nbserver.base.handlers import APIHandler
from nbserver.errors import InvalidInput
from nbserver.services.config.manager import ConfigSectionManager


class ConfigHandler(APIHandler):
    auth_resource = "config"

    @property
    def config_manager(self) -> ConfigSectionManager:
        return self.settings["config_manager"]  # type: ignore[no-any-return]

    def _object_body(self) -> dict[str, Any]:
        body = self.get_json_object_body()
        if body is None:
            raise InvalidInput("Send the section as a JSON object.")
        return body

    async def get(self, section_name: str) -> None:
        self.finish_json(await self.config_manager.get(section_name))

    async def put(self, section_name: str) -> None:
        await self.config_manager.set(section_name, self._object_body())
        self.set_status(204)
        self.finish()

    async def patch(self, section_name: str) -> None:
        self.finish_json(await self.config_manager.update(section_name, self._object_body()))


handlers = [(r"/api/config/(?P<section_name>[^/]+)", ConfigHandler)]
