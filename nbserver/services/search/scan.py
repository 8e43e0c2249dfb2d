"""Finding files changed outside the server for the search index, in budgeted passes (design 3.12, 4.4).

Outside changes reach the index two ways, neither a stat of every file on every scan:

* **Changed folders.** Adding, removing, renaming or replacing a file (an editor's atomic save)
  changes its folder's mtime. The scan crawls with the reconciler's :class:`TreeCrawler`, which
  lists only folders whose ``(device, inode, mtime_ns)`` changed since they were last listed, and
  compares the files of each listed folder with the fingerprints the index holds.
* **Files edited in place** keep their folder's mtime. A *recheck* stats the indexed documents in
  path order, at most ``budget`` per scan, resuming where the previous scan stopped: every indexed
  file is rechecked once every ``documents / budget`` scans (design 4.4: "spread over several
  intervals").

Both run in passes of at most ``budget`` stat calls, so the caller can give the GIL and the
disk back to queries and saves between passes. Everything here blocks; one scan at a time.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Callable, Iterator

from nbserver.services.files.reconciler import CrawlPass, TreeCrawler
from nbserver.services.search.index import SearchIndex


def indexable(path: str) -> bool:
    """Whether search looks at ``path``: not hidden, not in ``.ipynb_checkpoints`` (design 3.12), even
    when the contents API shows hidden files."""
    return not any(part.startswith(".") for part in path.split("/"))


def fingerprint(info: os.stat_result) -> str:
    """What tells an indexed file's version apart: ``size:mtime_ns:inode``."""
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ino}"


@dataclass
class ScanCounts:
    """The work of one scan: stat calls, folders listed and skipped, documents rechecked, paths queued."""

    stat_calls: int = 0
    folders_listed: int = 0
    folders_skipped: int = 0
    rechecked: int = 0
    changed: int = 0

    def add(self, other: ScanCounts) -> None:
        """Add the counts of another pass (the index worker's)."""
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)

    def add_crawl(self, crawl: CrawlPass) -> None:
        self.stat_calls += crawl.stat_calls
        self.folders_listed += crawl.dirs_listed
        self.folders_skipped += crawl.dirs_skipped


#: A regular file the scan found changed: its API path, and the fingerprint of the ``lstat`` of
#: ``real_root/path`` (no symlink on the way: the crawl lists real folders and regular files only).
Listed = tuple[str, str]


class ChangeScan:
    """The crawl and the recheck of one root; ``visible(name)`` is the contents API's filter of names."""

    def __init__(self, real_root: str, visible: Callable[[str], bool]) -> None:
        self.real_root = real_root
        self.crawler = TreeCrawler(real_root, visible, self._listed)
        self._listed_files: dict[str, str] = {}
        self._recheck_after = ""

    def _listed(self, folder: str, files: dict[str, os.stat_result]) -> None:
        prefix = folder + "/" if folder else ""
        for name, info in files.items():
            path = prefix + name
            if indexable(path):
                self._listed_files[path] = fingerprint(info)

    def restart(self) -> None:
        """The next crawl pass starts a fresh cycle, and the next recheck starts at the first document."""
        self.crawler.restart()
        self._recheck_after = ""

    def crawl_pass(self, index: SearchIndex, budget: int, counts: ScanCounts) -> tuple[bool, list[Listed]]:
        """One crawl pass of at most ``budget`` stat calls (0: to the end of the cycle): (whether the
        cycle ended, the regular files in the folders it listed whose fingerprint the index does not
        have, with the fingerprint their ``lstat`` gave)."""
        self._listed_files = {}
        crawl, _ = self.crawler.run_pass(budget)
        counts.add_crawl(crawl)
        listed, self._listed_files = self._listed_files, {}
        known = index.fingerprints_at(list(listed))
        return crawl.complete, [(path, mark) for path, mark in listed.items() if known.get(path) != mark]

    def recheck_pass(self, index: SearchIndex, budget: int, counts: ScanCounts) -> tuple[bool, list[Listed]]:
        """Stat the next ``budget`` indexed documents (by path, after the last one rechecked): (whether
        the recheck reached the last document, the regular files that changed, with their new
        fingerprints). Vanished files are left to the crawl (their folder changed) and to the
        query-time presence check."""
        documents = index.documents_after(self._recheck_after, budget)
        changed = []
        for path, mark in documents:
            counts.stat_calls += 1
            counts.rechecked += 1
            try:
                info = os.lstat(os.path.join(self.real_root, *path.split("/")))
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and fingerprint(info) != mark:
                changed.append((path, fingerprint(info)))
        done = len(documents) < budget
        self._recheck_after = "" if done else documents[-1][0]
        return done, changed

    def files_below(self, folder: str) -> Iterator[tuple[str, os.stat_result]]:
        """(API path, lstat) of the indexable regular files below ``folder``, visible names only."""
        visible = self.crawler.visible
        top = os.path.join(self.real_root, *folder.split("/")) if folder else self.real_root
        for os_folder, dirs, files in os.walk(top):
            dirs[:] = [name for name in dirs if visible(name)]
            relative = os.path.relpath(os_folder, self.real_root).replace(os.sep, "/")
            prefix = "" if relative == "." else relative + "/"
            for name in files:
                path = prefix + name
                if not visible(name) or not indexable(path):
                    continue
                try:
                    info = os.lstat(os.path.join(os_folder, name))
                except OSError:
                    continue
                if stat.S_ISREG(info.st_mode):
                    yield path, info
