"""Checkpoints: a saved copy of a file that can be restored, and the file-based store of them.

File checkpoints live in ``.ipynb_checkpoints/`` beside the file, named
``<stem>-<id><ext>``, as Jupyter keeps them, so both servers can share a folder; a name
that would pass the 255-byte NAME_MAX is cut, with a hash of the full name (``fileio.fit_name``).
Creating and restoring write through the store's ``FileWriter``: crash-safe, and a restored
file keeps its owner, mode, attributes and inode.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, Any

from traitlets import Unicode
from traitlets.config import LoggingConfigurable

from nbserver.blocking import run_blocking
from nbserver.errors import InvalidInput, NotFound, os_errors_as
from nbserver.services.contents import moves
from nbserver.services.contents.fileio import fit_name, normalize_api_path, read_blocks

if TYPE_CHECKING:
    from nbserver.services.contents.filemanager import FileContentsManager

CheckpointModel = dict[str, Any]

#: Jupyter keeps one checkpoint per file, always with this id.
DEFAULT_CHECKPOINT_ID = "checkpoint"


class Checkpoints(LoggingConfigurable):
    """The interface of a checkpoint store; its ``parent`` is the ContentsManager it serves."""

    async def create_checkpoint(self, path: str) -> CheckpointModel:
        raise NotImplementedError

    async def list_checkpoints(self, path: str) -> list[CheckpointModel]:
        raise NotImplementedError

    async def restore_checkpoint(self, checkpoint_id: str, path: str) -> None:
        raise NotImplementedError

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        raise NotImplementedError

    async def rename_all_checkpoints(self, old_path: str, new_path: str) -> None:
        raise NotImplementedError

    async def delete_all_checkpoints(self, path: str) -> None:
        raise NotImplementedError


class FileCheckpoints(Checkpoints):
    """Checkpoints as exact byte copies in a hidden folder beside each file."""

    checkpoint_dir = Unicode(
        ".ipynb_checkpoints",
        help="Name of the folder, beside each file, that holds its checkpoints.",
    ).tag(config=True)

    @property
    def manager(self) -> FileContentsManager:
        return self.parent  # type: ignore[return-value]

    def _source_path(self, path: str) -> str:
        os_path = self.manager.visible_os_path(path)
        if os.path.isdir(os_path):
            raise InvalidInput("Directories have no checkpoints.")
        if not os.path.isfile(os_path):
            raise NotFound(f"No such file: {path}")
        return os_path

    def _checkpoint_path(self, checkpoint_id: str, os_path: str) -> str:
        directory, name = os.path.split(os_path)
        stem, ext = os.path.splitext(name)
        # Jupyter's name, cut to NAME_MAX bytes (with a hash of the full name) where it is too long.
        return os.path.join(directory, self.checkpoint_dir, fit_name(f"{stem}-{checkpoint_id}{ext}"))

    def checkpoint_file(self, checkpoint_id: str, os_path: str) -> str:
        """The OS path of the checkpoint ``checkpoint_id`` of the file at ``os_path`` (the trash carries it)."""
        return self._checkpoint_path(checkpoint_id, os_path)

    def _model(self, checkpoint_id: str, checkpoint_path: str) -> CheckpointModel:
        from nbserver.timestamps import iso_timestamp

        return {"id": checkpoint_id, "last_modified": iso_timestamp(os.stat(checkpoint_path).st_mtime)}

    def _existing_checkpoint(self, checkpoint_id: str, path: str) -> tuple[str, str]:
        os_path = self._source_path(path)
        checkpoint_path = self._checkpoint_path(checkpoint_id, os_path)
        if checkpoint_id != DEFAULT_CHECKPOINT_ID or not os.path.isfile(checkpoint_path):
            raise NotFound(f"No checkpoint {checkpoint_id!r} for {path}")
        return os_path, checkpoint_path

    def _create(self, path: str) -> CheckpointModel:
        os_path = self._source_path(path)
        checkpoint_path = self._checkpoint_path(DEFAULT_CHECKPOINT_ID, os_path)
        os.makedirs(os.path.dirname(checkpoint_path), exist_ok=True)
        self.manager.file_writer.write(checkpoint_path, read_blocks(os_path))
        shutil.copystat(os_path, checkpoint_path)
        return self._model(DEFAULT_CHECKPOINT_ID, checkpoint_path)

    def _list(self, path: str) -> list[CheckpointModel]:
        checkpoint_path = self._checkpoint_path(DEFAULT_CHECKPOINT_ID, self._source_path(path))
        if not os.path.isfile(checkpoint_path):
            return []
        return [self._model(DEFAULT_CHECKPOINT_ID, checkpoint_path)]

    def _restore(self, checkpoint_id: str, path: str) -> None:
        os_path, checkpoint_path = self._existing_checkpoint(checkpoint_id, path)
        self.manager.file_writer.write(os_path, read_blocks(checkpoint_path))

    def _delete(self, checkpoint_id: str, path: str) -> None:
        _, checkpoint_path = self._existing_checkpoint(checkpoint_id, path)
        os.unlink(checkpoint_path)

    def _rename_all(self, old_os_path: str, new_os_path: str) -> None:
        old_checkpoint = self._checkpoint_path(DEFAULT_CHECKPOINT_ID, old_os_path)
        if os.path.isfile(old_checkpoint):
            new_checkpoint = self._checkpoint_path(DEFAULT_CHECKPOINT_ID, new_os_path)
            os.makedirs(os.path.dirname(new_checkpoint), exist_ok=True)
            moves.move(old_checkpoint, new_checkpoint, self.manager.file_writer)  # the file may have moved to another filesystem

    def _delete_all(self, os_path: str) -> None:
        checkpoint_path = self._checkpoint_path(DEFAULT_CHECKPOINT_ID, os_path)
        if os.path.isfile(checkpoint_path):
            os.unlink(checkpoint_path)

    async def create_checkpoint(self, path: str) -> CheckpointModel:
        with os_errors_as("create a checkpoint of", normalize_api_path(path)):
            return await run_blocking(self._create, path)

    async def list_checkpoints(self, path: str) -> list[CheckpointModel]:
        with os_errors_as("list the checkpoints of", normalize_api_path(path)):
            return await run_blocking(self._list, path)

    async def restore_checkpoint(self, checkpoint_id: str, path: str) -> None:
        with os_errors_as("restore a checkpoint of", normalize_api_path(path)):
            await run_blocking(self._restore, checkpoint_id, path)

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        with os_errors_as("delete a checkpoint of", normalize_api_path(path)):
            await run_blocking(self._delete, checkpoint_id, path)

    async def rename_all_checkpoints(self, old_path: str, new_path: str) -> None:
        # Called after the file moved: a directory carries its checkpoints inside it.
        with os_errors_as("move the checkpoints of", normalize_api_path(old_path)):
            new_os_path = self.manager.visible_os_path(new_path)
            if not os.path.isdir(new_os_path):
                old_os_path = self.manager.os_path(old_path)
                await run_blocking(self._rename_all, old_os_path, new_os_path)

    async def delete_all_checkpoints(self, path: str) -> None:
        with os_errors_as("delete the checkpoints of", normalize_api_path(path)):
            await run_blocking(self._delete_all, self.manager.os_path(path))
