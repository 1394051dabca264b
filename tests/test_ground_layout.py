"""Layout of the ground package and the modules beside it: one job per module, no private
names imported across modules, no import cycles (module-level or lazy), one H3 parser."""

from __future__ import annotations

import ast
from pathlib import Path

import h3
import numpy as np
import pytest

from skyfence.errors import RegionError
from skyfence.ground import as_cells, parse_cell, parse_cells, parse_cells_at_resolution

SRC = Path(__file__).resolve().parents[1] / "src" / "skyfence"
#: The modules this layout test holds to the rule (others are checked where they live).
CHECKED = [*sorted((SRC / "ground").glob("*.py")), SRC / "timeutil.py", SRC / "fsio.py",
           SRC / "orbits" / "recover.py", SRC / "policy" / "regions.py",
           SRC / "cli" / "regions.py", SRC / "cli" / "policy.py"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) of every ``from X import ...``, lazy included."""
    pkg = _module_name(path).split(".")
    if path.name != "__init__.py":
        pkg = pkg[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = pkg[: len(pkg) - node.level + 1] if node.level else []
            mod = ".".join([*base, node.module] if node.module else base)
            out.append((node.lineno, mod, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name, []) for a in node.names)
    return out


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: str(p.relative_to(SRC)))
def test_no_private_name_is_imported_across_modules(path):
    bad = [f"{path.name}:{line}: from {mod} import {name}"
           for line, mod, names in _imports(path) for name in names
           if name.startswith("_") and not name.startswith("__")
           and mod.startswith("skyfence")]
    assert not bad, bad


def test_ground_modules_form_no_import_cycle():
    graph: dict[str, set[str]] = {}
    for path in sorted((SRC / "ground").glob("*.py")):
        me = _module_name(path)
        deps = set()
        for _, mod, names in _imports(path):
            if mod.startswith("skyfence.ground"):
                deps.add(mod)
                deps.update(f"{mod}.{n}" for n in names)  # "from . import x"
        graph[me] = {d for d in deps if d != me and d != "skyfence.ground"}
    known = set(graph)
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in graph.get(node, ()):
            if dep not in known:
                continue
            if state.get(dep) == 1:
                raise AssertionError(" -> ".join([*trail, node, dep]))
            if dep not in state:
                visit(dep, [*trail, node])
        state[node] = 2

    for node in graph:
        if node not in state and not node.endswith("__init__") and node != "skyfence.ground":
            visit(node, [])
    # The facade re-exports; the job modules never import it.
    assert all("skyfence.ground.regions" not in deps for mod, deps in graph.items()
               if mod != "skyfence.ground.regions")


def test_one_wgs84_definition():
    """Geodesy in the ground package takes WGS-84 from skyfence.earth (no second copy)."""
    for path in (SRC / "ground").glob("*.py"):
        text = path.read_text()
        assert "298.257223563" not in text and "6378.137" not in text, path.name


# ---- the one H3 parser ----------------------------------------------------------------------


def test_parse_cell_forms_and_errors():
    hexa = "851e6c2bfffffff"
    c = h3.str_to_int(hexa)
    assert parse_cell(hexa) == parse_cell("0x" + hexa.upper()) == parse_cell(str(c)) == c
    assert parse_cell(np.uint64(c)) == c
    for bad in ("851e6c2bffffffg", "", "zzz", -1, 2**64, 1.5, True, None, "8" * 30,
                "851e6c2bfffffff\x00"):
        with pytest.raises(RegionError, match=r"cells\[0\]: .* is not a valid H3 cell"):
            parse_cells([bad])
    # Validity is H3's own (not just a hex number): a res-5 index with a bad digit pattern.
    with pytest.raises(RegionError):
        parse_cell(c & ~7)  # an unused digit (15) that is not 7


def test_parse_cells_at_resolution_expands_coarser_and_refuses_finer():
    coarse = h3.latlng_to_cell(50.45, 30.52, 3)
    fine = h3.latlng_to_cell(50.45, 30.52, 7)
    res5 = h3.latlng_to_cell(10.0, 10.0, 5)
    got = parse_cells_at_resolution([coarse, res5], 5)
    want = sorted({h3.str_to_int(x) for x in h3.cell_to_children(coarse, 5)}
                  | {h3.str_to_int(res5)})
    assert got.tolist() == want and got.dtype == np.uint64
    with pytest.raises(RegionError, match=r"blocked\[1\]: H3 cell .* has resolution 7; .*"
                                          "give the res-5 parent " + h3.cell_to_parent(fine, 5)):
        parse_cells_at_resolution([res5, fine], 5, "blocked")
    with pytest.raises(RegionError, match="mixed H3 resolutions"):
        parse_cells([res5, fine])
    with pytest.raises(RegionError, match="expected 6"):
        parse_cells([res5], resolution=6)
    assert as_cells(np.array([res5])).tolist() == [h3.str_to_int(res5)]
