"""Files and folders only their owner may read: every file tf-eval writes (the store and its
private copies, the audit log, saved specs, the writers' lock, board packs, demo extracts, the
accounts file and the pseudonym key) is 0600 and every folder it creates 0700, whatever the
umask of whoever runs it.

Two layers. The command line and the dashboard set the process's umask to 077 when they start
(`owner_only_umask`), which also covers the files DuckDB makes itself (a `.wal`, its spill
folder). And each module that creates a file tightens it itself (`tighten`, `create`,
`make_dirs`), so the library used from a notebook with a loose umask writes private files too.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
UMASK = 0o077


def owner_only_umask() -> None:
    """Make every file and folder this process creates owner-only from its first byte."""
    os.umask(UMASK)


_umask_guard = threading.Lock()
_umask_users = 0
_umask_before = 0


@contextmanager
def owner_only_files() -> Iterator[None]:
    """While the block runs (in any thread), files created by this process - DuckDB's among
    them, such as a store's .wal, which it makes and deletes itself - are owner-only from their
    first byte; when the last such block ends the umask is put back. Also a decorator."""
    global _umask_users, _umask_before
    with _umask_guard:
        if _umask_users == 0:
            _umask_before = os.umask(UMASK)
        _umask_users += 1
    try:
        yield
    finally:
        with _umask_guard:
            _umask_users -= 1
            if _umask_users == 0:
                os.umask(_umask_before)


def make_dirs(folder: Path) -> None:
    """Create `folder` and any missing parents, each 0700 (Path.mkdir(parents=True) would make
    the parents with the umask's mode). Existing folders are left as they are."""
    missing = []
    current = Path(folder)
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by another process
        os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask


def tighten(path: Path) -> None:
    """Make an existing file of ours owner-only (0600) if it is not. A file owned by another
    account is left alone (chmod would be refused); a missing one is no error."""
    try:
        if stat.S_IMODE(os.stat(path).st_mode) & 0o077:
            os.chmod(path, FILE_MODE)
    except FileNotFoundError:
        pass
    except PermissionError:
        pass
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EROFS):
            raise


def create(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC) -> int:
    """Open `path` for writing as an owner-only file (created 0600, or tightened); returns the
    descriptor."""
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except PermissionError:
        pass  # someone else's file: opening it was allowed, changing its mode is not ours
    return fd


def write_bytes(path: Path, data: bytes) -> None:
    """Write a whole owner-only file."""
    with os.fdopen(create(path), "wb") as handle:
        handle.write(data)
