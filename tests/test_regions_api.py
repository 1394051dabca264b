"""Public API of skyfence.ground: explicit ``__all__`` and runnable docstring examples."""

from __future__ import annotations

import doctest
import inspect

import pytest

import skyfence.ground as ground
from skyfence.ground import (
    admin1,
    catalogue,
    cells,
    disputed,
    formats,
    geometry,
    h3index,
    membership,
    regions,
    terminal_files,
    terminals,
    topojson,
)

MODULES = [geometry, formats, catalogue, disputed, admin1, topojson, h3index, cells, membership,
           terminals, terminal_files]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_all_lists_exactly_the_public_definitions(module):
    exported = set(module.__all__)
    assert all(hasattr(module, name) for name in exported)
    defined = {name for name, obj in vars(module).items()
               if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
               and getattr(obj, "__module__", None) == module.__name__}
    assert defined <= exported, f"public but not in __all__: {defined - exported}"


def test_package_reexports_every_module_api():
    for module in [*MODULES, regions]:
        missing = set(module.__all__) - set(ground.__all__)
        assert not missing, f"{module.__name__}: not re-exported: {missing}"
        for name in set(module.__all__) & set(ground.__all__):
            assert getattr(ground, name) is getattr(module, name)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
