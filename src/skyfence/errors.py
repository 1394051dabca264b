"""The exception hierarchy of skyfence.

::

    SkyfenceError                      base of everything skyfence raises on purpose
     +-- InputError (ValueError)       bad user input: names the file, line or field
     |    +-- ElementError             a TLE / 3LE / OMM record that fails validation
     |    +-- ScenarioError            a scenario file or key that fails validation
     |    +-- RegionError              an unknown region, a bad polygon
     |    +-- PolicyError              a malformed policy, conflicting rules
     |    +-- SiteError                a bad gateway / PoP / terminal definition
     +-- ResourceError                 a request that would exceed a memory or time budget
     +-- OfflineError                  data could not be fetched and no cached copy exists
     +-- StoreError                    the durable store refuses an operation
 |    +-- AccessError               an actor may not do this (role, four eyes, revoked token)
     +-- PerformanceError              a fast path is unavailable (e.g. sgp4 not compiled)

The CLI turns every ``SkyfenceError`` into a one-line message and exit code 2; anything else
is a bug.
"""

from __future__ import annotations

__all__ = [
    "AccessError",
    "ElementError",
    "InputError",
    "OfflineError",
    "PerformanceError",
    "PolicyError",
    "RegionError",
    "ResourceError",
    "ScenarioError",
    "SiteError",
    "SkyfenceError",
    "StoreError",
]


class SkyfenceError(Exception):
    """Base class for the errors skyfence raises on purpose."""


class InputError(SkyfenceError, ValueError):
    """Bad user input. ``where`` names the file, line or field when known.

    Parameters
    ----------
    message : str
        What is wrong, with the offending value and, where useful, the valid options.
    where : str, optional
        Location such as ``"sats.tle:12"`` or ``"scenario.toml: time.step"``.
    """

    def __init__(self, message: str, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ElementError(InputError):
    """A TLE / 3LE / OMM record that fails validation."""


class ScenarioError(InputError):
    """A scenario file or key that fails validation."""


class RegionError(InputError):
    """An unknown region name or an invalid region geometry."""


class PolicyError(InputError):
    """A malformed policy or a conflict between rules."""


class SiteError(InputError):
    """A bad gateway, PoP or terminal definition."""


class ResourceError(SkyfenceError):
    """A request that would exceed a memory or time budget."""


class OfflineError(SkyfenceError):
    """Data could not be fetched and no cached copy exists."""


class StoreError(SkyfenceError):
    """The durable store refuses an operation (missing record, integrity failure)."""


class PerformanceError(SkyfenceError):
    """A required fast path is unavailable (for example sgp4 without its C++ extension)."""


class AccessError(StoreError):
    """An actor may not do this: missing role, a decision on one's own request (four eyes),
    an unknown or revoked token."""
