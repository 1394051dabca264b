"""Every scenario key does what it says: each is read by the code, and the ones that shape
results change them the way their documentation says."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from _engine_helpers import _scenario
from skyfence import scenario as sc_mod
from skyfence.engine import run
from skyfence.scenario import parse_scenario

ROOT = Path(__file__).parents[1]
SRC = ROOT / "src" / "skyfence"


def _models() -> list[type[BaseModel]]:
    out = []
    for name in dir(sc_mod):
        obj = getattr(sc_mod, name)
        if (isinstance(obj, type) and issubclass(obj, BaseModel)
                and obj.__module__ == sc_mod.__name__):
            out.append(obj)
    return out


def _attributes_read_outside_scenario() -> set[str]:
    names: set[str] = set()
    for path in SRC.rglob("*.py"):
        if path.name == "scenario.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
    return names


def _properties_using(model: type[BaseModel]) -> dict[str, set[str]]:
    """property name -> the fields its body reads (``self.<field>``)."""
    tree = ast.parse(textwrap.dedent(Path(sc_mod.__file__).read_text(encoding="utf-8")))
    out: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == model.__name__:
            for fn in node.body:
                if isinstance(fn, ast.FunctionDef) and any(
                        isinstance(d, ast.Name) and d.id == "property" for d in fn.decorator_list):
                    out[fn.name] = {n.attr for n in ast.walk(fn) if isinstance(n, ast.Attribute)
                                    and isinstance(n.value, ast.Name) and n.value.id == "self"}
    return out


def test_every_key_is_read_somewhere() -> None:
    read = _attributes_read_outside_scenario()
    unread = []
    for model in _models():
        props = _properties_using(model)
        for field in model.model_fields:
            via = [p for p, fields in props.items() if field in fields and p in read]
            if field not in read and not via:
                unread.append(f"{model.__name__}.{field}")
    assert not unread, f"validated but never read: {unread}"


def _kyiv(**over):
    base = _scenario(time={"duration": "10m"},
                     ground={"regions": [], "terminals": [
                         {"name": "Kyiv", "lat": 50.45, "lon": 30.524}]},
                     network={"enabled": True, "rtt_every": "60s"})
    for section, values in over.items():
        base.setdefault(section, {}).update(values)
    return run(parse_scenario(base))


def test_slot_holds_the_serving_satellite() -> None:
    # A 60 s slot holds each step's satellite longer than a 15 s slot at a 15 s step.
    short = _kyiv(time={"step": "15s"}, network={"slot": "15s"})
    long = _kyiv(time={"step": "15s"}, network={"slot": "60s"})
    changes = [t.terminal_summary["serving_changes"].iloc[0] for t in (short, long)]
    assert changes[1] < changes[0]


def test_per_hop_processing_adds_to_the_floor() -> None:
    t = _kyiv(network={"per_hop_ms": 0.5, "latency_model": "propagation"}).terminals
    t = t[t.routed & t.rtt_ms.notna()]
    # access link + laser links + feeder link + fibre from the gateway to the PoP
    links = t["n_laser_hops"].astype(int).to_numpy() + 3
    np.testing.assert_allclose(t.rtt_ms - t.rtt_floor_ms, 2 * 0.5 * links, atol=1e-9)


def test_strategy_and_seed_change_the_serving_satellite() -> None:
    a = _kyiv(constellation={"strategy": "random"}, network={"enabled": False})
    b = _kyiv(constellation={"strategy": "random"}, network={"enabled": False})
    c = _kyiv(network={"enabled": False})
    assert a.terminals["serving_norad_id"].tolist() == b.terminals["serving_norad_id"].tolist()
    assert a.terminals["serving_norad_id"].tolist() != c.terminals["serving_norad_id"].tolist()
    base = _scenario(time={"duration": "10m"}, network={"enabled": False},
                     constellation={"strategy": "random"},
                     ground={"regions": [], "terminals": [
                         {"name": "Kyiv", "lat": 50.45, "lon": 30.524}]})
    base["seed"] = 7
    d = run(parse_scenario(base))
    assert d.terminals["serving_norad_id"].tolist() != a.terminals["serving_norad_id"].tolist()


@pytest.mark.parametrize(("section", "key", "value", "column"), [
    ("constellation", "min_elevation_deg", 40.0, "n_visible"),
    ("constellation", "gso_exclusion", True, "n_visible"),
    ("network", "serving", "coverage", "path_norad_id"),
    ("network", "lasers", False, "n_laser_hops"),
])
def test_keys_change_results(section: str, key: str, value: object, column: str) -> None:
    terms = {"regions": [], "terminals": [{"name": "Manila", "lat": 14.6, "lon": 121.0},
                                          {"name": "Kyiv", "lat": 50.45, "lon": 30.524},
                                          {"name": "Atlantic", "lat": 40.0, "lon": -40.0}]}
    base = _scenario(time={"duration": "10m"}, ground=terms,
                     network={"enabled": True, "rtt_every": "60s"})
    a = run(parse_scenario(base))
    base[section] = {**base.get(section, {}), key: value}
    b = run(parse_scenario(base))
    assert a.terminals[column].astype(str).tolist() != b.terminals[column].astype(str).tolist()


def test_type_checker_is_part_of_make_test_and_fails_on_a_type_error(tmp_path: Path) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test_target = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "mypy" in test_target
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x: int) -> str:\n    return x\n")
    res = subprocess.run([sys.executable, "-m", "mypy", "--config-file",
                          str(ROOT / "pyproject.toml"), str(bad)], capture_output=True, text=True,
                         cwd=tmp_path)
    assert res.returncode == 1 and "Incompatible return value type" in res.stdout
