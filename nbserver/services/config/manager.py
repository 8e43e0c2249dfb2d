"""Config sections front ends store (``/api/config/<section>``), kept as JSON files.

Each section is ``<config_dir>/<section>.json``; PATCH merges recursively and a
null value removes a key, as Jupyter Server's config service does.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from traitlets import Unicode
from traitlets.config import LoggingConfigurable

from nbserver.blocking import run_blocking
from nbserver.errors import InvalidInput
from nbserver.services.contents.fileio import atomic_write

SECTION_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def merge_section(target: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Merge ``update`` into ``target`` in place: dicts recursively, None deletes the key.

    As in Jupyter Server's config service, an object left empty by the merge is removed too
    (``{"a": {"b": null}}`` on ``{"a": {"b": 1}}`` leaves ``{}``), and so is an empty object sent.
    """
    for key, value in update.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            merged = merge_section(current if isinstance(current, dict) else {}, value)
            if merged:
                target[key] = merged
            else:
                target.pop(key, None)
        else:
            target[key] = value
    return target


class ConfigSectionManager(LoggingConfigurable):
    """Reads and writes the JSON config sections in ``config_dir``."""

    config_dir = Unicode(help="Folder holding the front-end config sections (nbconfig).").tag(config=True)

    def _section_path(self, section: str) -> str:
        if not SECTION_NAME.match(section) or len(section) > 200:
            raise InvalidInput("A config section name may hold letters, digits, '_', '-' and '.'.")
        return os.path.join(self.config_dir, section + ".json")

    def _read(self, section: str) -> dict[str, Any]:
        path = self._section_path(section)
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return {}
        except ValueError:
            self.log.warning("Config section %s is not valid JSON; treating it as empty", path)
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, section: str, data: dict[str, Any]) -> dict[str, Any]:
        path = self._section_path(section)
        os.makedirs(self.config_dir, exist_ok=True)
        atomic_write(path, json.dumps(data, indent=2, sort_keys=True).encode("utf-8"))
        return data

    def _update(self, section: str, update: dict[str, Any]) -> dict[str, Any]:
        return self._write(section, merge_section(self._read(section), update))

    async def get(self, section: str) -> dict[str, Any]:
        return await run_blocking(self._read, section)

    async def set(self, section: str, data: dict[str, Any]) -> dict[str, Any]:
        return await run_blocking(self._write, section, data)

    async def update(self, section: str, update: dict[str, Any]) -> dict[str, Any]:
        return await run_blocking(self._update, section, update)
