"""Hypatia directories and dynamic state, against independent references.

The tiny network is written by this file in Hypatia's formats with plain Python and sgp4's own
TLE exporter (not skyfence's writer); forwarding state is parsed by a reader written here from
Hypatia's documented format; paths are compared with networkx shortest paths on a graph built
from skyfield positions, and with skyfence's `Router`.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from sgp4.api import Satrec
from skyfield.api import EarthSatellite, load, wgs84
from skyfield.framelib import itrs
from typer.testing import CliRunner

from hypatia_tiny import (
    MAX_GSL_M,
    N_GS,
    N_ORB,
    N_PER,
    N_SAT,
    STATIONS,
    isls_shuffled,
    write_tiny,
)
from skyfence.cli import app
from skyfence.earth import SPEED_OF_LIGHT_KM_S
from skyfence.errors import InputError
from skyfence.interop.hypatia import (
    hypatia_plus_grid_isls,
    hypatia_shell_tles,
    network_from_constellation,
    read_hypatia_dir,
    write_hypatia_dir,
)
from skyfence.interop.hypatia_state import iter_dynamic_state, path_length_m
from skyfence.network import Router, Snapshot
from skyfence.orbits import preset, propagate

runner = CliRunner()

ONE_METRE = 1.0
STEP_S = 60
N_STEPS = 4


# --- an fstate reader written from Hypatia's documented format -----------------------------
# fstate_<t>.txt: "current_node_id,destination_node_id,next_hop_node_id,my_interface_id,
# next_hop_interface_id" per line; the first file is complete, later ones hold changes.

def read_states(folder: Path) -> list[tuple[int, dict, list]]:
    files = sorted(folder.glob("fstate_*.txt"), key=lambda p: int(p.stem.split("_")[1]))
    state: dict = {}
    out = []
    for f in files:
        t = int(f.stem.split("_")[1])
        delta = []
        for line in f.read_text().splitlines():
            c, d, nh, a, b = (int(x) for x in line.split(","))
            delta.append(((c, d), (nh, a, b)))
            state[(c, d)] = (nh, a, b)
        out.append((t, dict(state), delta))
    return out


def follow(state: dict, src: int, dst: int) -> list[int] | None:
    path = [src]
    while path[-1] != dst:
        nh = state[(path[-1], dst)][0]
        if nh == -1 or len(path) > N_SAT + N_GS:
            return None
        path.append(nh)
    return path


# --- independent geometry (skyfield) ---------------------------------------------------------

_TS = load.timescale()


def skyfield_positions_m(folder: Path, t_s: float) -> np.ndarray:
    """ITRS positions (m) of satellites then stations at t_s after 2024-03-01 00:00 UTC."""
    body = (folder / "tles.txt").read_text().splitlines()[1:]
    t = _TS.utc(2024, 3, 1, 0, 0, t_s)
    sats = [EarthSatellite(body[3 * k + 1], body[3 * k + 2], ts=_TS).at(t).frame_xyz(itrs).m
            for k in range(N_SAT)]
    gs = [wgs84.latlon(la, lo, elevation_m=el).at(t).frame_xyz(itrs).m
          for _, la, lo, el in STATIONS]
    return np.array(sats + gs)


def interfaces_from_file_order() -> tuple[dict, list[int]]:
    counts = [0] * N_SAT
    ifs = {}
    for a, b in isls_shuffled():
        ifs[(a, b)] = counts[a]
        ifs[(b, a)] = counts[b]
        counts[a] += 1
        counts[b] += 1
    return ifs, counts


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return write_tiny(tmp_path_factory.mktemp("hyp") / "tiny")


@pytest.fixture(scope="module")
def state_dir(tiny: Path) -> Path:
    out = tiny / "dynamic_state"
    res = runner.invoke(app, ["hypatia", "dynamic-state", str(tiny), "--duration",
                              f"{N_STEPS * STEP_S}s", "--step", f"{STEP_S * 1000}ms",
                              "--algorithm", "free_one_only_over_isls", "--out", str(out),
                              "--quiet"])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def positions(tiny: Path) -> list[np.ndarray]:
    return [skyfield_positions_m(tiny, k * STEP_S) for k in range(N_STEPS)]


def test_reads_the_directory(tiny: Path) -> None:
    net = read_hypatia_dir(tiny)
    assert (net.n_orbits, net.n_sats_per_orbit, net.n_sats, net.n_gs) == (N_ORB, N_PER, N_SAT,
                                                                         N_GS)
    # Hypatia's t = 0 is the element sets' epoch.
    assert net.epoch_utc == np.datetime64("2024-03-01T00:00:00", "ns")
    assert net.isls == tuple(isls_shuffled())
    ifs, counts = interfaces_from_file_order()
    if_a, if_b, num = net.isl_interfaces
    assert num.tolist() == counts == [4] * N_SAT
    assert [ifs[(a, b)] for a, b in net.isls] == if_a.tolist()
    assert [ifs[(b, a)] for a, b in net.isls] == if_b.tolist()
    assert net.ground_stations[1].name == "Nairobi"
    assert net.ground_stations[1].cartesian_m is None  # basic format
    assert net.max_gsl_length_m == MAX_GSL_M and net.link_rule.max_range_km == MAX_GSL_M / 1e3
    # Plane and slot from the header; positions identical to skyfield's within a few metres.
    assert net.constellation.plane[N_PER] == 1 and net.constellation.slot[N_PER + 3] == 3
    r = propagate(net.constellation, np.array([net.epoch_utc])).r_km[:, 0, :] * 1e3
    ref = skyfield_positions_m(tiny, 0.0)[:N_SAT]
    assert np.abs(r - ref).max() < 50 * ONE_METRE


def test_dynamic_state_paths_equal_networkx_and_router(tiny: Path, state_dir: Path,
                                                       positions: list[np.ndarray]) -> None:
    net = read_hypatia_dir(tiny)
    states = read_states(state_dir)
    assert [t for t, _, _ in states] == [k * STEP_S * 10**9 for k in range(N_STEPS)]
    isls = isls_shuffled()
    router = Router()
    n_paths = n_drops = 0
    for k, (t_ns, state, _) in enumerate(states):
        pos = positions[k]
        # networkx reference: satellites + ISLs, plus the two stations of each pair.
        g = nx.Graph()
        g.add_weighted_edges_from((a, b, float(np.linalg.norm(pos[a] - pos[b])))
                                  for a, b in isls)
        rng = np.linalg.norm(pos[N_SAT:, None, :] - pos[None, :N_SAT, :], axis=2)
        margin = np.abs(rng - MAX_GSL_M)
        assert margin.min() > 100.0, "a satellite sits on the range limit: ambiguous test"
        # skyfence's router on skyfence's positions with Hypatia's range rule.
        r_km = propagate(net.constellation, np.array([net.epoch_utc
                                                      + np.timedelta64(t_ns, "ns")])).r_km[:, 0]
        lasers = net.isl_array
        snap = Snapshot.space_only(r_km, lasers, np.linalg.norm(
            r_km[lasers[:, 0]] - r_km[lasers[:, 1]], axis=1))
        cand = net.link_rule.candidates(net.gs_lat_deg, net.gs_lon_deg, net.gs_alt_km, r_km)
        site = router.between_sites(snap, N_GS, cand.point, cand.sat, cand.range_km)
        for s in range(N_GS):
            for d in range(N_GS):
                if s == d:
                    continue
                src, dst = N_SAT + s, N_SAT + d
                got = follow(state, src, dst)
                h = g.copy()
                for node in (src, dst):
                    h.add_weighted_edges_from(
                        (node, j, float(rng[node - N_SAT, j]))
                        for j in np.flatnonzero(rng[node - N_SAT] <= MAX_GSL_M))
                try:
                    ref = nx.dijkstra_path(h, src, dst)
                except (nx.NetworkXNoPath, nx.NodeNotFound):
                    ref = None
                if ref is None:
                    assert got is None and np.isnan(site.one_way_ms[s, d])
                    n_drops += 1
                    continue
                assert got == ref, (t_ns, s, d)
                length = path_length_m(net, t_ns, got)
                assert length == pytest.approx(
                    site.one_way_ms[s, d] / 1e3 * SPEED_OF_LIGHT_KM_S * 1e3, abs=1e-3)
                assert site.n_laser_hops[s, d] == len(got) - 3
                ref_len = nx.path_weight(h, ref, "weight")
                assert length == pytest.approx(ref_len, abs=100 * ONE_METRE)
                n_paths += 1
    assert n_paths > 20 and n_drops > 0  # both kinds occur in this network


def test_every_next_hop_is_an_isl_or_an_in_range_ground_link(state_dir: Path,
                                                             positions: list[np.ndarray]
                                                             ) -> None:
    ifs, counts = interfaces_from_file_order()
    isl_set = set(isls_shuffled())
    for k, (_, state, _) in enumerate(read_states(state_dir)):
        pos = positions[k]
        assert len(state) == N_SAT * N_GS + N_GS * (N_GS - 1)
        for (cur, dst), (nh, my_if, nx_if) in state.items():
            assert dst >= N_SAT
            if nh == -1:
                assert (my_if, nx_if) == (-1, -1)
                continue
            if cur < N_SAT and nh < N_SAT:
                assert (min(cur, nh), max(cur, nh)) in isl_set
                assert (my_if, nx_if) == (ifs[(cur, nh)], ifs[(nh, cur)])
            elif cur < N_SAT:
                assert nh == dst  # a satellite only hands over to the destination station
                assert np.linalg.norm(pos[cur] - pos[nh]) <= MAX_GSL_M
                assert (my_if, nx_if) == (counts[cur], 0)  # its one GSL interface
            else:
                assert nh < N_SAT  # stations never relay to stations
                assert np.linalg.norm(pos[cur] - pos[nh]) <= MAX_GSL_M
                assert (my_if, nx_if) == (0, counts[nh])


def test_delta_files_hold_only_changes(tiny: Path, state_dir: Path) -> None:
    net = read_hypatia_dir(tiny)
    states = read_states(state_dir)
    assert len(states[0][2]) == N_SAT * N_GS + N_GS * (N_GS - 1)  # full at t = 0
    n_changes = 0
    for (_, prev, _), (t_ns, state, delta) in itertools.pairwise(states):
        for key, value in delta:
            assert prev[key] != value  # every line is a change
        n_changes += len(delta)
        # ... and no change is missing: the state equals a fresh full computation at t.
        fresh = next(iter_dynamic_state(net, "free_one_only_over_isls", t_ns + 1,
                                        STEP_S * 10**9, offset_ns=t_ns))
        keys = list(states[0][1])
        assert [state[k] for k in keys] == [tuple(v) for v in fresh.fstate.tolist()]
    assert n_changes > 0
    bw = sorted(state_dir.glob("gsl_if_bandwidth_*.txt"), key=lambda p: int(p.stem.split("_")[-1]))
    assert bw[0].read_text().splitlines()[:2] == ["0,4,1.000000", "1,4,1.000000"]
    assert len(bw[0].read_text().splitlines()) == N_SAT + N_GS
    assert all(f.read_text() == "" for f in bw[1:])  # as satgenpy: only at t = 0


def test_sat_many_and_paired_interfaces(tmp_path: Path) -> None:
    rows = [f"{N_GS},{N_GS:f}"] * N_SAT + ["1,1.000000"] * N_GS
    d = write_tiny(tmp_path / "many", interfaces=rows)
    res = runner.invoke(app, ["hypatia", "dynamic-state", str(d), "--duration", "60s",
                              "--step", "60s", "--algorithm",
                              "algorithm_free_gs_one_sat_many_only_over_isls", "--out",
                              str(tmp_path / "s1"), "--quiet"])
    assert res.exit_code == 0, res.output
    (_, state, _), = read_states(tmp_path / "s1")
    _, counts = interfaces_from_file_order()
    seen = 0
    for (cur, dst), (nh, my_if, nx_if) in state.items():
        if nh >= N_SAT and cur < N_SAT:  # satellite -> station on the station's own interface
            assert (my_if, nx_if) == (counts[cur] + dst - N_SAT, 0)
            seen += 1
        elif cur >= N_SAT and nh >= 0:  # station -> satellite, arriving on its own interface
            assert (my_if, nx_if) == (0, counts[nh] + cur - N_SAT)
    assert seen > 0
    bw = (tmp_path / "s1" / "gsl_if_bandwidth_0.txt").read_text().splitlines()
    assert len(bw) == N_SAT * N_GS + N_GS and bw[0] == "0,4,1.000000" and bw[N_GS] == "1,4,1.000000"
    # Paired: each station only uses its nearest satellite; shares split its bandwidth.
    paired = [f"{N_GS},1.000000"] * N_SAT + ["1,1.000000"] * N_GS
    d2 = write_tiny(tmp_path / "paired", interfaces=paired)
    res = runner.invoke(app, ["hypatia", "dynamic-state", str(d2), "--duration", "120s",
                              "--step", "60s", "--algorithm", "paired_many_only_over_isls",
                              "--out", str(tmp_path / "s2"), "--quiet"])
    assert res.exit_code == 0, res.output
    pos = skyfield_positions_m(d2, 0.0)
    (_, st0, _), (_, _, _) = read_states(tmp_path / "s2")
    nearest = {}
    for g in range(N_GS):
        rng = np.linalg.norm(pos[:N_SAT] - pos[N_SAT + g], axis=1)
        if rng.min() <= MAX_GSL_M:
            nearest[g] = int(np.argmin(rng))
    for g, s in nearest.items():
        for h in range(N_GS):
            if h != g and st0[(N_SAT + g, N_SAT + h)][0] != -1:
                assert st0[(N_SAT + g, N_SAT + h)][0] == s
    share = {s: list(nearest.values()).count(s) for s in nearest.values()}
    bw0 = dict(((int(n), int(i)), float(v)) for n, i, v in (
        x.split(",") for x in (tmp_path / "s2" / "gsl_if_bandwidth_0.txt").read_text().split()))
    for g, s in nearest.items():
        assert bw0[(s, counts[s] + g)] == pytest.approx(1.0 / share[s], abs=1e-6)
        assert bw0[(N_SAT + g, 0)] == pytest.approx(1.0 / share[s], abs=1e-6)


def test_gs_relays_equal_networkx(tmp_path: Path) -> None:
    d = write_tiny(tmp_path / "relays", isls=False)
    res = runner.invoke(app, ["hypatia", "dynamic-state", str(d), "--duration", "60s", "--step",
                              "60s", "--algorithm", "free_one_only_gs_relays", "--out",
                              str(tmp_path / "s"), "--quiet"])
    assert res.exit_code == 0, res.output
    (_, state, _), = read_states(tmp_path / "s")
    assert len(state) == (N_SAT + N_GS) * N_GS - N_GS
    pos = skyfield_positions_m(d, 0.0)
    g = nx.Graph()
    for s in range(N_GS):
        for j in range(N_SAT):
            dist = float(np.linalg.norm(pos[N_SAT + s] - pos[j]))
            if dist <= MAX_GSL_M:
                g.add_edge(N_SAT + s, j, weight=dist)
    for s in range(N_GS):
        for dd in range(N_GS):
            if s == dd:
                continue
            got = follow(state, N_SAT + s, N_SAT + dd)
            try:
                ref = nx.dijkstra_path(g, N_SAT + s, N_SAT + dd)
            except (nx.NetworkXNoPath, nx.NodeNotFound):
                ref = None
            assert got == ref
    # With ISLs present the algorithm refuses, as satgenpy does.
    res = runner.invoke(app, ["hypatia", "dynamic-state", str(write_tiny(tmp_path / "x")),
                              "--algorithm", "free_one_only_gs_relays", "--out",
                              str(tmp_path / "s3"), "--quiet"])
    assert res.exit_code == 2 and "permits no ISLs" in res.output


def test_write_read_is_byte_identical(tiny: Path, tmp_path: Path) -> None:
    net = read_hypatia_dir(tiny)
    write_hypatia_dir(net, tmp_path / "copy")
    again = read_hypatia_dir(tmp_path / "copy")
    assert again == net
    for name in ("tles.txt", "isls.txt", "description.txt"):
        assert (tmp_path / "copy" / name).read_bytes() == (tiny / name).read_bytes()
    with pytest.raises(InputError, match="already holds"):
        write_hypatia_dir(net, tmp_path / "copy")


def test_export_then_import_is_identical(tmp_path: Path) -> None:
    const = preset("starlink-gen1-1", "2026-02-23T00:00:00Z")
    net, report = network_from_constellation(
        const, ["Kyiv", "Warsaw", "Tokyo"], [50.45, 52.23, 35.68], [30.52, 21.01, 139.65],
        [179.0, 100.0, 40.0], epoch_utc=np.datetime64("2026-02-23T00:00:00"),
        min_elevation_deg=25.0, window_s=300.0)
    assert report.refitted == 0 and report.fit_max_error_km < 0.02  # TLE rounding only
    assert (net.n_orbits, net.n_sats_per_orbit) == (72, 22)
    # The mask became a range on the stations' sphere: elevation 25 deg there.
    from skyfence.network.links import elevation_for_range_deg

    rs = np.mean([s.a * s.radiusearthkm for s in const.satrecs])
    assert elevation_for_range_deg(net.max_gsl_length_m / 1e3, rs, report.site_radius_km) == \
        pytest.approx(25.0, abs=1e-6)
    write_hypatia_dir(net, tmp_path / "exp")
    back = read_hypatia_dir(tmp_path / "exp")
    assert back == net
    write_hypatia_dir(back, tmp_path / "exp2")
    for f in sorted((tmp_path / "exp").iterdir()):
        assert (tmp_path / "exp2" / f.name).read_bytes() == f.read_bytes(), f.name
    # Same satellites: the written element sets reproduce the originals within TLE rounding.
    t = np.datetime64("2026-02-23T00:00:00") + np.arange(0, 300, 60).astype("timedelta64[s]")
    d = np.linalg.norm(propagate(back.constellation, t).r_km - propagate(const, t).r_km, axis=-1)
    assert d.max() < 0.02
    assert back.constellation.names == const.names
    # +Grid: four lasers per satellite, all within max_isl_length_m.
    assert np.bincount(back.isl_array.ravel(), minlength=len(const)).tolist() == \
        [4] * len(const)


def test_export_real_element_sets_refits_one_epoch(shared_data: Path, tmp_path: Path) -> None:
    from skyfence.orbits import load_elements

    const = load_elements(shared_data / "starlink-2026-02-23.tle").subset(slice(0, 60))
    assert np.unique(const.epochs_utc).size > 1  # real sets: many epochs
    epoch = np.datetime64("2026-02-23T06:00:00")
    net, report = network_from_constellation(
        const, ["Kyiv"], [50.45], [30.52], epoch_utc=epoch, window_s=600.0, isls=[[0, 1]],
        max_isl_length_m=1e8)
    assert report.refitted == 60
    assert report.fit_max_error_km < 0.5  # refit + TLE rounding over two orbits
    write_hypatia_dir(net, tmp_path / "real")
    back = read_hypatia_dir(tmp_path / "real")
    assert back == net and np.all(back.constellation.epochs_utc == epoch)
    assert back.constellation.norad_ids.tolist() == const.norad_ids.tolist()


def test_hypatia_generators_follow_its_rules() -> None:
    tles = hypatia_shell_tles("Starlink-550", 72, 22, 53.0, 15.19)
    assert len(tles) == 1584 and tles[23][0] == "Starlink-550 23"
    sat = Satrec.twoline2rv(tles[23][1], tles[23][2])
    # Orbit 1 (odd: shifted by half a slot), satellite 1: RAAN 5 deg, mean anomaly 24.5454 deg.
    assert math.degrees(sat.nodeo) == pytest.approx(5.0, abs=1e-4)
    assert math.degrees(sat.mo) == pytest.approx(360 / 44 + 360 / 22, abs=1e-4)
    assert sat.no_kozai * 1440 / (2 * math.pi) == pytest.approx(15.19, abs=1e-8)
    assert tles[23][1][18:32] == "00001.00000000" and sat.satnum == 24
    pairs = hypatia_plus_grid_isls(72, 22)
    assert pairs.shape == (3168, 2) and (pairs[:, 0] < pairs[:, 1]).all()
    assert np.unique(pairs, axis=0).shape[0] == 3168
    assert pairs[:2].tolist() == [[0, 1], [0, 22]]
    assert np.bincount(pairs.ravel()).tolist() == [4] * 1584


BAD = {
    "header": ("tles.txt", lambda t: t.split("\n", 1)[1], "tles.txt:1"),
    "sid": ("tles.txt", lambda t: t.replace("Tiny 1\n", "Tiny 7\n", 1), "tles.txt:5"),
    "count": ("tles.txt", lambda t: t.replace("6 8\n", "6 9\n", 1), "6 x 9"),
    "isl-range": ("isls.txt", lambda t: t + "3 48\n", "does not exist"),
    "isl-order": ("isls.txt", lambda t: "5 2\n" + t, "isls.txt:1"),
    "isl-dup": ("isls.txt", lambda t: t + t.splitlines()[0] + "\n", "duplicate ISL"),
    "gid": ("ground_stations.txt", lambda t: t.replace("1,Nairobi", "2,Nairobi"),
            "ground_stations.txt:2"),
    "columns": ("ground_stations.txt", lambda t: t.replace(",1795.0", ""), "columns"),
    "description": ("description.txt", lambda t: t.splitlines()[0] + "\n", "max_isl_length_m"),
    "interfaces": ("gsl_interfaces_info.txt", lambda t: t.rsplit("\n", 2)[0] + "\n", "nodes"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_directories_give_one_line_errors(case: str, tmp_path: Path) -> None:
    d = write_tiny(tmp_path / case)
    name, edit, message = BAD[case]
    (d / name).write_text(edit((d / name).read_text()))
    res = runner.invoke(app, ["hypatia", "info", str(d)])
    assert res.exit_code == 2
    assert res.output.startswith("Error: ") and message in res.output
    assert "Traceback" not in res.output


def test_bad_epoch_and_algorithm(tmp_path: Path) -> None:
    d = write_tiny(tmp_path / "ep")
    text = (d / "tles.txt").read_text().splitlines()
    l1 = text[5]
    l1 = l1[:18] + "24062.00000000" + l1[32:68]
    digits = sum(int(c) if c.isdigit() else (c == "-") for c in l1) % 10
    text[5] = l1 + str(digits)
    (d / "tles.txt").write_text("\n".join(text) + "\n")
    with pytest.raises(InputError, match="one common epoch"):
        read_hypatia_dir(d)
    res = runner.invoke(app, ["hypatia", "dynamic-state", str(write_tiny(tmp_path / "ok")),
                              "--algorithm", "free_one_only_over_isl", "--quiet"])
    assert res.exit_code == 2 and "did you mean 'free_one_only_over_isls'" in res.output


def test_cli_export_of_a_scenario_runs_through_dynamic_state(tmp_path: Path) -> None:
    out = tmp_path / "gen1-5"
    res = runner.invoke(app, ["hypatia", "export", "--constellation", "starlink-gen1-5",
                              "--ground", "gateways", "--epoch", "2026-02-23T00:00:00Z",
                              "--duration", "60s", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "range" in res.output and "approximation" in res.output
    net = read_hypatia_dir(out)
    assert (net.n_orbits, net.n_sats_per_orbit) == (4, 43)  # one Walker shell: its grid
    assert net.epoch_utc == np.datetime64("2026-02-23T00:00:00", "ns")
    assert dict(net.description_extra)["skyfence_max_gsl_length_m.Gen1-5"]
    res = runner.invoke(app, ["hypatia", "dynamic-state", str(out), "--duration", "2s",
                              "--step", "1000ms", "--quiet"])
    assert res.exit_code == 0, res.output
    state = out / "dynamic_state_1000ms_for_2s"
    assert sorted(p.name for p in state.iterdir()) == [
        "fstate_0.txt", "fstate_1000000000.txt", "gsl_if_bandwidth_0.txt",
        "gsl_if_bandwidth_1000000000.txt"]
    res = runner.invoke(app, ["hypatia", "paths", str(out), str(state), "--pair", "0,1"])
    assert res.exit_code == 0 and res.output.splitlines()[1] == "t_ns,rtt_ms,hops,path"
    # Refuses to overwrite without being asked.
    res = runner.invoke(app, ["hypatia", "export", "--constellation", "starlink-gen1-5",
                              "--out", str(out)])
    assert res.exit_code == 2 and "already holds" in res.output


def test_directory_as_a_scenario_and_defaults(tmp_path: Path) -> None:
    d = write_tiny(tmp_path / "d")
    net = read_hypatia_dir(d)
    sc = net.to_scenario(duration="2m", step="1s")
    assert sc.time.start_utc == net.epoch_utc
    assert [t.name for t in sc.ground.terminals] == [s[0] for s in STATIONS]
    assert sc.ground.terminals[1].altitude_m == STATIONS[1][3]
    assert sc.network.laser_range_km == pytest.approx(9000.0)
    # Without gsl_interfaces_info.txt the algorithm's own layout is used.
    (d / "gsl_interfaces_info.txt").unlink()
    res = runner.invoke(app, ["hypatia", "dynamic-state", str(d), "--duration", "1s",
                              "--step", "1s", "--out", str(tmp_path / "s"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert len((tmp_path / "s" / "gsl_if_bandwidth_0.txt").read_text().splitlines()) == \
        N_SAT + N_GS
    # An ISL longer than max_isl_length_m stops the computation, as in satgenpy.
    (d / "description.txt").write_text("max_gsl_length_m=3000000.0\nmax_isl_length_m=1000.0\n")
    res = runner.invoke(app, ["hypatia", "dynamic-state", str(d), "--duration", "1s",
                              "--step", "1s", "--out", str(tmp_path / "s2"), "--quiet"])
    assert res.exit_code == 2 and "above max_isl_length_m" in res.output


def test_tles_txt_loads_as_an_element_file_with_its_planes(tiny: Path, tmp_path: Path) -> None:
    from skyfence.errors import ElementError
    from skyfence.orbits import load_constellation, load_elements

    # written by skyfence's own Hypatia writer: "N_ORBITS N_SATS_PER_ORBIT", then 3-line sets
    write_hypatia_dir(read_hypatia_dir(tiny), tmp_path / "copy")
    tles = tmp_path / "copy" / "tles.txt"
    assert tles.read_text().splitlines()[0] == f"{N_ORB} {N_PER}"
    for const in (load_elements(tles), load_constellation(str(tles))):
        assert len(const) == N_SAT and const.report.n_records == N_SAT
        assert const.names[:2] == ("Tiny 0", "Tiny 1")
        # orbit-major, as the header says: plane k holds satellites k*N_PER .. k*N_PER+7;
        # checked against the elements themselves: plane k's RAAN is k * 360 / N_ORB
        assert const.plane.tolist() == [k // N_PER for k in range(N_SAT)]
        assert const.slot.tolist() == [k % N_PER for k in range(N_SAT)]
        raan = np.degrees([s.nodeo for s in const.satrecs])
        np.testing.assert_allclose(raan, const.plane * 360.0 / N_ORB, atol=1e-3)
    res = runner.invoke(app, ["constellation", "info", str(tles)])
    assert res.exit_code == 0, res.output
    assert f"{N_SAT} satellites" in res.output
    assert f"planes (stated by the file): {N_ORB} x {N_PER} satellites" in res.output

    # the header must count the element sets that follow, else an error naming its line
    lines = tles.read_text().splitlines()
    short = tmp_path / "short.txt"
    short.write_text("\n".join(lines[:-3]) + "\n")
    with pytest.raises(ElementError, match=rf"short\.txt:1: the header {N_ORB} {N_PER} .* "
                       rf"promises {N_ORB} x {N_PER} = {N_SAT} element sets, but "
                       rf"{N_SAT - 1} follow"):
        load_elements(short)
    res = runner.invoke(app, ["constellation", "info", str(short)])
    assert res.exit_code == 2 and "short.txt:1:" in res.output
    # only exactly two positive integers make a header: anything else is a bad first line
    for first in ("0 48", f"{N_ORB} {N_PER} 1", f"{N_ORB}"):
        bad = tmp_path / "bad.txt"
        bad.write_text("\n".join([first, *lines[1:]]) + "\n")
        with pytest.raises(ElementError, match=r"bad\.txt:1: the first line .* neither a "
                           r"satellite name followed by a TLE nor Hypatia's header"):
            load_elements(bad)
    # without the header the same sets load with their planes unknown
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(lines[1:]) + "\n")
    const = load_elements(plain)
    assert len(const) == N_SAT and (const.plane == -1).all()
