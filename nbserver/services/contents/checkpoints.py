"""Checkpoints: saved copies of a file that can be restored, and the file-based store of them.

File checkpoints live in ``.ipynb_checkpoints/`` beside the file. The latest is
``<stem>-checkpoint<ext>``, as Jupyter keeps its one checkpoint, so both servers can share a
folder and the id ``checkpoint`` always means the latest. Older ones (a history of at most
``checkpoint_history_size``, the latest included) are ``<name>.history/<id>`` in the same
folder, with opaque ids that sort by creation time. A name that would pass the 255-byte
NAME_MAX is cut, with a hash of the full name (``fileio.fit_name``).
Creating and restoring write through the store's ``FileWriter``: crash-safe, and a restored
file keeps its owner, mode, attributes and inode.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable

from traitlets import Integer, Unicode, validate
from traitlets.config import LoggingConfigurable

from nbserver.blocking import run_blocking
from nbserver.errors import InvalidInput, NotFound, os_errors_as
from nbserver.services.contents import moves
from nbserver.services.contents.fileio import fit_name, normalize_api_path, read_blocks

if TYPE_CHECKING:
    from nbserver.services.contents.filemanager import FileContentsManager

CheckpointModel = dict[str, Any]

#: Jupyter keeps one checkpoint per file, always with this id; here it names the latest.
DEFAULT_CHECKPOINT_ID = "checkpoint"
#: Ids of older checkpoints: the UTC time it was superseded, to the microsecond, and a counter
#: when two fall in the same microsecond (``20261129T214600123456Z``, ``...Z-01``).
HISTORY_ID = re.compile(r"\d{8}T\d{12}Z(?:-\d{2,})?")
HISTORY_SUFFIX = ".history"


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

    async def read_checkpoint(self, checkpoint_id: str, path: str) -> bytes:
        """The bytes of one checkpoint; NotFound when the file or checkpoint does not exist."""
        raise NotImplementedError


def new_history_id(taken: Callable[[str], bool]) -> str:
    """An id for a checkpoint superseded now (:data:`HISTORY_ID`), not one that ``taken`` reports used."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    candidate, number = stamp, 0
    while taken(candidate):
        number += 1
        candidate = f"{stamp}-{number:02d}"
    return candidate


class CheckpointHistory(Checkpoints):
    """A checkpoint store keeping several checkpoints per file: the latest is ``checkpoint``,
    older ones have :data:`HISTORY_ID` ids, at most ``checkpoint_history_size`` in all."""

    checkpoint_history_size = Integer(
        10,
        help="How many checkpoints of each file are kept, the latest included; creating one more "
        "removes the oldest. 1 keeps only the latest, as Jupyter does.",
    ).tag(config=True)

    @validate("checkpoint_history_size")
    def _validate_history_size(self, proposal: Any) -> int:
        if int(proposal["value"]) < 1:
            raise ValueError("checkpoint_history_size must be at least 1")
        return int(proposal["value"])


