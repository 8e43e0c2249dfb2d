"""A FileWriter in a process of its own that stops at a chosen moment, for tests to SIGKILL it there.

Run as ``python -m tests.support.crashing_writer TARGET JOURNAL_DIR STAGE METHOD``. It prints the
stage's name when it reaches it and then sleeps, or ``done`` when the write finished. Stages:

- ``backup-copied``: the in-place backup is fsynced, its journal record not yet written;
- ``recorded``: the record is written, the target not yet touched;
- ``mid-overwrite``: half of the new content is over the old (also mid-write of a replacing save);
- ``overwritten``: the new content is fsynced, the backup not yet removed;
- ``retired``: a replacing save renamed the new file over the old, which is still linked under a
  hidden name (``FileWriter._retire``) not yet queued for its unlink;
- ``none``: no stop.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parent.parent.parent
#: The first chunk of the new content; the second is NEW_TAIL.
NEW_HEAD = b"NEW" * 50_000
NEW_TAIL = b"END"
STAGES = ("backup-copied", "recorded", "mid-overwrite", "overwritten")  # of an in-place save


def pause(stage: str) -> None:
    print(stage, flush=True)
    time.sleep(60)


def stop_around(owner: Any, attribute: str, stage: str, before: bool) -> None:
    original = getattr(owner, attribute)

    def stopping(*args: Any, **kwargs: Any) -> Any:
        if before:
            pause(stage)
        result = original(*args, **kwargs)
        if not before:
            pause(stage)
        return result

    setattr(owner, attribute, stopping)


def main(target: str, journal_dir: str, stage: str, method: str) -> None:
    from nbserver.services.contents import fileio
    from nbserver.services.contents.fileio import FileWriter
    from nbserver.services.contents.writejournal import WriteJournal

    writer = FileWriter(WriteJournal(journal_dir), method)
    if stage == "backup-copied":
        stop_around(writer.journal, "record_restore", stage, before=True)
    elif stage == "recorded":
        stop_around(writer.journal, "record_restore", stage, before=False)
    elif stage == "overwritten":
        stop_around(writer, "_drop_backup", stage, before=True)
    elif stage == "retired":
        stop_around(fileio, "unlink_later", stage, before=True)

    def chunks() -> Iterator[bytes]:
        yield NEW_HEAD
        if stage == "mid-overwrite":
            pause(stage)
        yield NEW_TAIL

    writer.write(target, chunks())
    print("done", flush=True)


def kill_at(target: Path, journal_dir: Path, stage: str, method: str = "auto") -> None:
    """Run the writer until it reports ``stage``, then SIGKILL it."""
    writer = subprocess.Popen([sys.executable, "-m", "tests.support.crashing_writer", str(target),
                               str(journal_dir), stage, method], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert writer.stdout is not None
        line = writer.stdout.readline().decode().strip()
        assert line == stage, line
        writer.kill()
    finally:
        writer.wait(timeout=10)
        if writer.stdout is not None:
            writer.stdout.close()


if __name__ == "__main__":
    main(*sys.argv[1:5])
