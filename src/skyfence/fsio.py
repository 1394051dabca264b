"""Safe output files: check the path first, write a temporary file beside it, fsync, replace.

Every file skyfence writes for a user goes through this module, so that

- an output never replaces a device node, a FIFO or a socket, nor writes through a symbolic
  link to one (``--out /dev/full`` run as root used to replace the device with a CSV);
- an output path that names a directory, or lies under a regular file, is refused;
- a reader never sees a half-written file: data go to a temporary file in the same directory
  (same file system, so the final `os.replace` is atomic), are flushed and fsynced, and only
  then replace the target, which must be a regular file or a new path;
- a failure (read-only directory, full disk, permission denied) is one line: an `InputError`
  naming the path, with the temporary file removed and the previous file left as it was.

A symbolic link to a regular file is followed: the file it points to is replaced (the link is
kept). Permission bits of a replaced file are kept; a new file gets ``0o666 & ~umask``.

Functions
---------
`check_output_path`
    Validate an output path without writing; returns the resolved target.
`atomic_write_bytes`, `atomic_write_text`
    Write a whole file at once.
`atomic_output`
    Context manager yielding a temporary path for libraries that write to a path
    (``DataFrame.to_parquet``, ``Dataset.to_netcdf``, ``Figure.savefig``).
`atomic_open`
    Context manager yielding an open file object (text or binary).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import InputError

__all__ = [
    "atomic_open",
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_path",
]

_KIND = (
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; ``None`` for a regular file."""
    for test, name in _KIND:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _os_reason(exc: OSError) -> str:
    """A short reason for an OS error (``No space left on device``)."""
    if exc.errno == errno.EROFS:
        return "read-only file system"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (read-only or protected directory?)"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on device (disk full)"
    if exc.errno == errno.EFBIG:
        return "file too large for this file system or the file-size limit"
    return exc.strerror or str(exc)


def check_output_path(path: str | os.PathLike[str], where: str | None = None) -> Path:
    """Check that ``path`` may be written as an output file; return the real target path.

    Accepted: a new path (its directory may not exist yet; it must not lie under a regular
    file), or an existing regular file, directly or through symbolic links. Refused with an
    `InputError` naming ``where`` (an option such as ``"--out"``) and the path: an empty
    path, an existing directory, a device, a FIFO, a socket, or a symbolic link (chain) that
    ends at one of those, a symlink loop.

    Nothing is created or written here. Returns the absolute path the data will land at
    (symbolic links resolved).
    """
    text = os.fspath(path)
    if not str(text).strip():
        raise InputError("empty output path", where)
    if "\x00" in str(text):
        raise InputError(f"output path {text!r} contains a NUL character", where)
    p = Path(text).expanduser()
    label = str(p)
    try:
        real = Path(os.path.realpath(p, strict=False))
    except (OSError, RuntimeError) as exc:  # symlink loop on some Pythons
        raise InputError(f"cannot resolve output path {label}: {exc}", where) from None
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise InputError(f"cannot write {label}: a parent of it is a file, not a directory",
                         where) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(f"cannot write {label}: symbolic link loop", where) from None
        raise InputError(f"cannot write {label}: {_os_reason(exc)}", where) from None
    if st is not None:
        kind = _kind(st.st_mode)
        if kind == "a directory":
            raise InputError(f"{label} is a directory; give a file name for the output",
                             where)
        if kind is not None:
            via = f" (through the symbolic link {label} -> {real})" if real != p.absolute() \
                and p.is_symlink() else ""
            raise InputError(f"{label} is {kind}{via}, not a regular file; refusing to "
                             "replace or write it", where)
        return real
    # A new path: the nearest existing ancestor must be a directory.
    parent = real.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"cannot write {label}: {parent} is not a directory", where)
    return real


def _fsync_dir(directory: Path) -> None:
    """Flush a directory entry change to disk (best effort: not every system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], where: str | None = None, *,
                  suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success, fsync it and replace ``path``.

    For libraries that write to a path::

        with atomic_output(out / "cells.parquet", "--out") as tmp:
            frame.to_parquet(tmp)

    The temporary file keeps the target's suffix (``suffix`` overrides), so writers that
    pick a format by suffix behave. On an exception inside the block the temporary file is
    removed and the target is untouched; OS errors become `InputError` naming the path.
    """
    target = check_output_path(path, where)
    label = os.fspath(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the directory of {label}: {_os_reason(exc)}",
                         where) from None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=(
            suffix if suffix is not None else (target.suffix or ".tmp")),
            dir=target.parent)
    except OSError as exc:
        raise InputError(f"cannot write {label}: cannot create a file in {target.parent} "
                         f"({_os_reason(exc)})", where) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
        except OSError as exc:
            raise InputError(f"cannot write {label}: {_os_reason(exc)}", where) from None
        _commit(tmp, target, label, where)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _commit(tmp: Path, target: Path, label: str, where: str | None) -> None:
    """fsync ``tmp``, give it the right mode, and replace ``target`` (a regular file or new)."""
    try:
        try:
            old = os.lstat(target)
        except FileNotFoundError:
            old = None
        if old is not None and not stat.S_ISREG(old.st_mode):
            # Something replaced the target since the check: never replace a non-file.
            raise InputError(f"{label} is {_kind(old.st_mode)}, not a regular file; refusing "
                             "to replace it", where)
        os.chmod(tmp, stat.S_IMODE(old.st_mode) if old is not None else _new_file_mode())
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        raise InputError(f"cannot write {label}: {_os_reason(exc)}", where) from None
    _fsync_dir(target.parent)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", where: str | None = None,
                **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing (``"w"`` or ``"wb"``); commit on exit.

    ``kwargs`` go to `open` (``encoding``, ``newline``). Text mode defaults to UTF-8.
    """
    if mode not in ("w", "wb", "wt"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', got {mode!r}")
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    with atomic_output(path, where) as tmp:
        try:
            fh = open(tmp, mode, **kwargs)  # noqa: SIM115 - closed below, before the commit
        except OSError as exc:
            raise InputError(f"cannot write {os.fspath(path)}: {_os_reason(exc)}",
                             where) from None
        with fh:
            yield fh
            fh.flush()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, where: str | None = None
                       ) -> Path:
    """Write ``data`` to ``path`` atomically (see the module docstring); return the target."""
    target = check_output_path(path, where)
    with atomic_open(path, "wb", where) as fh:
        fh.write(data)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, where: str | None = None, *,
                      encoding: str = "utf-8", newline: str | None = None) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8 by default); return the target."""
    return atomic_write_bytes(path, _encode(text, encoding, newline), where)


def _encode(text: str, encoding: str, newline: str | None) -> bytes:
    if newline not in (None, "", "\n"):
        text = text.replace("\n", newline)
    return text.encode(encoding)
