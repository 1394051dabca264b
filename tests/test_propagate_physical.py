"""Propagation far from the epoch: impossible states become NaN with error code 7, counted.

References: vis-viva (a state's specific energy fixes its semi-major axis), python-sgp4's own
states (``SatrecArray.sgp4``) and error texts (``sgp4.api.SGP4_ERRORS``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sgp4.api import SGP4_ERRORS
from typer.testing import CliRunner

from conftest import TLE_2026
from skyfence.cli import app
from skyfence.errors import ElementError
from skyfence.orbits import load_constellation, load_elements
from skyfence.orbits.propagate import (
    ERROR_MESSAGES,
    HILL_RADIUS_KM,
    MAX_SMA_GROWTH,
    NOT_PHYSICAL,
    PropagationHealth,
    check_ephemeris,
    ephemeris_health,
    iter_ephemeris,
    not_physical,
    propagate,
)
from skyfence.timeutil import julian_date_utc, time_grid

MU = 398600.8  # WGS-72, km^3/s^2
runner = CliRunner()


@pytest.fixture(scope="module")
def first_ten(shared_data):
    return load_elements(TLE_2026).subset(slice(0, 10))


def test_error_texts_come_from_sgp4():
    assert {k: ERROR_MESSAGES[k] for k in range(1, 7)} == SGP4_ERRORS
    assert ERROR_MESSAGES[0] == "ok" and NOT_PHYSICAL == 7 and NOT_PHYSICAL not in SGP4_ERRORS


def test_not_physical_against_vis_viva():
    a0 = np.array([7000.0])
    r = np.array([7000.0, 0.0, 0.0])
    v_circ = np.sqrt(MU / 7000.0)
    v_esc = np.sqrt(2 * MU / 7000.0)

    def flag(r_km, v_km_s):
        return bool(not_physical(np.array(r_km), np.array(v_km_s), a0, MU))

    assert not flag(r, [0, v_circ, 0])  # a circular orbit at epoch
    assert flag(r, [0, v_esc * 1.0001, 0])  # unbound
    assert flag(r, [0, np.nan, 0])
    assert flag([1e15, 0, 0], [0, 1e-6, 0])  # bound, but far beyond the Hill sphere
    # osculating a from vis-viva: 1/a = 2/r - v^2/mu; just below / above the growth cap
    for factor, expected in ((MAX_SMA_GROWTH * 0.99, False), (MAX_SMA_GROWTH * 1.01, True)):
        a = factor * 7000.0
        v = np.sqrt(MU * (2 / 7000.0 - 1 / a))
        assert flag(r, [0, v, 0]) is expected
    assert pytest.approx(1.5e6) == HILL_RADIUS_KM


def test_2026_elements_from_1950_are_all_failed_never_1e15_km(first_ten):
    t = time_grid("1950-01-01T00:00:00Z", 3600, 600)
    eph = propagate(first_ten, t)
    # sgp4 alone returns code 0 with absurd positions for many of these states
    jd, fr = julian_date_utc(t)
    err, r, _ = first_ten.satrec_array.sgp4(jd, fr)
    raw_ok = err == 0
    assert raw_ok.any() and (np.linalg.norm(r[raw_ok], axis=-1) > 1e12).any()
    # skyfence: every such state is code 7 with NaN, nothing finite remains
    assert (eph.error_code[raw_ok] == NOT_PHYSICAL).all()
    assert np.isnan(eph.r_km).all()
    health = eph.health()
    assert health.n_dead_satellites == 10 and not health.usable
    assert health.by_code[NOT_PHYSICAL] == int(raw_ok.sum())
    with pytest.raises(ElementError, match="no usable satellite") as info:
        check_ephemeris(eph, where="scenario.toml: time.start", epochs_utc=first_ten.epochs_utc)
    assert info.value.where == "scenario.toml: time.start"
    assert "2026-02-2" in info.value.message and "code 7" in info.value.message


def test_no_false_alarm_within_a_week_of_the_epochs(shared_data):
    const = load_elements(TLE_2026)
    eph = propagate(const, time_grid("2026-02-16T00:00:00Z", 14 * 86400, 86400))
    assert not (eph.error_code == NOT_PHYSICAL).any()
    radius = np.linalg.norm(eph.r_km[eph.ok], axis=-1)
    assert radius.max() < 8000  # all Starlink: LEO


def test_health_counts_and_merge_over_chunks(first_ten):
    t = time_grid("2020-01-01T00:00:00Z", 6 * 3600, 600)
    whole = propagate(first_ten, t, frame="TEME").health()
    chunks = list(iter_ephemeris(first_ten, t, chunk_size=7, frame="TEME"))
    assert len(chunks) > 2
    merged = ephemeris_health(chunks)
    assert merged.by_code == whole.by_code
    np.testing.assert_array_equal(merged.ok_steps, whole.ok_steps)
    np.testing.assert_array_equal(merged.failed_steps, whole.failed_steps)
    # brute force over the raw error codes
    codes = np.concatenate([c.error_code for c in chunks], axis=1)
    assert merged.n_failed_states == int((codes != 0).sum())
    assert merged.n_failed_satellites == int((codes != 0).any(axis=1).sum())
    assert merged.n_dead_satellites == int((codes != 0).all(axis=1).sum())
    assert 0 < merged.n_usable_satellites < 10
    assert merged.failed_ids() == [int(x) for x in first_ten.norad_ids[(codes != 0).any(1)]]
    assert "of 10 satellites failed" in merged.summary()
    # usable: no error; more than half failed: an error when a fraction is demanded
    check_ephemeris(merged)
    with pytest.raises(ElementError, match="more than the 50% allowed"):
        check_ephemeris(merged, max_failed_fraction=0.5)
    empty = PropagationHealth(np.zeros(0, np.int64), np.zeros(0, np.int64),
                              np.zeros(0, np.int64))
    assert check_ephemeris(empty).summary() == ""


# ------------------------------------------------------------------------------------------
# the propagate command


def _ten_file(tmp_path: Path) -> Path:
    path = tmp_path / "ten.tle"
    path.write_text("\n".join(TLE_2026.read_text().splitlines()[:30]) + "\n")
    return path


def _error_lines(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.startswith("Error:")]


def test_propagate_refuses_failed_states_without_with_errors(shared_data, tmp_path):
    src = _ten_file(tmp_path)
    out = tmp_path / "pos.csv"
    res = runner.invoke(app, ["propagate", str(src), "--start", "2020-01-01T00:00:00Z",
                              "--out", str(out)])
    assert res.exit_code == 2, res.output
    (line,) = _error_lines(res.output)
    assert "satellites failed" in line and "--with-errors" in line and str(src) in line
    assert not out.exists() and list(tmp_path.iterdir()) == [src]  # nothing written


def test_propagate_with_errors_writes_codes_and_warns(shared_data, tmp_path):
    src = _ten_file(tmp_path)
    out = tmp_path / "pos.csv"
    res = runner.invoke(app, ["propagate", str(src), "--start", "2020-01-01T00:00:00Z",
                              "--duration", "1h", "--step", "10m", "--out", str(out),
                              "--with-errors"])
    assert res.exit_code == 0, res.output
    assert "Warning:" in res.output and "satellites failed" in res.output
    df = pd.read_csv(out)
    assert len(df) == 10 * 7
    failed = df.sgp4_error != 0
    assert failed.any() and (~failed).any()
    assert df.loc[failed, ["x_km", "y_km", "z_km"]].isna().all().all()
    assert df.loc[~failed, ["x_km", "y_km", "z_km"]].notna().all().all()
    radius = np.linalg.norm(df.loc[~failed, ["x_km", "y_km", "z_km"]].to_numpy(), axis=1)
    assert radius.max() < HILL_RADIUS_KM
    assert set(df.sgp4_error.unique()) <= set(ERROR_MESSAGES)


def test_propagate_with_no_usable_state_is_an_error_and_keeps_the_old_file(shared_data,
                                                                         tmp_path):
    src = _ten_file(tmp_path)
    out = tmp_path / "pos.parquet"
    out.write_bytes(b"old contents")
    for extra in ([], ["--with-errors"]):
        res = runner.invoke(app, ["propagate", str(src), "--start", "1950-01-01T00:00:00Z",
                                  "--out", str(out), *extra])
        assert res.exit_code == 2, res.output
        assert len(_error_lines(res.output)) == 1
        assert out.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pos.parquet", "ten.tle"]


@pytest.mark.parametrize(("args", "message"), [
    (["--duration", "36500d"], "time steps"),
    (["--duration", "10m", "--step", "1ns"], "--step"),
    (["--duration", "100d", "--step", "1ms"], "time steps"),
    (["--duration", "1d", "--step", "1s", "--max-rows", "1000"], "--max-rows"),
    (["--duration", "100000d"], "past 2200"),
])
def test_propagate_size_guards_answer_at_once(tmp_path, args, message):
    out = tmp_path / "pos.parquet"
    res = runner.invoke(app, ["propagate", "starlink-gen1", "--out", str(out), *args])
    assert res.exit_code == 2, res.output
    (line,) = _error_lines(res.output)
    assert message in line
    assert not out.exists()


@pytest.mark.parametrize("target", ["dir", "fifo"])
def test_propagate_out_must_be_a_regular_file(tmp_path, target):
    out = tmp_path / "pos.csv"
    if target == "dir":
        out.mkdir()
    else:
        import os

        os.mkfifo(out)
    res = runner.invoke(app, ["propagate", "starlink-gen1-5", "--out", str(out)])
    assert res.exit_code == 2
    (line,) = _error_lines(res.output)
    assert "--out" in line
    assert out.exists() and not out.is_file()


def test_propagate_library_and_preset_unchanged(tmp_path):
    # a healthy run still writes every row, identical to the library
    out = tmp_path / "pos.parquet"
    res = runner.invoke(app, ["propagate", "starlink-gen1-5", "--duration", "2m",
                              "--out", str(out)])
    assert res.exit_code == 0 and "Warning" not in res.output
    const = load_constellation("starlink-gen1-5", epoch="2026-02-23T00:00:00Z")
    assert len(pd.read_parquet(out)) == len(const) * 3
