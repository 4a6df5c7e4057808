"""The one reader of files and archives a user names (``--from`` folders and zips).

It reads only regular files (a FIFO, a device or a dangling symlink is refused, never opened
for long), reads at most ``limit`` bytes of any file, and turns every archive error
(encrypted member, unknown compression, corrupt deflate stream, two members of one base name
with different bytes) into a ParticlePyError that names the path.
"""
from __future__ import annotations

import os
import stat
import zipfile
from typing import Optional

from particle_py.errors import EX_DATAERR, ParticlePyError

MAX_ENTRIES = 20000                 # more than any release folder; a bound for hostile archives
EX_NOT_FOUND = 1
# What zipfile and its decompressors raise on a hostile archive (lzma's and bz2's errors are
# OSError / ValueError / EOFError subclasses; an encrypted member is a RuntimeError).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, RuntimeError,
               NotImplementedError, KeyError, IndexError, OverflowError)


def _zlib_error():
    """The decompressors' own errors (imported when an archive is read)."""
    import lzma
    import zlib
    return (zlib.error, lzma.LZMAError)


class UserFiles:
    """A folder or a zip the user named: its files by base name (at any depth)."""

    def __init__(self, path: str, *, limit: int):
        self.path = str(path)
        self.limit = limit
        self.names: dict[str, list[str]] = {}     # base name -> where (file path or member name)
        self.is_zip = False
        try:
            st = os.stat(self.path)
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            self._walk()
        elif st is not None and stat.S_ISREG(st.st_mode) and self._looks_like_zip():
            self.is_zip = True
            self._list_zip()
        else:
            raise ParticlePyError(f"--from {self.path}: not a folder or a zip file",
                                  "Nothing was written to the device. Give the folder (or .zip) that holds the "
                                  "Device OS .bin files.", EX_NOT_FOUND)

    # --- listing ---------------------------------------------------------------------------------

    def _walk(self) -> None:
        count = 0
        for root, _dirs, files in os.walk(self.path):
            for name in sorted(files):
                count += 1
                if count > MAX_ENTRIES:
                    raise self._unreadable(f"more than {MAX_ENTRIES} files")
                self.names.setdefault(name, []).append(os.path.join(root, name))

    def _looks_like_zip(self) -> bool:
        try:
            with open(self.path, "rb") as fh:
                return zipfile.is_zipfile(fh)
        except OSError:
            return False

    def _list_zip(self) -> None:
        try:
            with zipfile.ZipFile(self.path) as zf:
                infos = zf.infolist()
        except _ZIP_ERRORS + _zlib_error() as exc:
            raise self._unreadable(exc) from None
        if len(infos) > MAX_ENTRIES:
            raise self._unreadable(f"more than {MAX_ENTRIES} members")
        for info in infos:
            if not info.filename.endswith("/"):          # (ZipInfo.is_dir fails on an empty name)
                base = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
                if base:
                    self.names.setdefault(base, []).append(info.filename)

    # --- reading ---------------------------------------------------------------------------------

    def _unreadable(self, why) -> ParticlePyError:
        return ParticlePyError(f"--from {self.path}: cannot be read ({why})",
                               "Nothing was written to the device. Download or copy the files again.", EX_DATAERR)

    def origin(self, name: str) -> str:
        where = self.names.get(name) or [name]
        return where[0] if not self.is_zip else os.path.join(self.path, where[0])

    def size(self, name: str) -> Optional[int]:
        """The size the listing gives (no read), None when unknown."""
        where = self.names.get(name)
        if not where:
            return None
        if self.is_zip:
            try:
                with zipfile.ZipFile(self.path) as zf:
                    return zf.getinfo(where[0]).file_size
            except _ZIP_ERRORS + _zlib_error():
                return None
        try:
            return os.stat(where[0]).st_size
        except OSError:
            return None

    def read(self, name: str) -> Optional[bytes]:
        """The bytes of the file of this base name (at most ``limit`` + 1 of them), None when
        there is none; ParticlePyError when it is not a regular file, cannot be read, or two
        files of this name differ."""
        where = self.names.get(name)
        if not where:
            return None
        datas = [self._read_one(w, name) for w in where]
        if any(d != datas[0] for d in datas[1:]):
            raise ParticlePyError(
                f"--from {self.path}: {len(datas)} different files are named {name}",
                "Nothing was written to the device. Keep one file of each name in the folder or zip, then run the command again.",
                EX_DATAERR)
        return datas[0]

    def _read_one(self, where: str, name: str) -> bytes:
        if self.is_zip:
            return self._read_member(where)
        return read_regular(where, self.limit)

    def _read_member(self, member: str) -> bytes:
        try:
            with zipfile.ZipFile(self.path) as zf:
                info = zf.getinfo(member)
                if info.flag_bits & 0x1:
                    raise self._unreadable(f"{member} is encrypted")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                                              zipfile.ZIP_LZMA):
                    raise self._unreadable(f"{member} uses compression method {info.compress_type}, "
                                           "which cannot be read")
                with zf.open(info) as fh:
                    return fh.read(self.limit + 1)
        except ParticlePyError:
            raise
        except _ZIP_ERRORS + _zlib_error() as exc:
            raise self._unreadable(f"{member}: {exc}") from None


def read_regular(path: str, limit: int, *, shown: Optional[str] = None) -> bytes:
    """At most ``limit`` + 1 bytes of a regular file; ParticlePyError for anything else (a FIFO
    or device would block or never end; a dangling symlink has nothing to read)."""
    shown = shown or path
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ParticlePyError(f"{shown}: not a file (a link to nothing)" if os.path.islink(path)
                              else f"{shown}: no such file",
                              "Nothing was written to the device. Give the Device OS .bin files themselves.",
                              EX_DATAERR) from None
    except OSError as exc:
        raise ParticlePyError(f"{shown}: cannot be read ({exc.strerror or exc})",
                              "Nothing was written to the device. Check the file's permissions.", EX_DATAERR) from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(shown)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ParticlePyError(f"{shown}: cannot be read ({exc.strerror or exc})",
                              "Nothing was written to the device. Check the file's permissions.", EX_DATAERR) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):        # swapped for something else since the stat
            raise _not_regular(shown)
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ParticlePyError(f"{shown}: cannot be read ({exc.strerror or exc})",
                              "Nothing was written to the device. Copy the file again.", EX_DATAERR) from None
    finally:
        os.close(fd)


def _not_regular(shown: str) -> ParticlePyError:
    return ParticlePyError(f"{shown}: not a regular file (a FIFO, a device or a socket)",
                           "Nothing was written to the device. Give the Device OS .bin files themselves.", EX_DATAERR)
