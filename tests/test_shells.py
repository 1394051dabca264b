"""Walker shells: plane spacing, in-plane spacing, phasing, altitude, presets."""

from __future__ import annotations

import numpy as np
import pytest

from skyfence.errors import InputError
from skyfence.orbits import WalkerShell, load_constellation, preset, propagate, walker_constellation
from skyfence.timeutil import time_grid

EPOCH = "2026-01-01T00:00:00Z"


def _angles_at_epoch(const):
    """RAAN, argument of latitude (deg) from the TEME state at epoch (independent of inputs)."""
    t = np.array([np.datetime64("2026-01-01T00:00:00", "ns")])
    eph = propagate(const, t, frame="TEME", velocity=True)
    r, v = eph.r_km[:, 0], eph.v_km_s[:, 0]
    h = np.cross(r, v)
    node = np.cross([0.0, 0.0, 1.0], h)
    raan = np.degrees(np.arctan2(node[:, 1], node[:, 0])) % 360
    n_hat = node / np.linalg.norm(node, axis=1, keepdims=True)
    cos_u = np.einsum("ij,ij->i", n_hat, r) / np.linalg.norm(r, axis=1)
    sin_sign = np.sign(r[:, 2])
    u = np.degrees(np.arccos(np.clip(cos_u, -1, 1)))
    u = np.where(sin_sign < 0, 360 - u, u)
    incl = np.degrees(np.arccos(h[:, 2] / np.linalg.norm(h, axis=1)))
    return raan, u, incl


def _wrap(x):
    return (x + 180.0) % 360.0 - 180.0


def test_walker_spacing_and_phasing() -> None:
    shell = WalkerShell("t", 550.0, 53.0, planes=12, sats_per_plane=10, phasing=5)
    const = walker_constellation([shell], EPOCH)
    assert len(const) == 120
    raan, u, incl = _angles_at_epoch(const)
    assert incl == pytest.approx(np.full(120, 53.0), abs=0.05)
    # Planes 30 deg apart (osculating values differ slightly from the mean: 0.1 deg).
    plane_raan = np.degrees(np.angle(np.exp(1j * np.radians(raan)).reshape(12, 10).mean(axis=1)))
    assert _wrap(np.diff(plane_raan)) == pytest.approx(np.full(11, 30.0), abs=0.1)
    assert np.abs(_wrap(raan.reshape(12, 10) - plane_raan[:, None])).max() < 0.2
    # In-plane spacing 36 deg.
    du = _wrap(np.diff(u.reshape(12, 10), axis=1))
    assert du == pytest.approx(np.full((12, 9), 36.0), abs=0.2)
    # Phasing: slot 0 of plane k+1 leads slot 0 of plane k by F*360/T = 15 deg.
    lead = _wrap(u.reshape(12, 10)[1:, 0] - u.reshape(12, 10)[:-1, 0])
    assert lead == pytest.approx(np.full(11, 15.0), abs=0.2)


def test_walker_altitude_over_one_orbit() -> None:
    const = walker_constellation([WalkerShell("t", 550.0, 53.0, 2, 2)], EPOCH)
    t = time_grid(EPOCH, 96 * 60, 10)
    r = np.linalg.norm(propagate(const, t, frame="TEME").r_km, axis=-1)
    assert r.mean(axis=1) - 6378.137 == pytest.approx(np.full(4, 550.0), abs=1.0)
    assert const.mean_altitude_km == pytest.approx(np.full(4, 550.0), abs=0.01)


def test_gen1_preset_counts_and_labels() -> None:
    const = preset("starlink-gen1", EPOCH)
    assert len(const) == 4408
    labels, counts = np.unique(np.array(const.shell), return_counts=True)
    assert dict(zip(labels.tolist(), counts.tolist(), strict=True)) == {
        "Gen1-1": 1584, "Gen1-2": 1584, "Gen1-3": 720, "Gen1-4": 348, "Gen1-5": 172,
    }
    assert len(set(const.norad_ids.tolist())) == 4408
    gen2 = load_constellation("starlink-gen2a", epoch=EPOCH)
    assert sorted(set(np.round(gen2.inclination_deg, 3))) == [33.0, 43.0, 53.0]
    assert sorted(set(np.round(gen2.mean_altitude_km))) == [525.0, 530.0, 535.0]


def test_plane_and_slot_indices() -> None:
    const = preset("starlink-gen1-1", EPOCH)
    assert const.plane.max() == 71 and const.slot.max() == 21
    assert np.array_equal(const.plane * 22 + const.slot, np.arange(1584))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"altitude_km": -5}, "altitude_km must be within"),
        ({"inclination_deg": 200}, "inclination_deg must be within"),
        ({"planes": 0}, "planes must be an integer"),
        ({"sats_per_plane": 0}, "sats_per_plane must be an integer"),
        ({"phasing": 12}, r"phasing F must be an integer in \[0, planes-1\]"),
    ],
)
def test_bad_shell_parameters(kwargs, message) -> None:
    base = {"name": "x", "altitude_km": 550.0, "inclination_deg": 53.0, "planes": 12,
            "sats_per_plane": 10, "phasing": 1}
    base.update(kwargs)
    with pytest.raises(InputError, match=message):
        WalkerShell(**base)


def test_unknown_preset_suggests() -> None:
    with pytest.raises(InputError, match="did you mean 'starlink-gen1'"):
        load_constellation("starlink-gen")
    with pytest.raises(InputError, match="element file not found"):
        load_constellation("missing/file.tle")
