"""Copies and provenance (``sources``) and stars: how files relate to each other and to users (design 3.8).

A copy made through ``POST /api/files/{id}/copy`` records a ``copy`` edge from the original to
the new file; an import (``POST /api/files/import``) records an ``import`` edge from its URL.
``sources`` answers the edges around one file as a JSON Graph Format document
(https://jsongraphformat.info, version 2: ``nodes`` keyed by id), at most
:data:`EDGES_PER_PAGE` edges per relation and direction, each followed, when there are more,
by a ``next`` node whose cursor fetches the next ones.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
from typing import TYPE_CHECKING, Any

from nbserver.errors import Conflict, InvalidInput
from nbserver.services.files.links_store import EDGE_RELATIONS, Edge
from nbserver.services.files.store import FileRecord, MetadataStore

if TYPE_CHECKING:
    from nbserver.services.files.manager import FileServices

#: The seed's paging rule: five edges per relation and direction, then a ``next`` node.
EDGES_PER_PAGE = 5
DIRECTIONS = ("in", "out")


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    """What :func:`encode_cursor` made; InvalidInput (``invalid_field``) for anything else."""
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise InvalidInput("'cursor' is not a cursor this server gave.", code="invalid_field") from None


class FileRelations:
    """Copy, provenance edges and stars over one :class:`FileServices`."""

    def __init__(self, services: FileServices) -> None:
        self.services = services

    # -- copies ----------------------------------------------------------------------------

    async def copy(self, record: FileRecord, to_path: str | None, by: str, make_public: bool = False) -> FileRecord:
        """Copy a live file or folder: to ``to_path`` (which must be free), or, without one, next to
        the original as Jupyter names copies (``a-Copy1.ipynb``); the copy's record, with a
        ``copy`` edge from the original.

        Conflict ``trashed`` for a trashed item; ``name_conflict`` (with ``conflict_path``) when
        ``to_path`` is taken; the contents manager's errors otherwise (a folder over
        ``max_copy_folder_size_mb``: 400).
        """
        if record.state != "live":
            raise Conflict("A trashed item cannot be copied; restore it first.", code="trashed")
        if make_public:
            self.services.shares.check_allowed(record)
        manager = self.services.contents_manager
        if to_path is None:
            model = await manager.copy(record.path)
        else:
            try:
                model = await manager.copy_to(record.path, to_path)
            except Conflict:
                raise Conflict(f"Something is already at {to_path}.", code="name_conflict",
                               conflict_path=to_path) from None
        copied = await self.services.record_for_path(model["path"])
        await self.services.add_edge(record.id, copied.id, "copy")
        if make_public:
            await self.services.shares.set_world_readable(copied, True, by)
            copied = await self.services.resolve(copied.id)
        return copied

    # -- provenance ------------------------------------------------------------------------

    async def sources(self, record: FileRecord, cursor: str | None) -> dict[str, Any]:
        """The JSON Graph Format document of the edges around ``record`` (see the module docstring).

        Without ``cursor``: the first page of every relation and direction; with one: the next
        page of the relation and direction it came from. Edges whose other file is gone are left out.
        """
        if cursor is None:
            wanted = [(relation, direction, 0) for relation in EDGE_RELATIONS for direction in DIRECTIONS]
        else:
            value = decode_cursor(cursor)
            if not (isinstance(value, list) and len(value) == 3 and value[0] in EDGE_RELATIONS
                    and value[1] in DIRECTIONS and isinstance(value[2], int)):
                raise InvalidInput("'cursor' is not a cursor this server gave.", code="invalid_field")
            wanted = [(value[0], value[1], value[2])]

        def read(store: MetadataStore) -> tuple[list[tuple[str, str, list[Edge], bool]], dict[str, FileRecord]]:
            pages = []
            others: dict[str, FileRecord] = {}
            for relation, direction, after in wanted:
                edges = store.edges(record.id, relation, direction == "in", EDGES_PER_PAGE + 1, after)
                pages.append((relation, direction, edges[:EDGES_PER_PAGE], len(edges) > EDGES_PER_PAGE))
                for edge in edges[:EDGES_PER_PAGE]:
                    other = edge.source if direction == "in" else edge.target
                    found = store.get(other) if not other.startswith("url:") else None
                    if found is not None and found.state != "missing":
                        others[other] = found
            return pages, others

        pages, others = await self.services._call(read)
        nodes: dict[str, Any] = {record.id: self.node(record)}
        edges_out: list[dict[str, Any]] = []
        for relation, direction, edges, more in pages:
            for edge in edges:
                other = edge.source if direction == "in" else edge.target
                if other.startswith("url:"):
                    nodes[other] = {"label": other[4:], "metadata": {"type": "url", "url": other[4:]}}
                elif other in others:
                    nodes[other] = self.node(others[other])
                else:
                    continue
                edges_out.append({"source": edge.source, "target": edge.target, "relation": edge.relation,
                                  "metadata": {"created": edge.created}})
            if more:
                nodes[f"next:{relation}:{direction}"] = {
                    "label": "next", "relation": "next",
                    "metadata": {"relation": relation, "direction": direction,
                                 "cursor": encode_cursor([relation, direction, edges[-1].num])}}
        return {"graph": {"directed": True, "nodes": nodes, "edges": edges_out}}

    @staticmethod
    def node(record: FileRecord) -> dict[str, Any]:
        return {"label": posixpath.basename(record.path),
                "metadata": {"path": record.path, "type": record.kind, "trashed": record.state == "trashed"}}

    # -- stars -----------------------------------------------------------------------------

    async def set_star(self, record: FileRecord, user: str, starred: bool) -> None:
        """Star or unstar ``record`` for ``user``: both idempotent."""
        await self.services._call(lambda store: store.set_star(user, record.id, starred))

    async def starred_page(self, user: str, page_size: int,
                           cursor: str | None) -> tuple[list[FileRecord], int, str | None]:
        """(``user``'s starred files newest star first, how many there are, the next page's cursor).

        Trashed ones are listed (their File says ``trashed``); purged and missing ones are not.
        """
        if not self.services._has_ids():
            return [], 0, None  # nothing was ever starred here: no state folder is made to say so
        after = None
        if cursor is not None:
            value = decode_cursor(cursor)
            if not (isinstance(value, list) and len(value) == 2 and all(isinstance(part, str) for part in value)):
                raise InvalidInput("'cursor' is not a cursor this server gave.", code="invalid_field")
            after = (value[0], value[1])

        def read(store: MetadataStore) -> tuple[list[tuple[str, str, FileRecord | None]], int, bool]:
            page, total = store.starred_page(user, page_size + 1, after)
            return ([(created, file_id, store.get(file_id)) for created, file_id in page[:page_size]], total,
                    len(page) > page_size)

        page, total, more = await self.services._call(read)
        records = [found for _, _, found in page if found is not None and found.state != "missing"]
        next_cursor = encode_cursor([page[-1][0], page[-1][1]]) if more and page else None
        return records, total, next_cursor
