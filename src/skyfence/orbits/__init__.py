"""Constellations: Walker shells and real element sets, propagated with SGP4.

``load_constellation`` is the one entry point for "a file path or a preset name".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..lazyload import lazy_names

# The submodule `propagate` shares its name with the function `propagate`: bind the
# function now, or importing the submodule would leave the module in its place.
from .propagate import (
    NOT_PHYSICAL,
    Ephemeris,
    PropagationHealth,
    check_ephemeris,
    ephemeris_health,
    iter_ephemeris,
    propagate,
    require_accelerated,
)

#: Public name -> (submodule, name): imported on first use (PEP 562).
_LAZY: dict[str, tuple[str, str]] = {
    "Constellation": ("constellation", "Constellation"),
    "PRESETS": ("shells", "PRESETS"),
    "ValidationReport": ("constellation", "ValidationReport"),
    "WalkerShell": ("shells", "WalkerShell"),
    "fetch_group": ("celestrak", "fetch_group"),
    "load_elements": ("elements", "load_elements"),
    "preset": ("shells", "preset"),
    "preset_names": ("shells", "preset_names"),
    "recover_planes": ("recover", "recover_planes"),
    "recover_shells": ("recover", "recover_shells"),
    "walker_constellation": ("shells", "walker_constellation"),
    "write_tle": ("elements", "write_tle"),
}

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from ..errors import InputError
    from .celestrak import fetch_group
    from .constellation import Constellation, ValidationReport
    from .elements import load_elements, write_tle
    from .recover import recover_planes, recover_shells
    from .shells import PRESETS, WalkerShell, preset, preset_names, walker_constellation


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


__all__ = [
    "DEFAULT_WALKER_EPOCH",
    "NOT_PHYSICAL",
    "PRESETS",
    "Constellation",
    "Ephemeris",
    "PropagationHealth",
    "ValidationReport",
    "WalkerShell",
    "check_ephemeris",
    "ephemeris_health",
    "fetch_group",
    "iter_ephemeris",
    "load_constellation",
    "load_elements",
    "preset",
    "preset_names",
    "propagate",
    "recover_planes",
    "recover_shells",
    "require_accelerated",
    "walker_constellation",
    "write_tle",
]

#: Epoch given to Walker presets when the caller names none (UTC).
DEFAULT_WALKER_EPOCH = "2026-01-01T00:00:00Z"


def load_constellation(
    source: str | Path,
    *,
    epoch: str | np.datetime64 | None = None,
    skip_invalid: bool = False,
) -> Constellation:
    """A constellation from a preset name (``"starlink-gen1"``) or an element file path.

    Parameters
    ----------
    source : str or Path
        A Walker preset name (see `preset_names`) or a TLE / 3LE / OMM (JSON, CSV) file.
    epoch : ISO time or datetime64, optional
        Epoch of Walker presets (default `DEFAULT_WALKER_EPOCH`); ignored for files, whose
        records carry their own epochs.
    skip_invalid : bool
        For files: load the valid records and report the rest in ``constellation.report``
        instead of raising `ElementError` at the first bad record.
    """
    from .elements import load_elements
    from .shells import PRESETS, preset

    text = str(source).strip()
    if not text:
        raise InputError("empty constellation source; give a file path or a preset name",
                         "constellation")
    if text.lower() in PRESETS:
        return preset(text, epoch if epoch is not None else DEFAULT_WALKER_EPOCH)
    path = Path(text).expanduser()
    if path.exists():
        return load_elements(path, skip_invalid=skip_invalid)
    if any(sep in text for sep in ("/", "\\", ".")):
        raise InputError(f"element file not found: {text}", "constellation")
    # Not a file: treat as a preset name so the error lists the presets and a close match.
    return preset(text, epoch if epoch is not None else DEFAULT_WALKER_EPOCH)
