"""Input caps and safe loaders: every byte skyfence reads from a user goes through here.

A hostile or broken input must end in a one-line `InputError`, never in a ``RecursionError``,
a ``MemoryError``, a hang on a FIFO or a multi-gigabyte allocation. The caps:

* file size per kind (`MAX_FILE_BYTES`, checked with ``stat`` *before* reading and again
  while reading, so a growing file or a device cannot slip past);
* nesting depth of TOML / JSON documents (`MAX_NESTING_DEPTH`; a GeoJSON MultiPolygon inside
  a FeatureCollection is 7 deep);
* length of one string value or key (`MAX_STRING_BYTES`, UTF-8 bytes);
* names and free texts stored by the policy store (`MAX_NAME_CHARS`, `MAX_TEXT_CHARS`), with
  `clean_name` / `clean_text` refusing blank values and control characters.

Safe loaders
------------
``load_json_text(text, where)`` and ``load_toml_text(text, where)`` parse text after checking
its size; JSON depth and string lengths are checked *before* parsing by a vectorised scan
(O(n), bounded memory), TOML ones by an iterative walk after ``tomllib`` (whose own recursion
is caught). JSON additionally refuses ``NaN`` / ``Infinity`` (not JSON) and duplicate keys
(ambiguous: the standard library would keep the last one silently). Numbers with more than
4300 digits (CPython's ``int`` limit) are refused. ``read_text_file(path, kind)`` reads a
regular file (never a FIFO, device or directory) of at most the cap of its kind, decodes
UTF-8 (a BOM is dropped) and refuses binary content (NUL bytes) naming the line.

Safe writes
-----------
``check_output_path(path)`` accepts a new path or an existing regular file (a symlink is
followed to its target, which must be a regular file too) and refuses directories, devices,
FIFOs and sockets, so ``--out /dev/full`` never replaces a device node. ``atomic_output(path)``
yields a temporary path in the same folder; when the block succeeds the file is fsynced and
renamed over the target, when it fails (an error, a full disk) the temporary file is removed
and the target is left as it was. OS errors become one-line errors naming the path.

Each function takes ``error=`` (a subclass of `InputError`, e.g. `PolicyError`) so callers
keep their own error class; ``where`` names the file or field and gets ``:LINE`` appended when
the line is known. The caps are keyword arguments too: a caller with a reason to accept more
passes a larger value (and says so in its own option, e.g. ``--max-input-mb``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import stat
import tempfile
import tomllib
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NAME_CHARS",
    "MAX_NESTING_DEPTH",
    "MAX_STRING_BYTES",
    "MAX_TEXT_CHARS",
    "atomic_output",
    "check_json_text",
    "check_output_path",
    "check_text_size",
    "check_tree",
    "clean_name",
    "clean_text",
    "file_cap",
    "load_json_file",
    "load_json_text",
    "load_toml_file",
    "load_toml_text",
    "read_bytes_file",
    "read_text_file",
]

_MiB = 2**20

#: Largest file accepted per kind of input, in bytes. Sizes of real inputs for scale: the
#: whole public catalogue as OMM JSON is ~25 MB (CelesTrak ``GROUP=active``), Natural Earth's
#: 1:10m countries GeoJSON ~24 MB, a policy embedding a country's H3 res-5 cells ~1 MB.
MAX_FILE_BYTES: dict[str, int] = {
    "elements": 256 * _MiB,  # TLE / 3LE / OMM JSON / OMM CSV
    "policy": 32 * _MiB,  # policy TOML / JSON (may embed GeoJSON and cell lists)
    "scenario": 4 * _MiB,  # scenario TOML
    "geojson": 128 * _MiB,  # region boundaries
    "sites": 16 * _MiB,  # gateways, PoPs, terminals (CSV / JSON)
    "cells": 64 * _MiB,  # H3 cell lists
    "json": 32 * _MiB,  # any other JSON document
    "toml": 4 * _MiB,  # any other TOML document
    "text": 32 * _MiB,  # any other text file
}
#: Deepest nesting of arrays / tables / objects accepted in TOML and JSON documents.
MAX_NESTING_DEPTH = 64
#: Longest single string (value or key) in a TOML / JSON document, UTF-8 bytes. Region WKT
#: or cell lists are arrays of short strings or files of their own, never one huge string.
MAX_STRING_BYTES = 4 * _MiB
#: Longest name (actor, policy, region, request key) accepted by the policy store, characters.
MAX_NAME_CHARS = 200
#: Longest free text (a request's why, a decision's reason, a comment), characters.
MAX_TEXT_CHARS = 10_000

_INT_DIGITS_LIMIT = 4300  # CPython's default sys.int_info.default_max_str_digits


def file_cap(kind: str) -> int:
    """The size cap (bytes) of a kind of input file (a key of `MAX_FILE_BYTES`)."""
    try:
        return MAX_FILE_BYTES[kind]
    except KeyError:
        raise ValueError(f"unknown input kind {kind!r}; known: {', '.join(MAX_FILE_BYTES)}"
                         ) from None


def _human(n: int) -> str:
    if n >= _MiB:
        return f"{n / _MiB:.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n} bytes"


def _at(where: str, line: int | None) -> str:
    return f"{where}:{line}" if line is not None else where


# ---------------------------------------------------------------------------------------------
# sizes and files


def check_text_size(text: str | bytes, where: str, *, kind: str = "text",
                    max_bytes: int | None = None,
                    error: type[InputError] = InputError) -> None:
    """Refuse ``text`` larger than ``max_bytes`` (default: the cap of ``kind``), UTF-8 bytes."""
    cap = file_cap(kind) if max_bytes is None else int(max_bytes)
    n = len(text)
    if isinstance(text, str) and n <= cap < 4 * n:
        n = len(text.encode("utf-8", "surrogatepass"))  # exact only when it can matter
    if n > cap:
        raise error(f"input of {_human(n)} exceeds the {kind} size cap of {_human(cap)} "
                    f"(skyfence.limits.MAX_FILE_BYTES[{kind!r}])", where)


def read_bytes_file(path: str | os.PathLike[str], *, kind: str = "text",
                    max_bytes: int | None = None, where: str | None = None,
                    error: type[InputError] = InputError) -> bytes:
    """Read a regular file of at most ``max_bytes`` (default: the cap of ``kind``).

    Refuses a missing path, a directory, a FIFO, a device or a socket (reading those can hang
    or never end) and an oversize file, each with ``error`` naming the path.
    """
    p = Path(path)
    label = where or str(p)
    cap = file_cap(kind) if max_bytes is None else int(max_bytes)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise error("no such file", label) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", label) from None
    if stat.S_ISDIR(st.st_mode):
        raise error("is a directory, not a file", label)
    if not stat.S_ISREG(st.st_mode):
        raise error("not a regular file (a FIFO, device or socket); give a file", label)
    if st.st_size > cap:
        raise error(f"file of {_human(st.st_size)} exceeds the {kind} size cap of "
                    f"{_human(cap)} (skyfence.limits.MAX_FILE_BYTES[{kind!r}])", label)
    try:
        with open(p, "rb") as fh:
            data = fh.read(cap + 1)
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", label) from None
    if len(data) > cap:
        raise error(f"file grew past the {kind} size cap of {_human(cap)} while being read",
                    label)
    return data


def _decode(data: bytes, label: str, error: type[InputError]) -> str:
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise error("binary content (a NUL byte): not a text file", _at(label, line))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(f"not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded",
                    _at(label, line)) from None


def read_text_file(path: str | os.PathLike[str], *, kind: str = "text",
                   max_bytes: int | None = None, where: str | None = None,
                   error: type[InputError] = InputError) -> str:
    """`read_bytes_file`, then UTF-8 decoding (BOM dropped); binary content is refused."""
    data = read_bytes_file(path, kind=kind, max_bytes=max_bytes, where=where, error=error)
    return _decode(data, where or str(path), error)


# ---------------------------------------------------------------------------------------------
# names and free text


def _bad_char(value: str, allow_newlines: bool) -> tuple[int, str] | None:
    for i, ch in enumerate(value):
        if allow_newlines and ch in "\n\t":
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return i, ch
    return None


def clean_name(value: Any, field: str, *, max_chars: int = MAX_NAME_CHARS,
               error: type[InputError] = InputError) -> str:
    """A name (actor, policy, region, key): a non-blank string without control characters.

    Returns it stripped of surrounding whitespace. Refuses non-strings, blank or whitespace-only
    values, control / format characters (``\\x00``, ``\\n``, bidi overrides, zero-width) and
    names longer than ``max_chars``, with ``error`` naming ``field``.
    """
    if not isinstance(value, str):
        raise error(f"must be a text, got {type(value).__name__}", field)
    text = value.strip()
    if not text:
        raise error("must not be blank" if not value else
                    "must not be blank (only whitespace given)", field)
    if len(text) > max_chars:
        raise error(f"is {len(text):,} characters long; at most {max_chars:,} allowed", field)
    bad = _bad_char(text, allow_newlines=False)
    if bad is not None:
        raise error(f"contains the control character U+{ord(bad[1]):04X} at position "
                    f"{bad[0] + 1}; names are one line of printable text", field)
    return text


def clean_text(value: Any, field: str, *, max_chars: int = MAX_TEXT_CHARS,
               required: bool = True, error: type[InputError] = InputError) -> str:
    """A free text (why, reason, comment): newlines and tabs allowed, other controls not.

    With ``required`` a blank text is refused. Returns the text stripped.
    """
    if not isinstance(value, str):
        raise error(f"must be a text, got {type(value).__name__}", field)
    text = value.strip()
    if required and not text:
        raise error("must not be blank", field)
    if len(text) > max_chars:
        raise error(f"is {len(text):,} characters long; at most {max_chars:,} allowed", field)
    bad = _bad_char(text, allow_newlines=True)
    if bad is not None:
        raise error(f"contains the control character U+{ord(bad[1]):04X} at position "
                    f"{bad[0] + 1}", field)
    return text


# ---------------------------------------------------------------------------------------------
# JSON: vectorised pre-scan of depth and string lengths, then the standard parser

_SCAN_CHUNK = _MiB  # bytes per scan step: ~40 MB of temporaries
_BRACKET_DELTA = np.zeros(256, dtype=np.int8)
_BRACKET_DELTA[[ord("["), ord("{")]] = 1
_BRACKET_DELTA[[ord("]"), ord("}")]] = -1


def _scan_json(data: bytes, where: str, max_depth: int, max_string_bytes: int,
               error: type[InputError]) -> None:
    """Refuse JSON nested deeper than ``max_depth`` or with a longer string, before parsing.

    Works on UTF-8 bytes in chunks: quotes preceded by an odd run of backslashes are escaped;
    brackets between unescaped quotes are string content. For invalid JSON the answer may be
    wrong, which does not matter: the parser refuses it next.
    """
    depth = 0  # at the end of the previous chunk
    in_string = False
    bs_run = 0  # backslashes ending the previous chunk
    open_at = -1  # global offset of the opening quote of the string in progress
    n = len(data)
    for start in range(0, n, _SCAN_CHUNK):
        b = np.frombuffer(data, dtype=np.uint8, count=min(_SCAN_CHUNK, n - start),
                          offset=start)
        m = b.size
        idx = np.arange(m, dtype=np.int32)
        is_bs = b == 92
        quotes = np.flatnonzero(b == 34)
        if quotes.size:
            # index of the last non-backslash at or before each position (-1: none in chunk)
            last_plain = np.maximum.accumulate(np.where(is_bs, -1, idx))
            prev = quotes - 1
            before = np.where(prev >= 0, last_plain[np.maximum(prev, 0)], -1)
            run = np.where(prev >= 0, prev - before, 0)
            run = np.where(before < 0, run + bs_run, run)
            quotes = quotes[run % 2 == 0]
        # string state at every byte: parity of unescaped quotes seen so far
        toggles = np.zeros(m, dtype=np.int8)
        toggles[quotes] = 1
        parity = (np.cumsum(toggles, dtype=np.int32) + int(in_string)) % 2
        inside = parity.astype(bool)
        inside[quotes] = True  # a quote itself is no bracket either way
        delta = _BRACKET_DELTA[b]
        delta[inside] = 0
        levels = np.cumsum(delta, dtype=np.int32) + depth
        if levels.size and int(levels.max()) > max_depth:
            first = int(np.argmax(levels > max_depth))
            line = data.count(b"\n", 0, start + first) + 1
            raise error(f"nested deeper than {max_depth} levels (skyfence.limits."
                        "MAX_NESTING_DEPTH)", _at(where, line))
        # string lengths: pair opening and closing quotes across chunk borders
        positions = quotes.astype(np.int64) + start
        if in_string:
            positions = np.concatenate([[open_at], positions])
        closed = positions[: positions.size // 2 * 2]
        if closed.size:
            lengths = closed[1::2] - closed[0::2] - 1
            longest = int(lengths.max())
            if longest > max_string_bytes:
                k = int(np.argmax(lengths))
                line = data.count(b"\n", 0, int(closed[2 * k])) + 1
                raise error(f"a string of {_human(longest)} exceeds the cap of "
                            f"{_human(max_string_bytes)} (skyfence.limits.MAX_STRING_BYTES)",
                            _at(where, line))
        in_string = positions.size % 2 == 1
        if in_string:
            open_at = int(positions[-1])
            if start + m - open_at - 1 > max_string_bytes:
                line = data.count(b"\n", 0, open_at) + 1
                raise error(f"a string longer than the cap of {_human(max_string_bytes)} "
                            "(skyfence.limits.MAX_STRING_BYTES)", _at(where, line))
        depth = int(levels[-1]) if levels.size else depth
        plain = np.flatnonzero(~is_bs)
        bs_run = bs_run + m if plain.size == 0 else m - 1 - int(plain[-1])


def check_json_text(text: str | bytes, where: str, *, kind: str = "json",
                    max_bytes: int | None = None, max_depth: int = MAX_NESTING_DEPTH,
                    max_string_bytes: int = MAX_STRING_BYTES,
                    error: type[InputError] = InputError) -> None:
    """The checks of `load_json_text` without parsing: size, nesting depth, string lengths.

    For callers with their own JSON decoding (e.g. record by record with line numbers): after
    this passes, the standard parser cannot exceed the recursion limit.
    """
    check_text_size(text, where, kind=kind, max_bytes=max_bytes, error=error)
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    _scan_json(data, where, max_depth, max_string_bytes, error)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _pairs_no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise ValueError(f"duplicate key {k[:60]!r} in one object")
            seen.add(k)
    return out


def load_json_text(text: str | bytes, where: str, *, kind: str = "json",
                   max_bytes: int | None = None, max_depth: int = MAX_NESTING_DEPTH,
                   max_string_bytes: int = MAX_STRING_BYTES, allow_nan: bool = False,
                   allow_duplicate_keys: bool = False,
                   error: type[InputError] = InputError) -> Any:
    """Parse JSON text safely: size, depth and string caps first, then the standard parser.

    Errors are ``error(message, "WHERE:LINE")``: syntax (line and column), depth, size, huge
    numbers, ``NaN`` (unless ``allow_nan``), duplicate keys (unless ``allow_duplicate_keys``).
    """
    check_text_size(text, where, kind=kind, max_bytes=max_bytes, error=error)
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    if isinstance(text, bytes):
        text = _decode(data, where, error)
    _scan_json(data, where, max_depth, max_string_bytes, error)
    body = text.lstrip("\ufeff")
    try:
        return json.loads(
            body,
            parse_constant=None if allow_nan else _no_constant,
            object_pairs_hook=None if allow_duplicate_keys else _pairs_no_duplicates,
        )
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON: {exc.msg} (column {exc.colno})",
                    _at(where, exc.lineno)) from None
    except RecursionError:
        raise error(f"nested deeper than {max_depth} levels", where) from None
    except ValueError as exc:
        msg = str(exc)
        if "digits" in msg:  # CPython's int-size guard
            msg = f"a number with more than {_INT_DIGITS_LIMIT} digits"
        raise error(f"not valid JSON: {msg}", where) from None


def load_json_file(path: str | os.PathLike[str], *, kind: str = "json",
                   error: type[InputError] = InputError, **caps: Any) -> Any:
    """`read_text_file` then `load_json_text` (``caps`` as for `load_json_text`)."""
    text = read_text_file(path, kind=kind, max_bytes=caps.get("max_bytes"), error=error)
    return load_json_text(text, str(path), kind=kind, error=error, **caps)


# ---------------------------------------------------------------------------------------------
# TOML: tomllib, its recursion caught, then an iterative walk


def check_tree(obj: Any, where: str, *, max_depth: int = MAX_NESTING_DEPTH,
               max_string_bytes: int = MAX_STRING_BYTES,
               error: type[InputError] = InputError) -> None:
    """Refuse a parsed document nested deeper than ``max_depth`` or holding a longer string.

    Iterative (no recursion, whatever the depth). Strings are measured in characters times 4
    only when that could exceed the cap (exact UTF-8 length then). Non-finite floats pass:
    callers decide whether ``inf`` / ``nan`` mean anything for them.
    """
    stack: list[tuple[Any, int, str]] = [(obj, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if depth > max_depth:
            raise error(f"nested deeper than {max_depth} levels (skyfence.limits."
                        "MAX_NESTING_DEPTH)", _path(where, path))
        items: Iterable[tuple[Any, Any]] = (node.items() if isinstance(node, dict)
                                            else enumerate(node))
        for key, value in items:
            for s in (key, value):
                if isinstance(s, str) and len(s) * 4 > max_string_bytes and (
                        len(s) > max_string_bytes  # chars <= bytes: no need to encode
                        or len(s.encode("utf-8", "surrogatepass")) > max_string_bytes):
                    raise error(f"a string of {len(s):,} characters exceeds the cap of "
                                f"{_human(max_string_bytes)} (skyfence.limits."
                                f"MAX_STRING_BYTES)", _path(where, f"{path}{_step(key)}"))
            if isinstance(value, dict | list):
                stack.append((value, depth + 1, f"{path}{_step(key)}"))


def _step(key: Any) -> str:
    return f"[{key}]" if isinstance(key, int) else f".{key}"


def _path(where: str, path: str) -> str:
    path = path.removeprefix(".") or "(top level)"
    if len(path) > 80:
        path = path[:60] + "..." + path[-17:]
    return f"{where}: {path}"


_TOML_LINE = re.compile(r"line (\d+)")


def load_toml_text(text: str | bytes, where: str, *, kind: str = "toml",
                   max_bytes: int | None = None, max_depth: int = MAX_NESTING_DEPTH,
                   max_string_bytes: int = MAX_STRING_BYTES, allow_nan: bool = True,
                   error: type[InputError] = InputError) -> dict[str, Any]:
    """Parse TOML text safely: size cap, ``tomllib``, then depth and string caps.

    Errors are ``error(message, "WHERE:LINE")`` for syntax, ``error(message, "WHERE: key.path")``
    for depth and strings. With ``allow_nan=False`` a ``nan`` / ``inf`` value is refused.
    """
    check_text_size(text, where, kind=kind, max_bytes=max_bytes, error=error)
    if isinstance(text, bytes):
        text = _decode(text, where, error)
    body = text.lstrip("\ufeff")
    try:
        data = tomllib.loads(body)
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_LINE.search(str(exc))
        raise error(f"not valid TOML: {exc}", _at(where, int(m.group(1)) if m else None)
                    ) from None
    except RecursionError:
        raise error(f"nested deeper than {max_depth} levels (skyfence.limits."
                    "MAX_NESTING_DEPTH)", where) from None
    except ValueError as exc:  # CPython's int-size guard inside tomllib
        msg = str(exc)
        if "digits" in msg:
            msg = f"a number with more than {_INT_DIGITS_LIMIT} digits"
        raise error(f"not valid TOML: {msg}", where) from None
    check_tree(data, where, max_depth=max_depth, max_string_bytes=max_string_bytes,
               error=error)
    if not allow_nan:
        _refuse_non_finite(data, where, error)
    return data


def _refuse_non_finite(obj: Any, where: str, error: type[InputError]) -> None:
    stack: list[tuple[Any, str]] = [(obj, "")]
    while stack:
        node, path = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if isinstance(value, float) and not math.isfinite(value):
                raise error(f"{value!r} is not a finite number",
                            _path(where, f"{path}{_step(key)}"))
            if isinstance(value, dict | list):
                stack.append((value, f"{path}{_step(key)}"))


def load_toml_file(path: str | os.PathLike[str], *, kind: str = "toml",
                   error: type[InputError] = InputError, **caps: Any) -> dict[str, Any]:
    """`read_text_file` then `load_toml_text` (``caps`` as for `load_toml_text`)."""
    text = read_text_file(path, kind=kind, max_bytes=caps.get("max_bytes"), error=error)
    return load_toml_text(text, str(path), kind=kind, error=error, **caps)


# ---------------------------------------------------------------------------------------------
# output files


def check_output_path(path: str | os.PathLike[str], *, field: str = "--out",
                      suffixes: tuple[str, ...] | None = None,
                      error: type[InputError] = InputError) -> Path:
    """The regular file a writer may replace: a new path, or an existing regular file.

    A symlink is resolved to its target (written through, the link is kept). Refuses a
    directory, a device, a FIFO or a socket (and a wrong suffix when ``suffixes`` is given,
    lower-case with the dot), with ``error`` naming ``field``.
    """
    p = Path(path)
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise error(f"output must end in {' or '.join(suffixes)}, got {p.name!r}", field)
    target = p.resolve() if p.is_symlink() else p
    try:
        st = target.stat()
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise error(f"cannot use {p}: {exc.strerror or exc}", field) from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{p} is a directory; give a file name", field)
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{p} is not a regular file (a device, FIFO or socket); refusing to "
                    "replace it", field)
    return target


def _os_problem(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    return exc.strerror or str(exc)


def _new_file_mode(target: Path) -> int:
    """Permissions for the file replacing ``target``: its own, or 0666 less the umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except OSError:
        pass
    umask = 0o022
    try:  # Linux: read the umask without changing it (os.umask would race other threads)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                umask = int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, field: str = "--out",
                  suffixes: tuple[str, ...] | None = None,
                  error: type[InputError] = InputError) -> Iterator[Path]:
    """Write a file all or nothing: yields a temporary path beside the target.

    On success the temporary file is fsynced and renamed over the target (see
    `check_output_path` for which targets are allowed); on any exception it is removed and the
    target is untouched. Missing parent folders are created. OS errors (permissions, a full
    disk, a read-only file system) become ``error`` naming ``field``.
    """
    target = check_output_path(path, field=field, suffixes=suffixes, error=error)
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise error(f"cannot write in {folder}: {_os_problem(exc)}", field) from None
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, _new_file_mode(target))  # mkstemp made it 0600
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise error(f"cannot write {path}: {_os_problem(exc)}; nothing written", field
                    ) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
