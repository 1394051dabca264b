"""The user cache of the ground package: where parsed boundaries and cell sets are kept.

Caches are ``.npz`` files (NumPy arrays, no pickles) whose names carry everything their
content depends on (edition, package version, H3 version, resolution, `CACHE_FORMAT`), so a
stale cache is never read; they are written atomically (`skyfence.fsio`). A cache that cannot
be read is rebuilt, one that cannot be written is skipped: the cache only saves time.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..fsio import atomic_write_bytes

__all__ = ["CACHE_FORMAT", "cache_dir", "load_npz", "save_npz"]

#: Version of the on-disk caches' layout and geometry processing; bump to invalidate them.
CACHE_FORMAT = 2


def cache_dir() -> Path:
    """The user cache directory of skyfence (not created here).

    ``$SKYFENCE_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/skyfence``, else
    ``~/.cache/skyfence``. Parsed boundaries and land cell sets are cached there.
    """
    env = os.environ.get("SKYFENCE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "skyfence"


def save_npz(path: Path, **arrays: Any) -> bool:
    """Write arrays as an ``.npz`` atomically; returns False (silently) when it cannot."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except (InputError, OSError):
        return False
    return True


def load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays ``keys`` of a cached ``.npz``, or None when absent or unreadable."""
    with contextlib.suppress(OSError):
        if not path.is_file():
            return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in keys}
    except (OSError, ValueError, KeyError, EOFError):
        return None
