"""H3 cell indexes: the one parser of cells given by users, and bit-level helpers.

Cells are ``uint64`` H3 indexes. Users give them as hex strings (``"851e6c2bfffffff"``,
optionally ``0x``-prefixed), as decimal strings of the integer, or as integers. `parse_cell`
and `parse_cells` validate them with H3 itself (``is_valid_cell``: mode bits, base cell,
digits) and name the offending entry; `as_cells` converts already-trusted arrays.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import h3.api.basic_int as h3i
import numpy as np
from numpy.typing import ArrayLike

from ..errors import RegionError

__all__ = [
    "as_cells",
    "cell_resolution",
    "cells_to_str",
    "parse_cell",
    "parse_cells",
    "parse_cells_at_resolution",
]

_MAX_U64 = 2 ** 64


def parse_cell(value: Any, where: str | None = None) -> int:
    """One H3 cell from a hex string, a decimal string or an integer -> its integer index.

    Raises `RegionError` naming ``where`` and the value when it is not a valid H3 cell.

    >>> hex(parse_cell("851e6c2bfffffff")), parse_cell(0x851E6C2BFFFFFFF) == 0x851E6C2BFFFFFFF
    ('0x851e6c2bfffffff', True)
    """
    c = -1
    if isinstance(value, str):
        s = value.strip().lower()
        if s.startswith("0x"):
            s = s[2:]
        if 0 < len(s) <= 20 and s.isascii() and s.isalnum():
            try:
                # A 15-16 digit hex index; a longer all-digit string is the decimal integer.
                c = int(s) if s.isdigit() and len(s) > 16 else int(s, 16)
            except ValueError:
                c = -1
    elif isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        c = int(value)
    if not (0 < c < _MAX_U64 and h3i.is_valid_cell(c)):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise RegionError(f"{shown} is not a valid H3 cell (hex like '851e6c2bfffffff' or its "
                          "integer)", where)
    return c


def parse_cells(values: Iterable[Any], where: str | None = None, *,
                resolution: int | None = None) -> tuple[np.ndarray, int]:
    """Validated H3 cells -> ``(sorted unique uint64, resolution)``.

    All cells must be valid and of one resolution (``resolution`` if given); errors name the
    entry index (``where[3]``). An empty list is an error.

    >>> cells, res = parse_cells(["851e6c2bfffffff", 0x851E6C2BFFFFFFF])
    >>> cells.size, res
    (1, 5)
    """
    if isinstance(values, (str, bytes)):
        values = [values]
    label = where or "cells"
    out = [parse_cell(v, f"{label}[{i}]") for i, v in enumerate(values)]
    if not out:
        raise RegionError("empty cell list", where)
    raw = np.array(out, dtype=np.uint64)
    res = cell_resolution(raw)
    want = int(res[0]) if resolution is None else int(resolution)
    if np.any(res != want):
        i = int(np.argmax(res != want))
        first = "" if resolution is not None else \
            f"entry 0 ({h3i.int_to_str(out[0])}) is resolution {want}, "
        raise RegionError(f"mixed H3 resolutions: {first}entry {i} ({h3i.int_to_str(out[i])}) "
                          f"is resolution {int(res[i])}" +
                          (f", expected {want}" if resolution is not None else ""), where)
    return np.unique(raw), want


def parse_cells_at_resolution(values: Iterable[Any], resolution: int,
                              where: str | None = None) -> np.ndarray:
    """Validated H3 cells at ``resolution`` or coarser -> sorted unique uint64 at ``resolution``.

    Coarser cells are expanded to their children (a res-4 cell is 7 res-5 cells); a finer
    cell is refused with its parent named, since service is decided per cell of
    ``resolution``. Errors name the entry (``where[i]``).

    >>> parse_cells_at_resolution(["841e6c3ffffffff"], 5).size
    7
    """
    if isinstance(values, (str, bytes)):
        values = [values]
    label = where or "cells"
    out: list[np.ndarray] = []
    for i, v in enumerate(values):
        c = parse_cell(v, f"{label}[{i}]")
        res = int(cell_resolution(np.array([c], dtype=np.uint64))[0])
        if res > resolution:
            parent = h3i.int_to_str(h3i.cell_to_parent(c, resolution))
            raise RegionError(f"H3 cell {h3i.int_to_str(c)} has resolution {res}; cells here "
                              f"are resolution {resolution}: give the res-{resolution} parent "
                              f"{parent}", f"{label}[{i}]")
        kids = [c] if res == resolution else h3i.cell_to_children(c, resolution)
        out.append(np.asarray(kids, dtype=np.uint64))
    if not out:
        raise RegionError("empty cell list", where)
    return np.unique(np.concatenate(out))


def as_cells(cells: ArrayLike) -> np.ndarray:
    """Cells as a uint64 array of the same shape (hex strings parsed, integers cast).

    Strings are validated with `parse_cell`; integer arrays are trusted (use `parse_cells`
    for user input).
    """
    arr = np.asarray(cells)
    if arr.dtype.kind in "USO":
        flat = [parse_cell(c if isinstance(c, (str, int, np.integer)) else str(c), "cells")
                for c in arr.ravel()]
        return np.array(flat, dtype=np.uint64).reshape(arr.shape)
    return arr.astype(np.uint64, copy=False)


def cell_resolution(cells: ArrayLike) -> np.ndarray:
    """H3 resolution of each cell (bits 52-55 of the index, H3 index specification).

    >>> cell_resolution(np.array([0x851E6C2BFFFFFFF], dtype=np.uint64)).tolist()
    [5]
    """
    return ((as_cells(cells) >> np.uint64(52)) & np.uint64(15)).astype(np.int64)


def cells_to_str(cells: ArrayLike) -> list[str]:
    """Hex strings (``'851e6c2bfffffff'``) of cells."""
    return [h3i.int_to_str(int(c)) for c in np.ravel(as_cells(cells))]
