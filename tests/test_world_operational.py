"""Serving-satellite filter and element-age checks on the real 2023 / 2026 Starlink files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from conftest import TLE_2023, TLE_2026
from skyfence.errors import ElementError
from skyfence.orbits import WalkerShell, load_constellation, walker_constellation
from skyfence.orbits.operational import (
    StaleElementsWarning,
    check_element_age,
    operational_mask,
    serving_constellation,
)


@pytest.fixture(scope="module")
def c2026():
    return load_constellation(TLE_2026)


def test_2026_file_serving_count(c2026):
    sub, rep = serving_constellation(c2026, "2026-02-23T06:00:00Z")
    alt = c2026.mean_altitude_km
    # independent count: every object below 400 km is out, whatever its cluster
    assert (alt < 400).sum() == 973
    assert rep.n_total == 9543
    # nothing that serves is below 400 km, and every object below it is excluded
    assert np.all(c2026.mean_altitude_km[rep.serving] >= 400.0)
    assert rep.n_excluded >= 973
    assert rep.n_serving == len(sub) == 8411
    assert rep.n_not_in_shell + rep.n_low_altitude + rep.n_stale == rep.n_excluded
    assert "8,411 of 9,543 objects serve" in rep.summary()
    # the subset keeps the identities of the serving objects
    assert set(sub.norad_ids.tolist()) == set(c2026.norad_ids[rep.serving].tolist())


def test_unclustered_objects_do_not_serve(c2026):
    from skyfence.orbits import recover_shells

    rec = recover_shells(c2026)
    mask = operational_mask(c2026, recovery=rec)
    assert not mask[rec.shell_index < 0].any()
    assert rec.n_unclustered > 0


def test_fresh_elements_no_warning(c2026):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        age = check_element_age(c2026, "2026-02-23T06:00:00Z")
    assert age.median_days < 1.0


def test_stale_elements_warn_with_age(c2026):
    with pytest.warns(StaleElementsWarning, match=r"1[0-9]\.\d days older"):
        check_element_age(c2026, "2026-03-08T00:00:00Z")
    # a time before the epochs is stale too
    with pytest.warns(StaleElementsWarning, match="newer"):
        check_element_age(c2026, "2026-02-10T00:00:00Z")


def test_very_stale_elements_are_an_error():
    c = load_constellation(TLE_2023)
    with pytest.raises(ElementError, match=r"1\d\d\d\.\d days older"):
        serving_constellation(c, "2026-02-23T00:00:00Z")


def test_walker_shell_all_serve():
    c = walker_constellation([WalkerShell("a", 550.0, 53.0, 10, 10, 1)], "2026-01-01T00:00:00Z")
    sub, rep = serving_constellation(c, "2026-01-01T01:00:00Z")
    assert rep.n_serving == 100 and len(sub) == 100


def test_low_walker_shell_does_not_serve():
    c = walker_constellation([WalkerShell("a", 350.0, 53.0, 10, 10, 1)], "2026-01-01T00:00:00Z")
    sub, rep = serving_constellation(c, "2026-01-01T01:00:00Z")
    assert rep.n_serving == 0 and rep.n_low_altitude == 100 and len(sub) == 0
    _, rep2 = serving_constellation(c, min_altitude_km=300.0)
    assert rep2.n_serving == 100
