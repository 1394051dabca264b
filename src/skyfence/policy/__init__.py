"""Territorial service policy: rules per H3 res-5 cell, and a durable, audited record of them.

- `skyfence.policy.model`: the policy document (`PolicyDoc` and its rule / region / territory
  specs) and the region-resolution types (`ResolvedRegion`, `RegionResolver`).
- `skyfence.policy.rules`: the precedence (module docstring), `compile_policy` and the
  vectorized evaluation (`CompiledPolicy.evaluate` -> served mask
  (n_time, n_cell); `CompiledPolicy.check_points` for terminals, with dish-style codes).
- `skyfence.policy.io`: TOML / JSON policy files (with request history), a TOML writer.
- `skyfence.policy.store`: SQLite store of versions, requests, decisions and a hash-chained
  audit log (`PolicyStore.verify`).
- `skyfence.policy.diff`: what-if comparison of two policies (cells gaining / losing service).
- `skyfence.policy.regions`: region names -> cells through the catalogue of `skyfence.ground`
  (territories with their 12-nm sea and land shares; the policy's own drawn regions).
- `skyfence.policy.builtin`: built-in policies by name (``world``, the default, and the older
  ``default``), `load_builtin_or_file`, and `compiled_policy` (compiled policies cached).

Typical use on coverage::

    policy = compiled_policy(load_builtin_or_file("world").policy(), "deu")
    ev = policy.evaluate(cells, t_utc)            # cells: uint64 (n_cell,), t_utc: (n_time,)
    status = service_status(covered, ev.served)   # SERVED / BLOCKED / UNCOVERED, int8
"""

from __future__ import annotations

from .builtin import (
    BUILTIN_POLICIES,
    DEFAULT_POLICY_NAME,
    builtin_policy_path,
    compiled_builtin,
    compiled_policy,
    load_builtin_or_file,
)
from .diff import PolicyDiff, RuleChange, diff_policies, rule_changes
from .io import (
    DecisionSpec,
    PolicyFile,
    RequestSpec,
    canonical_json,
    default_policy_path,
    dump_policy,
    load_default_policy,
    load_policy_file,
    loads_policy,
)
from .model import (
    DEFAULT_RULE,
    INTERNATIONAL_WATERS_RULE,
    MappingResolver,
    MovingRuleSpec,
    PolicyDoc,
    RegionResolver,
    RegionSpec,
    ResolvedRegion,
    RuleSpec,
    StatusSpec,
    TerminalRuleSpec,
    TerritorySpec,
)
from .regions import (
    TERRITORIAL_SEA_KM,
    CatalogueResolver,
    TerritoryCells,
    TerritoryMembership,
    catalogue_resolver,
    check_region_name,
    geometric_membership,
)
from .rules import (
    BLOCKED,
    CODE_BLOCKED_AREA,
    CODE_BLOCKED_COUNTRY,
    CODE_CELL_IS_DISABLED,
    CODE_MOVING_TOO_FAST,
    CODE_UNREGISTERED,
    SERVED,
    STATUS_CODES,
    UNCOVERED,
    CompiledPolicy,
    PointDecision,
    PolicyEvaluation,
    TerminalEvaluation,
    compile_policy,
    service_status,
    to_service_cells,
)
from .store import AuditFinding, AuditReport, Decision, PolicyStore, PolicyVersion, Request

__all__ = [
    "BLOCKED",
    "BUILTIN_POLICIES",
    "CODE_BLOCKED_AREA",
    "CODE_BLOCKED_COUNTRY",
    "CODE_CELL_IS_DISABLED",
    "CODE_MOVING_TOO_FAST",
    "CODE_UNREGISTERED",
    "DEFAULT_POLICY_NAME",
    "DEFAULT_RULE",
    "INTERNATIONAL_WATERS_RULE",
    "SERVED",
    "STATUS_CODES",
    "TERRITORIAL_SEA_KM",
    "UNCOVERED",
    "AuditFinding",
    "AuditReport",
    "CatalogueResolver",
    "CompiledPolicy",
    "Decision",
    "DecisionSpec",
    "MappingResolver",
    "MovingRuleSpec",
    "PointDecision",
    "PolicyDiff",
    "PolicyDoc",
    "PolicyEvaluation",
    "PolicyFile",
    "PolicyStore",
    "PolicyVersion",
    "RegionResolver",
    "RegionSpec",
    "Request",
    "RequestSpec",
    "ResolvedRegion",
    "RuleChange",
    "RuleSpec",
    "StatusSpec",
    "TerminalEvaluation",
    "TerminalRuleSpec",
    "TerritoryCells",
    "TerritoryMembership",
    "TerritorySpec",
    "builtin_policy_path",
    "canonical_json",
    "catalogue_resolver",
    "check_region_name",
    "compile_policy",
    "compiled_builtin",
    "compiled_policy",
    "default_policy_path",
    "diff_policies",
    "dump_policy",
    "geometric_membership",
    "load_builtin_or_file",
    "load_default_policy",
    "load_policy_file",
    "loads_policy",
    "rule_changes",
    "service_status",
    "to_service_cells",
]
