"""Writing a simulator folder's files owner-only (0600): flash images hold device private keys,
state.json and the cloud's database hold tokens and passwords. Atomic (a temporary file, then a
rename), without the fsync of particle_py.private_files: a simulator's state need not survive a
power cut, and its flash is saved after every command. Stdlib only."""
from __future__ import annotations

import os
import threading

PRIVATE = 0o600


def write_private(path: str, data: bytes) -> None:
    # one temporary name per thread: two threads of a batch may save one board's flash at once
    tmp = f"{path}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    if hasattr(os, "fchmod"):
        os.fchmod(fd, PRIVATE)          # a leftover .tmp keeps its old mode through O_CREAT
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def make_private_file(path: str) -> None:
    """Create ``path`` empty and 0600 when missing, and make it 0600 when it is not (the cloud's
    database: SQLite gives its journal files the database's mode)."""
    # never open an existing database: closing any descriptor of it drops this process's SQLite
    # locks on it (POSIX advisory locks belong to the process, not the descriptor)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
    except FileExistsError:
        pass
    os.chmod(path, PRIVATE)
