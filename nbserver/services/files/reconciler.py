"""The reconciler's crawl of the root, in budgeted passes that skip unchanged folders (design section 4.4).

A *cycle* visits every folder a client can see, breadth first, and ends with the map
``path -> (kind, device, inode)`` of everything under the root, which the metadata store
reconciles in one transaction. A cycle runs as one or more *passes* of at most ``budget`` stat
calls each; the next pass resumes with the folders still queued, so no pass holds a thread (and
the GIL) for long however large the tree.

A folder whose fingerprint ``(device, inode, mtime_ns)`` is the one recorded when it was last
listed is not listed again: its entries are taken from that listing (one ``stat`` of the folder
instead of a ``stat`` per entry). A folder's mtime changes whenever an entry is added, removed or
renamed in it, which are the only changes ids follow (a file edited in place keeps its path,
inode and id). Like git's "racily clean" index entries, a listing taken while the folder's
mtime was less than ``RACY_NS`` old is not trusted next time: a second change within the clock's
tick (Linux stamps with a coarse clock) would leave the mtime unchanged.

A crawler may be given ``on_listed``: it is called with each folder it lists and the ``lstat`` of
the regular files in it, so that another follower of the disk (the search index) learns of new
and replaced files in changed folders from the same crawl, at no extra stat calls.

Moves made while a cycle is under way may be seen at both paths or at neither; the next cycle
settles them (a row marked missing revives by its inode). Everything here blocks; the file
services run it off the event loop, one pass at a time.
"""

from __future__ import annotations

import collections
import os
import stat
import time
from dataclasses import dataclass
from typing import Callable

from nbserver.services.contents.manager import default_type_for

#: A listing made while the folder's mtime was this recent (ns) is listed again next time.
RACY_NS = 2_000_000_000

#: What the crawl records of an entry: (``notebook``/``file``/``directory``, device, inode).
Entry = tuple[str, int, int]


@dataclass(frozen=True)
class Listing:
    """A folder's entries as last listed, and the folder's fingerprint then (None: list it again)."""

    fingerprint: tuple[int, int, int] | None
    entries: dict[str, Entry]


@dataclass(frozen=True)
class CrawlPass:
    """What one pass did: ``stat_calls`` counts every ``stat``/``lstat`` (folders and entries)."""

    complete: bool
    dirs_listed: int
    dirs_skipped: int
    stat_calls: int


class TreeCrawler:
    """Crawls ``real_root`` in passes; ``visible(name)`` says which entries a client can see, and
    ``on_listed(folder, {name: lstat})`` (optional) hears of each folder listed, with its regular files."""

    def __init__(self, real_root: str, visible: Callable[[str], bool],
                 on_listed: Callable[[str, dict[str, os.stat_result]], None] | None = None) -> None:
        self.real_root = real_root
        self.visible = visible
        self.on_listed = on_listed
        self.listings: dict[str, Listing] = {}
        self._queue: collections.deque[str] = collections.deque()
        self._seen: dict[str, Entry] = {}
        self._visited: set[str] = set()

    @property
    def in_cycle(self) -> bool:
        """Whether a cycle is under way (folders are queued for the next pass)."""
        return bool(self._queue)

    def restart(self) -> None:
        """Drop a cycle under way: the next pass starts a fresh one (its listings are kept)."""
        self._queue.clear()

    def run_pass(self, budget: int) -> tuple[CrawlPass, dict[str, Entry] | None]:
        """Visit queued folders until ``budget`` stat calls are spent (0: no limit; a folder is
        never split, so a pass may go over by one folder's entries). Returns the pass's counts
        and, when the cycle ended in it, the whole ``path -> entry`` map."""
        if not self._queue:
            self._queue.append("")
            self._seen = {}
            self._visited = set()
        listed = skipped = calls = 0
        while self._queue and not (budget and calls >= budget):
            folder = self._queue.popleft()
            calls += 1
            info = self._stat_folder(folder)
            if info is None:
                continue
            if folder == "":
                self._seen[""] = ("directory", info.st_dev, info.st_ino)
            fingerprint = (info.st_dev, info.st_ino, info.st_mtime_ns)
            known = self.listings.get(folder)
            if known is not None and known.fingerprint == fingerprint:
                entries = known.entries
                skipped += 1
            else:
                entries, statted = self._list(folder, info)
                calls += statted
                listed += 1
            self._visited.add(folder)
            prefix = folder + "/" if folder else ""
            for name, entry in entries.items():
                self._seen[prefix + name] = entry
                if entry[0] == "directory":
                    self._queue.append(prefix + name)
        counts = CrawlPass(not self._queue, listed, skipped, calls)
        if self._queue:
            return counts, None
        for gone in [path for path in self.listings if path not in self._visited]:
            del self.listings[gone]
        return counts, self._seen

    def _stat_folder(self, folder: str) -> os.stat_result | None:
        try:
            info = os.lstat(os.path.join(self.real_root, folder) if folder else self.real_root)
        except OSError:
            return None  # gone since its parent was listed: its parent's next listing will say so
        return info if stat.S_ISDIR(info.st_mode) else None

    def _list(self, folder: str, info: os.stat_result) -> tuple[dict[str, Entry], int]:
        """(name -> entry of the visible folders and regular files in ``folder``, lstat calls made)."""
        started = time.time_ns()
        os_folder = os.path.join(self.real_root, folder) if folder else self.real_root
        entries: dict[str, Entry] = {}
        files: dict[str, os.stat_result] = {}
        calls = 0
        try:
            with os.scandir(os_folder) as scan:
                for item in scan:
                    if not self.visible(item.name):
                        continue
                    calls += 1
                    try:
                        found = item.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if stat.S_ISDIR(found.st_mode):
                        entries[item.name] = ("directory", found.st_dev, found.st_ino)
                    elif stat.S_ISREG(found.st_mode):
                        path = f"{folder}/{item.name}" if folder else item.name
                        entries[item.name] = (default_type_for(path), found.st_dev, found.st_ino)
                        files[item.name] = found
        except OSError:
            self.listings.pop(folder, None)
            return {}, calls
        trusted = started - info.st_mtime_ns >= RACY_NS
        fingerprint = (info.st_dev, info.st_ino, info.st_mtime_ns) if trusted else None
        self.listings[folder] = Listing(fingerprint, entries)
        if self.on_listed is not None:
            self.on_listed(folder, files)
        return entries, calls
