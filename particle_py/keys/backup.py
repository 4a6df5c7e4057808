"""Never lose a key: copies of a slot's bytes before anything overwrites it, and 0600 files.

Each backup goes to two places: a timestamped file under the user data dir
(``<data>/key-backups/<device id>/``), which nothing ever overwrites, and the
particle-cli-compatible ``backup_<alg>_<name>.der`` in the current folder. The
bytes are the slot exactly as read, so a corrupt key is kept as it was.
"""
from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from particle_py.errors import ParticlePyError
from particle_py.private_files import write_public_file, write_secret_file

APP_NAME = "particle-py"


def data_dir() -> Path:
    import platformdirs
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def backup_root() -> Path:
    return data_dir() / "key-backups"


def timestamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


@dataclass
class Backup:
    """Where a slot's previous contents were saved."""
    archive: Path                          # timestamped copy in the user data dir
    local: Optional[Path] = None           # backup_<alg>_<name>.der in the current folder
    public_pem: Optional[Path] = None      # its .pub.pem when the slot held a valid key
    moved_aside: list = field(default_factory=list)   # older local backups renamed, not overwritten
    slot_bytes: bytes = b""                # what was saved

    @property
    def paths(self) -> list[Path]:
        return [p for p in (self.local, self.archive) if p is not None]


def save_slot(device_id: str, what: str, alg: str, data: bytes, *, local_name: Optional[str] = None,
              public_pem: Optional[bytes] = None, folder=".") -> Backup:
    """Save a slot's bytes before a write. ``what`` is 'device-key' or 'server-key'.

    The archive copy is written first and must succeed; the local copy follows
    particle-cli's naming. An older local backup with different bytes is renamed
    with its modification time rather than overwritten.
    """
    stamp = timestamp()
    if not device_id.isalnum():         # an id from a USB descriptor is a folder name here: never a path
        device_id = "unknown-device"
    archive = write_secret_file(backup_root() / device_id / f"{stamp}_{what}_{alg}.der", data, overwrite=False)
    result = Backup(archive, slot_bytes=bytes(data))
    if public_pem is not None:
        write_public_file(archive.with_name(archive.name[:-4] + ".pub.pem"), public_pem)
    if local_name:
        local = Path(folder) / local_name
        if existing_bytes(local) not in (None, data):
            result.moved_aside.append(move_aside(local))
        result.local = write_secret_file(local, data)
        if public_pem is not None:
            result.public_pem = write_public_file(local.with_name(local.name[:-4] + ".pub.pem")
                                                  if local.name.endswith(".der") else
                                                  local.with_name(local.name + ".pub.pem"), public_pem)
    return result


def existing_bytes(path) -> Optional[bytes]:
    """What a file we are about to replace holds (None: no file); a folder there is our error."""
    path = Path(path)
    if path.is_dir():
        raise ParticlePyError(f"Could not write {path}: it is a folder",
                              "Move or rename that folder (or give another file name), then run the command again.")
    try:
        return path.read_bytes() if path.exists() else None
    except OSError as exc:
        raise ParticlePyError(f"Could not read {path}: {exc.strerror or exc}",
                              "Check the file's permissions, then run the command again.") from None


def move_aside(path) -> Path:
    """Rename an existing file to <stem>.<its mtime><suffix> so nothing overwrites it."""
    path = Path(path)
    when = _dt.datetime.fromtimestamp(path.stat().st_mtime, _dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    stem, suffix = _split_name(path.name)
    aside = path.with_name(f"{stem}.{when}{suffix}")
    n = 1
    while aside.exists():
        aside = path.with_name(f"{stem}.{when}-{n}{suffix}")
        n += 1
    os.replace(path, aside)
    return aside


def _split_name(name: str) -> tuple[str, str]:
    for suffix in (".pub.pem", ".der", ".pem"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)], suffix
    stem, dot, ext = name.rpartition(".")
    return (stem, dot + ext) if stem else (name, "")


def list_backups(device_id: str) -> list[Path]:
    folder = backup_root() / device_id
    return sorted(folder.glob("*.der")) if folder.is_dir() else []
