"""An in-memory ContentsManager: proves that the contents API works with any store."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from traitlets import default

from nbserver.errors import Conflict, InvalidInput, NotFound
from nbserver.services.contents.checkpoints import DEFAULT_CHECKPOINT_ID, CheckpointModel, Checkpoints
from nbserver.services.contents.fileio import normalize_api_path
from nbserver.services.contents.manager import (
    check_expected_hash,
    HASH_ALGORITHM,
    ContentsManager,
    Model,
    Saved,
    decode_file_content,
    encode_file_content,
    file_mimetype,
    iso_timestamp,
)
from nbserver.services.contents.notebooks import parse_notebook, serialize_notebook
from nbserver.services.contents.streams import BytesFileStream, FileStream


@dataclass
class Entry:
    """A file (bytes) or a directory (data is None) in the memory store."""

    data: bytes | None
    created: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


class InMemoryContentsManager(ContentsManager):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entries: dict[str, Entry] = {"": Entry(None)}
        self.uploads: dict[str, bytearray] = {}

    @default("checkpoints_class")
    def _default_checkpoints_class(self) -> type:
        return InMemoryCheckpoints

    def _visible(self, path: str) -> str:
        path = normalize_api_path(path)
        if not self.allow_hidden and any(p.startswith(".") for p in path.split("/") if p):
            raise NotFound(f"No such file or directory: {path}")
        return path

    def _entry(self, path: str) -> Entry:
        entry = self.entries.get(path)
        if entry is None:
            raise NotFound(f"No such file or directory: {path}")
        return entry

    def _model(self, path: str, entry: Entry) -> Model:
        is_dir = entry.data is None
        kind = "directory" if is_dir else ("notebook" if path.endswith(".ipynb") else "file")
        return {
            "name": path.rpartition("/")[2], "path": path, "type": kind, "writable": True,
            "created": iso_timestamp(entry.created), "last_modified": iso_timestamp(entry.modified),
            "mimetype": None if kind != "file" else file_mimetype(path, None), "format": None,
            "content": None, "size": None if is_dir else len(entry.data or b""),
            "hash": None, "hash_algorithm": None,
        }

    async def get(self, path: str, content: bool = True, type: str | None = None,
                  format: str | None = None, require_hash: bool = False) -> Model:
        path = self._visible(path)
        entry = self._entry(path)
        model = self._model(path, entry)
        if type is not None and type != model["type"] and not (type == "file" and model["type"] == "notebook"):
            raise InvalidInput(f"{path} is not a {type}.")
        if type == "file":
            model["type"] = "file"
        if entry.data is None:
            if content:
                prefix = path + "/" if path else ""
                children = [
                    self._model(child, e) for child, e in self.entries.items()
                    if child and _parent(child) == path and child.startswith(prefix)
                    and (self.allow_hidden or not child.rpartition("/")[2].startswith("."))
                ]
                model.update(content=children, format="json")
            return model
        if require_hash:
            model.update(hash=hashlib.sha256(entry.data).hexdigest(), hash_algorithm=HASH_ALGORITHM)
        if content:
            if model["type"] == "notebook":
                nb, message = parse_notebook(entry.data)
                model.update(content=nb, format="json")
                if message:
                    model["message"] = message
            else:
                model["content"], model["format"] = encode_file_content(entry.data, format, path)
                model["mimetype"] = file_mimetype(path, model["format"])
        return model

    async def open_file(self, path: str) -> FileStream:
        """Slices of the stored bytes: the file is neither copied whole nor base64-encoded."""
        path = self._visible(path)
        entry = self._entry(path)
        if entry.data is None:
            raise NotFound(f"No such file: {path}")
        return BytesFileStream(entry.data, entry.modified)

    async def save(self, model: Model, path: str, must_create: bool = False, *,
                   expected_hash: str | None = None) -> Saved:
        # No await until the entry is stored: on one event loop, the look and the create are atomic.
        path = normalize_api_path(path)
        if not self.allow_hidden and any(p.startswith(".") for p in path.split("/") if p):
            raise InvalidInput("Hidden files cannot be created here.")
        parent = self.entries.get(_parent(path))
        if parent is None or parent.data is not None:
            raise NotFound(f"No such directory: {_parent(path)}")
        existing = self.entries.get(path)
        check_expected_hash(path, expected_hash, hashlib.sha256(existing.data).hexdigest()
                            if existing is not None and existing.data is not None else None, existing is not None)
        if existing is not None and must_create:
            raise Conflict(f"A file or directory already exists at {path}")
        if model["type"] == "directory":
            if existing is not None and existing.data is not None:
                raise Conflict(f"A file exists at {path}")
            self.entries.setdefault(path, Entry(None))
            return Saved(await self.get(path, content=False), created=existing is None)
        if existing is not None and existing.data is None:
            raise Conflict(f"A directory exists at {path}")
        message = None
        if model["type"] == "notebook":
            data, message = serialize_notebook(model.get("content"))
        else:
            data = decode_file_content(model.get("content"), model.get("format") or "text")
            chunk = model.get("chunk")
            if chunk is not None:
                if chunk != 1 and path not in self.uploads:
                    raise InvalidInput("No chunked upload is in progress for this file.")
                buffer = self.uploads[path] = bytearray() if chunk == 1 else self.uploads[path]
                buffer.extend(data)
                if chunk != -1:
                    return Saved(self._model(path, Entry(bytes(buffer))), created=existing is None)
                data = bytes(self.uploads.pop(path))
        created = existing.created if existing else time.time()
        self.entries[path] = Entry(data, created=created)
        saved = await self.get(path, content=False, require_hash=True)
        if message:
            saved["message"] = message
        return Saved(saved, created=existing is None)

    async def delete_file(self, path: str) -> None:
        path = self._visible(path)
        self._entry(path)
        for key in [k for k in self.entries if k == path or k.startswith(path + "/")]:
            del self.entries[key]

    async def rename_file(self, old_path: str, new_path: str) -> None:
        old_path, new_path = self._visible(old_path), normalize_api_path(new_path)
        self._entry(old_path)
        if new_path in self.entries:
            raise Conflict(f"A file or directory already exists at {new_path}")
        if _parent(new_path) not in self.entries:
            raise NotFound(f"No such directory: {_parent(new_path)}")
        if new_path.startswith(old_path + "/"):
            raise InvalidInput("A folder cannot be moved into itself.")
        for key in [k for k in self.entries if k == old_path or k.startswith(old_path + "/")]:
            self.entries[new_path + key[len(old_path):]] = self.entries.pop(key)

    async def file_exists(self, path: str) -> bool:
        entry = self.entries.get(normalize_api_path(path))
        return entry is not None and entry.data is not None

    async def dir_exists(self, path: str) -> bool:
        entry = self.entries.get(normalize_api_path(path))
        return entry is not None and entry.data is None


class InMemoryCheckpoints(Checkpoints):
    """One checkpoint per file, kept as bytes beside the store."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.saved: dict[str, Entry] = {}

    @property
    def store(self) -> InMemoryContentsManager:
        return self.parent  # type: ignore[no-any-return]

    def _file(self, path: str) -> Entry:
        entry = self.store._entry(self.store._visible(path))
        if entry.data is None:
            raise InvalidInput("Directories have no checkpoints.")
        return entry

    def _checkpoint(self, checkpoint_id: str, path: str) -> Entry:
        self._file(path)
        if checkpoint_id != DEFAULT_CHECKPOINT_ID or path not in self.saved:
            raise NotFound(f"No checkpoint {checkpoint_id!r} for {path}")
        return self.saved[path]

    async def create_checkpoint(self, path: str) -> CheckpointModel:
        self.saved[path] = Entry(self._file(path).data)
        return {"id": DEFAULT_CHECKPOINT_ID, "last_modified": iso_timestamp(self.saved[path].modified)}

    async def list_checkpoints(self, path: str) -> list[CheckpointModel]:
        self._file(path)
        if path not in self.saved:
            return []
        return [{"id": DEFAULT_CHECKPOINT_ID, "last_modified": iso_timestamp(self.saved[path].modified)}]

    async def restore_checkpoint(self, checkpoint_id: str, path: str) -> None:
        checkpoint = self._checkpoint(checkpoint_id, path)
        self.store.entries[path] = Entry(checkpoint.data, created=self._file(path).created)

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        self._checkpoint(checkpoint_id, path)
        del self.saved[path]

    async def read_checkpoint(self, checkpoint_id: str, path: str) -> bytes:
        return bytes(self._checkpoint(checkpoint_id, path).data or b"")

    async def rename_all_checkpoints(self, old_path: str, new_path: str) -> None:
        for key in [k for k in self.saved if k == old_path or k.startswith(old_path + "/")]:
            self.saved[new_path + key[len(old_path):]] = self.saved.pop(key)

    async def delete_all_checkpoints(self, path: str) -> None:
        for key in [k for k in self.saved if k == path or k.startswith(path + "/")]:
            del self.saved[key]
