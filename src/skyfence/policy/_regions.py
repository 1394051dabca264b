"""Deprecated alias of `skyfence.policy.regions` (kept while rules.py and store.py switch)."""

from __future__ import annotations

from .regions import CatalogueResolver, build_region, catalogue_resolver, check_region_name

__all__ = ["CatalogueResolver", "build_region", "catalogue_resolver", "check_region_name"]
