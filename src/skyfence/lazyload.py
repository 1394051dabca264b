"""Names a package exports but imports on first use (PEP 562), so that importing skyfence and
starting the command line stay fast while the public API stays flat."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, table: dict[str, tuple[str, str]], namespace: dict[str, Any]
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``table`` maps a public name to
    ``(submodule, attribute)``; the value is imported on first access and cached in
    ``namespace`` (the package's ``globals()``)."""

    def get(name: str) -> Any:
        entry = table.get(name)
        if entry is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{entry[0]}", package), entry[1])
        namespace[name] = value
        return value

    def names() -> list[str]:
        return sorted(set(namespace) | set(table))

    return get, names
