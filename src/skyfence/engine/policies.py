"""The run's policy: a built-in policy or a file, compiled for the boundary edition."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..policy import CompiledPolicy, PolicyFile, compiled_policy, load_builtin_or_file
from ..policy.rules import CODE_BLOCKED_COUNTRY, STATUS_CODES

__all__ = ["cell_codes", "load_policy"]


def load_policy(source: str, edition: str) -> tuple[PolicyFile, CompiledPolicy]:
    """A built-in policy (by name: ``world``, ``default``) or a policy file, and the policy
    compiled against the boundary edition (compiled policies are cached)."""
    try:
        doc = load_builtin_or_file(source)
    except InputError as exc:
        raise type(exc)(exc.message, "policy.source") from None
    return doc, compiled_policy(doc.policy(), edition)


def cell_codes(policy: CompiledPolicy) -> np.ndarray:
    """int8 (n_rule + 1,): the dish code (`STATUS_CODES` index) each cell rule gives, then the
    default's; index with a rule index (-1 = the default)."""
    index = {c: k for k, c in enumerate(STATUS_CODES)}
    codes = [index[r.code] if r.code else 0 for r in policy.rules]
    codes.append(0 if policy.default_on else index[CODE_BLOCKED_COUNTRY])
    return np.asarray(codes, dtype=np.int8)
