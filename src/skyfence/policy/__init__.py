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

from typing import TYPE_CHECKING

from ..lazyload import lazy_names

#: Public name -> (submodule, name): imported on first use (PEP 562).
_LAZY: dict[str, tuple[str, str]] = {
    "AuditFinding": ("store", "AuditFinding"),
    "AuditReport": ("store", "AuditReport"),
    "BLOCKED": ("rules", "BLOCKED"),
    "BUILTIN_POLICIES": ("builtin", "BUILTIN_POLICIES"),
    "CODE_BLOCKED_AREA": ("rules", "CODE_BLOCKED_AREA"),
    "CODE_BLOCKED_COUNTRY": ("rules", "CODE_BLOCKED_COUNTRY"),
    "CODE_CELL_IS_DISABLED": ("rules", "CODE_CELL_IS_DISABLED"),
    "CODE_MOVING_TOO_FAST": ("rules", "CODE_MOVING_TOO_FAST"),
    "CODE_UNREGISTERED": ("rules", "CODE_UNREGISTERED"),
    "CatalogueResolver": ("regions", "CatalogueResolver"),
    "CompiledPolicy": ("rules", "CompiledPolicy"),
    "DEFAULT_POLICY_NAME": ("builtin", "DEFAULT_POLICY_NAME"),
    "DEFAULT_RULE": ("model", "DEFAULT_RULE"),
    "Decision": ("store", "Decision"),
    "DecisionSpec": ("io", "DecisionSpec"),
    "INTERNATIONAL_WATERS_RULE": ("model", "INTERNATIONAL_WATERS_RULE"),
    "MappingResolver": ("model", "MappingResolver"),
    "MovingRuleSpec": ("model", "MovingRuleSpec"),
    "PointDecision": ("rules", "PointDecision"),
    "PolicyDiff": ("diff", "PolicyDiff"),
    "PolicyDoc": ("model", "PolicyDoc"),
    "PolicyEvaluation": ("rules", "PolicyEvaluation"),
    "PolicyFile": ("io", "PolicyFile"),
    "PolicyStore": ("store", "PolicyStore"),
    "PolicyVersion": ("store", "PolicyVersion"),
    "RegionResolver": ("model", "RegionResolver"),
    "RegionSpec": ("model", "RegionSpec"),
    "Request": ("store", "Request"),
    "RequestSpec": ("io", "RequestSpec"),
    "ResolvedRegion": ("model", "ResolvedRegion"),
    "RuleChange": ("diff", "RuleChange"),
    "RuleSpec": ("model", "RuleSpec"),
    "SERVED": ("rules", "SERVED"),
    "STATUS_CODES": ("rules", "STATUS_CODES"),
    "StatusSpec": ("model", "StatusSpec"),
    "TERRITORIAL_SEA_KM": ("regions", "TERRITORIAL_SEA_KM"),
    "TerminalEvaluation": ("rules", "TerminalEvaluation"),
    "TerminalRuleSpec": ("model", "TerminalRuleSpec"),
    "TerritoryCells": ("regions", "TerritoryCells"),
    "TerritoryMembership": ("regions", "TerritoryMembership"),
    "TerritorySpec": ("model", "TerritorySpec"),
    "UNCOVERED": ("rules", "UNCOVERED"),
    "builtin_policy_path": ("builtin", "builtin_policy_path"),
    "canonical_json": ("io", "canonical_json"),
    "catalogue_resolver": ("regions", "catalogue_resolver"),
    "check_region_name": ("regions", "check_region_name"),
    "compile_policy": ("rules", "compile_policy"),
    "compiled_builtin": ("builtin", "compiled_builtin"),
    "compiled_policy": ("builtin", "compiled_policy"),
    "default_policy_path": ("io", "default_policy_path"),
    "diff_policies": ("diff", "diff_policies"),
    "dump_policy": ("io", "dump_policy"),
    "geometric_membership": ("regions", "geometric_membership"),
    "load_builtin_or_file": ("builtin", "load_builtin_or_file"),
    "load_default_policy": ("io", "load_default_policy"),
    "load_policy_file": ("io", "load_policy_file"),
    "loads_policy": ("io", "loads_policy"),
    "rule_changes": ("diff", "rule_changes"),
    "service_status": ("rules", "service_status"),
    "to_service_cells": ("rules", "to_service_cells"),
}

if TYPE_CHECKING:
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


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())


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
