"""Built-in policies, addressable by name wherever a policy file is accepted.

==========  ====================================================================
name        what
==========  ====================================================================
``world``   every territory of the boundary editions with a dated status and a
            source, Crimea off, Starlink's published blocked cells, Ukraine's 2026
            registration and speed rules (``data/world_policy.toml``); the default
``default`` the earlier news-situation policy: five regions and the rest of the
            world on (``data/default_policy.toml``)
==========  ====================================================================

`load_builtin_or_file` takes a name or a path; `compiled_policy` caches compiled policies
(per policy content and boundary edition) so repeated checks do not recompile.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from pathlib import Path

from ..errors import PolicyError
from .io import PolicyFile, canonical_json, load_policy_file
from .model import PolicyDoc, RegionResolver
from .rules import CompiledPolicy, compile_policy

__all__ = [
    "BUILTIN_POLICIES",
    "DEFAULT_POLICY_NAME",
    "builtin_policy_path",
    "compiled_builtin",
    "compiled_policy",
    "load_builtin_or_file",
]

#: Built-in policy names -> package data files.
BUILTIN_POLICIES: dict[str, str] = {"world": "world_policy.toml",
                                    "default": "default_policy.toml"}
#: The policy used when none is named.
DEFAULT_POLICY_NAME = "world"


def builtin_policy_path(name: str) -> Path:
    """Path of a built-in policy file; `PolicyError` listing the names if unknown."""
    key = str(name).strip().lower()
    if key not in BUILTIN_POLICIES:
        raise PolicyError(f"unknown built-in policy {name!r}; built-in policies: "
                          f"{', '.join(BUILTIN_POLICIES)} (or give a .toml / .json file)",
                          "policy")
    return Path(str(resources.files("skyfence") / "data" / BUILTIN_POLICIES[key]))


def load_builtin_or_file(name_or_path: str | Path | None = None) -> PolicyFile:
    """A built-in policy by name (``world``, ``default``) or a policy file by path.

    ``None`` gives `DEFAULT_POLICY_NAME`. A string that names an existing file is read as a
    file even if it equals a built-in name; a string without a path separator or suffix that
    is not a file is taken as a built-in name.
    """
    if name_or_path is None:
        return _builtin(DEFAULT_POLICY_NAME)
    text = str(name_or_path).strip()
    if not text:
        raise PolicyError("empty policy name; give a built-in name "
                          f"({', '.join(BUILTIN_POLICIES)}) or a file", "policy")
    p = Path(text).expanduser()
    if p.is_file():
        return load_policy_file(p)
    if p.suffix or "/" in text or "\\" in text:
        raise PolicyError(f"policy file not found: {text}", "policy")
    return _builtin(text)


@functools.lru_cache(maxsize=8)
def _builtin(name: str) -> PolicyFile:
    return load_policy_file(builtin_policy_path(name))


_COMPILED: dict[tuple[str, str, int], CompiledPolicy] = {}
_BY_ID: dict[tuple[int, str, int], tuple[PolicyDoc, CompiledPolicy]] = {}


def compiled_policy(doc: PolicyDoc, edition: str = "deu", *,
                    resolver: RegionResolver | None = None,
                    source: str = "policy") -> CompiledPolicy:
    """`compile_policy` with a cache keyed by the policy's content and the boundary edition.

    A compiled policy also caches its per-segment decisions, so a second check of one point
    is a look-up. Give ``resolver`` to use another region resolver (cached by its identity).
    """
    from .regions import catalogue_resolver

    res = resolver if resolver is not None else catalogue_resolver(edition)
    fast = _BY_ID.get((id(doc), edition, id(res)))
    if fast is not None and fast[0] is doc:  # the same (immutable) document object
        return fast[1]
    digest = hashlib.sha256(canonical_json(doc.content()).encode()).hexdigest()
    key = (digest, edition, id(res))
    got = _COMPILED.get(key)
    if got is None:
        got = compile_policy(doc, res, source=source)
        if len(_COMPILED) >= 16:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = got
    if len(_BY_ID) >= 64:
        _BY_ID.pop(next(iter(_BY_ID)))
    _BY_ID[(id(doc), edition, id(res))] = (doc, got)
    return got


def compiled_builtin(name: str = DEFAULT_POLICY_NAME, edition: str = "deu") -> CompiledPolicy:
    """A built-in policy compiled for a boundary edition, once per process (the fast path for
    checking single points: ``compiled_builtin().check_points([...], [lat], [lon], t)``)."""
    return _compiled_builtin(str(name).strip().lower(), str(edition).strip().lower())


@functools.lru_cache(maxsize=8)
def _compiled_builtin(name: str, edition: str) -> CompiledPolicy:
    return compiled_policy(_builtin(name).policy(), edition, source=f"built-in {name}")