class FileCheckpoints(CheckpointHistory):
    """Checkpoints as exact byte copies in a hidden folder beside each file, latest first."""

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

    def _latest_path(self, os_path: str) -> str:
        directory, name = os.path.split(os_path)
        stem, ext = os.path.splitext(name)
        # Jupyter's name, cut to NAME_MAX bytes (with a hash of the full name) where it is too long.
        return os.path.join(directory, self.checkpoint_dir, fit_name(f"{stem}-{DEFAULT_CHECKPOINT_ID}{ext}"))

    def _history_dir(self, os_path: str) -> str:
        directory, name = os.path.split(os_path)
        return os.path.join(directory, self.checkpoint_dir, fit_name(name + HISTORY_SUFFIX))

    def _checkpoint_path(self, checkpoint_id: str, os_path: str) -> str:
        if checkpoint_id == DEFAULT_CHECKPOINT_ID:
            return self._latest_path(os_path)
        if not HISTORY_ID.fullmatch(checkpoint_id):
            raise NotFound(f"No checkpoint {checkpoint_id!r}")
        return os.path.join(self._history_dir(os_path), checkpoint_id)

    def checkpoint_files(self, os_path: str) -> list[str]:
        """What holds the checkpoints of the file at ``os_path`` (the latest, the history folder),
        those that exist: the trash carries them with the file."""
        return [place for place in (self._latest_path(os_path), self._history_dir(os_path))
                if os.path.lexists(place)]

    def checkpoint_destination(self, kept: str, os_path: str) -> str:
        """Where a place that :meth:`checkpoint_files` listed goes for the file now at ``os_path``."""
        return self._history_dir(os_path) if os.path.isdir(kept) else self._latest_path(os_path)

    def _history_ids(self, os_path: str) -> list[str]:
        """Ids of the older checkpoints, newest first."""
        try:
            names = os.listdir(self._history_dir(os_path))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted((name for name in names if HISTORY_ID.fullmatch(name)), reverse=True)

    def _new_history_id(self, history_dir: str) -> str:
        return new_history_id(lambda candidate: os.path.lexists(os.path.join(history_dir, candidate)))

    def _model(self, checkpoint_id: str, checkpoint_path: str) -> CheckpointModel:
        from nbserver.timestamps import iso_timestamp

        return {"id": checkpoint_id, "last_modified": iso_timestamp(os.stat(checkpoint_path).st_mtime)}

    def _existing_checkpoint(self, checkpoint_id: str, path: str) -> tuple[str, str]:
        os_path = self._source_path(path)
        checkpoint_path = self._checkpoint_path(checkpoint_id, os_path)
        if not os.path.isfile(checkpoint_path):
            raise NotFound(f"No checkpoint {checkpoint_id!r} for {path}")
        return os_path, checkpoint_path

    def _create(self, path: str) -> CheckpointModel:
        os_path = self._source_path(path)
        latest = self._latest_path(os_path)
        os.makedirs(os.path.dirname(latest), exist_ok=True)
        if self.checkpoint_history_size > 1 and os.path.isfile(latest):
            history_dir = self._history_dir(os_path)
            os.makedirs(history_dir, exist_ok=True)
            os.replace(latest, os.path.join(history_dir, self._new_history_id(history_dir)))
        self.manager.file_writer.write(latest, read_blocks(os_path))
        shutil.copystat(os_path, latest)
        self._prune(os_path)
        return self._model(DEFAULT_CHECKPOINT_ID, latest)

    def _prune(self, os_path: str) -> None:
        """Remove the oldest checkpoints past ``checkpoint_history_size``."""
        history_dir = self._history_dir(os_path)
        for checkpoint_id in self._history_ids(os_path)[max(self.checkpoint_history_size - 1, 0):]:
            os.unlink(os.path.join(history_dir, checkpoint_id))
        self._remove_if_empty(history_dir)

    @staticmethod
    def _remove_if_empty(history_dir: str) -> None:
        try:
            os.rmdir(history_dir)
        except OSError:
            pass  # not empty, or not there: either way nothing to tidy

    def _list(self, path: str) -> list[CheckpointModel]:
        os_path = self._source_path(path)
        latest = self._latest_path(os_path)
        history_dir = self._history_dir(os_path)
        # Oldest first, the latest ("checkpoint") last: JupyterLab's document context reverts to
        # the LAST entry of this list when no id is given (docregistry Context.restoreCheckpoint),
        # so the order Jupyter clients rely on is chronological.
        models = [self._model(checkpoint_id, os.path.join(history_dir, checkpoint_id))
                  for checkpoint_id in reversed(self._history_ids(os_path))]
        if os.path.isfile(latest):
            models.append(self._model(DEFAULT_CHECKPOINT_ID, latest))
        return models

    def _restore(self, checkpoint_id: str, path: str) -> None:
        os_path, checkpoint_path = self._existing_checkpoint(checkpoint_id, path)
        self.manager.file_writer.write(os_path, read_blocks(checkpoint_path))

    def _read(self, checkpoint_id: str, path: str) -> bytes:
        _, checkpoint_path = self._existing_checkpoint(checkpoint_id, path)
        with open(checkpoint_path, "rb") as handle:
            return handle.read()

    def _delete(self, checkpoint_id: str, path: str) -> None:
        os_path, checkpoint_path = self._existing_checkpoint(checkpoint_id, path)
        os.unlink(checkpoint_path)
        history_dir = self._history_dir(os_path)
        if checkpoint_id == DEFAULT_CHECKPOINT_ID:
            # "checkpoint" keeps naming the latest: the newest older one takes its place.
            newer = self._history_ids(os_path)
            if newer:
                os.replace(os.path.join(history_dir, newer[0]), checkpoint_path)
        self._remove_if_empty(history_dir)

    def _rename_all(self, old_os_path: str, new_os_path: str) -> None:
        for old_place in self.checkpoint_files(old_os_path):
            new_place = self.checkpoint_destination(old_place, new_os_path)
            os.makedirs(os.path.dirname(new_place), exist_ok=True)
            if os.path.isdir(new_place) and not os.path.islink(new_place):
                shutil.rmtree(new_place)  # left by a file that is gone: the moved file's history wins
            moves.move(old_place, new_place, self.manager.file_writer)  # the file may have moved to another filesystem

    def _delete_all(self, os_path: str) -> None:
        latest = self._latest_path(os_path)
        if os.path.isfile(latest):
            os.unlink(latest)
        history_dir = self._history_dir(os_path)
        if os.path.isdir(history_dir) and not os.path.islink(history_dir):
            shutil.rmtree(history_dir)

    async def create_checkpoint(self, path: str) -> CheckpointModel:
        with os_errors_as("create a checkpoint of", normalize_api_path(path)):
            return await run_blocking(self._create, path)

    async def list_checkpoints(self, path: str) -> list[CheckpointModel]:
        with os_errors_as("list the checkpoints of", normalize_api_path(path)):
            return await run_blocking(self._list, path)

    async def restore_checkpoint(self, checkpoint_id: str, path: str) -> None:
        with os_errors_as("restore a checkpoint of", normalize_api_path(path)):
            await run_blocking(self._restore, checkpoint_id, path)
        await self.manager.notify_saved(normalize_api_path(path))  # new content: search, the file's version

    async def read_checkpoint(self, checkpoint_id: str, path: str) -> bytes:
        with os_errors_as("read a checkpoint of", normalize_api_path(path)):
            return await run_blocking(self._read, checkpoint_id, path)

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
