"""Files only their owner may read (keys, tokens): written 0600 and atomically, in folders made 0700.

Ground floor: stdlib only; the key backups and particle-cli's config file both write through here.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from particle_py.errors import ParticlePyError


def write_secret_file(path, data: bytes, *, overwrite: bool = True) -> Path:
    """Write a file readable by its owner only (0600), atomically: it is whole or absent."""
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(str(path))
    if path.is_dir():
        raise ParticlePyError(f"Could not write {path}: it is a folder",
                              "Give a file name that is not an existing folder, then run the command again.")
    directory = path.parent if str(path.parent) else Path(".")
    try:
        make_private_dirs(directory)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)   # mkstemp creates it 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            if not overwrite and path.exists():
                raise FileExistsError(str(path))
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except FileExistsError as exc:
        if exc.filename is None:            # ours (overwrite=False), for the caller to decide
            raise
        raise ParticlePyError(f"Could not write {path}: {exc.filename} is a file, not a folder",
                              "Give a path whose folders are folders, then run the command again.") from None
    except NotADirectoryError:
        raise ParticlePyError(f"Could not write {path}: a part of that path is a file, not a folder",
                              "Give a path whose folders are folders, then run the command again.") from None
    except OSError as exc:
        raise ParticlePyError(f"Could not write {path}: {exc.strerror or exc}",
                              "Check that the folder exists and is writable, then run the command again.")
    return path


def make_private_dirs(directory) -> None:
    """Create ``directory`` and any missing parents 0700 whatever the umask: folders that hold keys
    and tokens must not let another local user swap their files. Existing folders are left as they are."""
    directory = Path(directory)
    missing = []
    while not directory.exists():
        missing.append(directory)
        if directory.parent == directory:
            break
        directory = directory.parent
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(17, "File exists", str(directory))
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            if not folder.is_dir():
                raise
            continue
        os.chmod(folder, 0o700)         # mkdir's mode is masked by the umask; 0700 needs no umask help


def write_public_file(path, data: bytes) -> Path:
    """Public material (.pub.pem): ordinary permissions, still written atomically."""
    path = write_secret_file(path, data)
    os.chmod(path, 0o644 & ~_umask())
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
