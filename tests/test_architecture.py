"""The layout shows the architecture: no import cycles (lazy or not), no private names or
modules imported across packages, data flowing one way (outputs never import the engine)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src"
PKG = SRC / "skyfence"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_package(name: str) -> bool:
    return (SRC / Path(*name.split(".")) / "__init__.py").exists()


def _exists(name: str) -> bool:
    p = SRC / Path(*name.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                for n in ast.walk(sub):
                    if hasattr(n, "lineno"):
                        lines.add(n.lineno)
    return lines


def _imports() -> dict[str, list[tuple[str, str | None, int]]]:
    """module -> [(imported module, imported name or None, line)] (TYPE_CHECKING excluded)."""
    out: dict[str, list[tuple[str, str | None, int]]] = {}
    for path in PKG.rglob("*.py"):
        mod = _module_name(path)
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        edges: list[tuple[str, str | None, int]] = []
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            if isinstance(node, ast.Import):
                edges += [(a.name, None, node.lineno) for a in node.names
                          if a.name.startswith("skyfence")]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("skyfence"):
                    continue
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    if _exists(sub):
                        edges.append((sub, None, node.lineno))
                    else:
                        edges.append((target, a.name, node.lineno))
        out[mod] = edges
    return out


def _graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {}
    for mod, edges in _imports().items():
        targets = set()
        for target, _name, _line in edges:
            # Importing a package's submodule implies the package; a module importing its
            # own ancestor package is how Python loads it, not a dependency.
            if mod.startswith(target + ".") and _is_package(target):
                continue
            targets.add(target)
        g[mod] = targets
    return g


def _find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        colour[n] = 1
        stack.append(n)
        for m in sorted(g.get(n, ())):
            if m == n:
                continue
            if colour.get(m) == 1:
                return [*stack[stack.index(m):], m]
            if colour.get(m) is None:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        colour[n] = 2
        return None

    for n in sorted(g):
        if colour.get(n) is None:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_cycles_lazy_or_not() -> None:
    g = _graph()
    # A package's __init__ re-exports its submodules: edges into a package stand for its
    # __init__ only, so they are resolved to what the __init__ imports from outside.
    cycle = _find_cycle(g)
    assert cycle is None, " -> ".join(cycle or [])


def test_no_private_cross_imports() -> None:
    bad = []
    for mod, edges in _imports().items():
        own_pkg = mod.rpartition(".")[0] if not _is_package(mod) else mod
        for target, name, line in edges:
            tpkg = target.rpartition(".")[0] if not _is_package(target) else target
            private_mod = any(p.startswith("_") and p != "__init__"
                              for p in target.split(".")[1:])
            private_name = name is not None and name.startswith("_")
            if (private_name and target != mod) or (private_mod and tpkg != own_pkg
                                                    and not target.startswith(own_pkg + ".")):
                bad.append(f"{mod}:{line} imports {target}{'.' + name if name else ''}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(("low", "high"), [
    ("skyfence.outputs", "skyfence.engine"),
    ("skyfence.outputs", "skyfence.cli"),
    ("skyfence.engine", "skyfence.cli"),
    ("skyfence.engine", "skyfence.outputs"),
    ("skyfence.coverage", "skyfence.engine"),
    ("skyfence.network", "skyfence.engine"),
    ("skyfence.policy", "skyfence.engine"),
    ("skyfence.ground", "skyfence.engine"),
    ("skyfence.orbits", "skyfence.engine"),
    ("skyfence.capacity", "skyfence.engine"),
    ("skyfence.capacity", "skyfence.outputs"),
    ("skyfence.engine", "skyfence.interop"),
    ("skyfence.outputs", "skyfence.interop"),
    ("skyfence.network", "skyfence.interop"),
])
def test_one_way_data_flow(low: str, high: str) -> None:
    bad = [f"{mod} imports {t}" for mod, edges in _imports().items()
           if mod.startswith(low) for t, _n, _l in edges if t.startswith(high)]
    assert not bad, "\n".join(bad)
