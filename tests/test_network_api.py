"""The network package's public API: explicit, documented, importable."""

from __future__ import annotations

import importlib
import inspect

import pytest

import skyfence.network as network

MODULES = ["sites", "topology", "routing", "slots", "metrics", "whatif"]


def test_package_all_is_unique_and_documented() -> None:
    names = network.__all__
    assert len(names) == len(set(names))
    for name in names:
        obj = getattr(network, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name
    # Everything a submodule exports is reachable from the package.
    for module in MODULES:
        mod = importlib.import_module(f"skyfence.network.{module}")
        missing = [n for n in mod.__all__ if n not in names and not n.isupper()]
        assert not missing, (module, missing)


@pytest.mark.parametrize("module", MODULES)
def test_module_all_names_exist(module: str) -> None:
    mod = importlib.import_module(f"skyfence.network.{module}")
    assert mod.__all__, module
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.{name}"
