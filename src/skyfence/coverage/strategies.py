"""Serving-satellite strategies: which usable satellite serves each ground point.

Starlink's global controller assigns satellites to terminals in 15-second slots synchronised
worldwide (Tanveer et al. 2023, arXiv 2307.00402; Mohan et al., WWW 2024; ../shared/facts.md,
"How service works"). Slots here start at UTC times that are multiples of `SLOT_S` seconds
since the Unix epoch. Within a slot a strategy may keep ("hold") the satellite it chose at the
slot's first step as long as that satellite stays usable.

A strategy is any object with the `ServingStrategy` protocol; `serving_slot` gives the slot
number of a time. `ServingTracker` carries the state between steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .visibility import StepVisibility

__all__ = [
    "SLOT_S",
    "HighestElevation",
    "RandomUsable",
    "ServingStrategy",
    "ServingTracker",
    "serving_slot",
]

#: Length of a scheduling slot, seconds (Tanveer et al. 2023; facts.md).
SLOT_S = 15.0


def serving_slot(t_utc: np.ndarray | np.datetime64, slot_s: float = SLOT_S) -> np.ndarray:
    """Slot number of each UTC time: ``floor(t / slot_s)`` counted from 1970-01-01T00:00Z.

    >>> int(serving_slot(np.datetime64("1970-01-01T00:00:29", "ns")))
    1
    """
    ns = np.asarray(t_utc, dtype="datetime64[ns]").astype(np.int64)
    return np.floor_divide(ns, np.int64(round(slot_s * 1e9)))


@runtime_checkable
class ServingStrategy(Protocol):
    """Chooses the serving satellite of every ground point at one step.

    ``needs_pairs``: whether `choose` reads ``step.pairs`` (then the kernel is asked for them).
    ``choose(step, slot, held)`` returns satellite indices (int64, -1 = none) per point;
    ``held`` is the previous step's choice when the previous step is in the same slot, else
    None; ``step.held_usable`` then says which held satellites are still usable.
    """

    @property
    def needs_pairs(self) -> bool:  # pragma: no cover - protocol
        ...

    def choose(
        self, step: StepVisibility, slot: int, held: np.ndarray | None
    ) -> np.ndarray:  # pragma: no cover - protocol
        ...


@dataclass(frozen=True)
class HighestElevation:
    """The highest usable satellite at the slot's first step, held while still usable.

    A held satellite that drops below the mask (or into the GSO exclusion) is replaced by the
    highest usable one at that step. Ties go to the lowest satellite index.
    """

    needs_pairs: bool = False

    def choose(self, step: StepVisibility, slot: int, held: np.ndarray | None) -> np.ndarray:
        """Serving satellite index per point (-1 where none is usable)."""
        if held is None or step.held_usable is None:
            return step.best_sat.copy()
        return np.where(step.held_usable, held, step.best_sat)


def _splitmix64(x: Any) -> Any:
    """SplitMix64 finaliser (Steele, Lea, Flood 2014): a counter-based hash on uint64."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class RandomUsable:
    """A uniformly random usable satellite per point and slot, held while still usable.

    The draw is a hash of ``(seed, slot, point index)``, so results do not depend on how the
    window is cut into chunks or on the order of evaluation.
    """

    seed: int = 0
    needs_pairs: bool = True

    def choose(self, step: StepVisibility, slot: int, held: np.ndarray | None) -> np.ndarray:
        """Serving satellite index per point (-1 where none is usable)."""
        n = step.n_visible.size
        out = np.full(n, -1, np.int64)
        pairs = step.pairs
        if pairs is None:
            raise ValueError("RandomUsable needs the kernel's pairs (needs_pairs=True)")
        counts = step.n_visible.astype(np.int64)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        mask64 = 0xFFFFFFFFFFFFFFFF
        base = _splitmix64(np.uint64(self.seed & mask64) ^ _splitmix64(np.uint64(slot & mask64)))
        with np.errstate(over="ignore"):
            draw = _splitmix64(base + np.arange(n, dtype=np.uint64))
        u = (draw >> np.uint64(11)).astype(np.float64) / float(2**53)
        has = counts > 0
        pick = first[has] + np.minimum((u[has] * counts[has]).astype(np.int64), counts[has] - 1)
        out[has] = pairs.sat[pick]
        if held is not None and step.held_usable is not None:
            out = np.where(step.held_usable, held, out)
        return out


class ServingTracker:
    """Applies a strategy step after step, holding choices within 15-second slots.

    Parameters
    ----------
    strategy : ServingStrategy
    slot_s : float
        Slot length, seconds (`SLOT_S`).

    Use `held_for` before computing a step (to ask the kernel about the held satellites), then
    `choose` with the step's visibility.
    """

    def __init__(self, strategy: ServingStrategy | None = None, slot_s: float = SLOT_S) -> None:
        self.strategy: ServingStrategy = strategy if strategy is not None else HighestElevation()
        self.slot_s = slot_s
        self._slot: int | None = None
        self._serving: np.ndarray | None = None

    def held_for(self, t_utc: np.datetime64) -> np.ndarray | None:
        """The satellites held from the previous step, if it was in the same slot as ``t_utc``."""
        slot = int(serving_slot(t_utc, self.slot_s))
        if self._slot is not None and slot == self._slot:
            return self._serving
        return None

    def choose(self, t_utc: np.datetime64, step: StepVisibility) -> np.ndarray:
        """Serving satellite per point at ``t_utc`` (int64, -1 = none); updates the state."""
        slot = int(serving_slot(t_utc, self.slot_s))
        held = self._serving if (self._slot is not None and slot == self._slot) else None
        serving = np.asarray(self.strategy.choose(step, slot, held), dtype=np.int64)
        self._slot, self._serving = slot, serving
        return serving
