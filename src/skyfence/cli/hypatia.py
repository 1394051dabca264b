"""``skyfence hypatia``: Hypatia directories in and out, dynamic state for its ns-3 module;
``skyfence view``: an offline Cesium view of a scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from ..errors import InputError
from ._progress import progress_bar

__all__ = ["app", "register"]

app = typer.Typer(
    help="Hypatia (snkas/hypatia) satellite-network directories: inspect, write dynamic "
    "state for its ns-3 module, export from a skyfence scenario, view.",
    no_args_is_help=True,
)

_ALGO_HELP = ("satgenpy algorithm: free_one_only_over_isls, free_gs_one_sat_many_only_over_isls, "
              "paired_many_only_over_isls or free_one_only_gs_relays ('algorithm_' prefix "
              "optional).")


def _scenario(path: Path | None):
    from ..scenario import default_scenario, load_scenario

    return load_scenario(path) if path is not None else default_scenario()


def _ns_label(ns: int) -> str:
    return f"{ns // 1_000_000}ms" if ns % 1_000_000 == 0 else f"{ns}ns"


def _s_label(ns: int) -> str:
    return f"{ns // 1_000_000_000}s" if ns % 1_000_000_000 == 0 else f"{ns / 1e9:g}s"


def _pair(text: str, names: list[str]) -> tuple[int, int]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2:
        raise InputError(f"a pair is 'SRC,DST' (ground-station ids or names), got {text!r}",
                         "--pair")
    out = []
    for p in parts:
        if p.isdigit():
            out.append(int(p))
        elif p in names:
            out.append(names.index(p))
        else:
            raise InputError(f"unknown ground station {p!r} (give its gid or exact name)",
                             "--pair")
    return out[0], out[1]


@app.command("info")
def info(
    directory: Annotated[Path, typer.Argument(help="Hypatia satellite-network directory.")],
) -> None:
    """Summarise a Hypatia directory: satellites, epoch, ISLs, stations, link rules."""
    from ..interop.hypatia import read_hypatia_dir
    from ..network.links import elevation_for_range_deg

    net = read_hypatia_dir(directory)
    const = net.constellation
    sat_r = float(np.mean([s.a * s.radiusearthkm for s in const.satrecs]))
    site_r = float(np.linalg.norm(_gs_itrs(net), axis=1).mean()) if net.n_gs else 6371.0
    el = float(elevation_for_range_deg(net.max_gsl_length_m / 1000.0, sat_r, site_r))
    tab = Table(title=f"Hypatia directory {directory}", show_header=False)
    tab.add_row("satellites", f"{net.n_sats:,} ({net.n_orbits} x {net.n_sats_per_orbit}), "
                f"name {net.name!r}")
    tab.add_row("epoch (t = 0)", f"{np.datetime_as_string(net.epoch_utc, unit='ms')}Z")
    tab.add_row("mean orbit radius", f"{sat_r:,.1f} km (altitude {sat_r - 6378.135:,.1f} km "
                "over WGS-72)")
    tab.add_row("ISLs", f"{len(net.isls):,}")
    fmt = "extended" if net.ground_stations and net.ground_stations[0].cartesian_m else "basic"
    tab.add_row("ground stations", f"{net.n_gs:,} ({fmt} format)")
    tab.add_row("max_gsl_length_m", f"{net.max_gsl_length_m:,.3f} m = elevation {el:.2f} deg "
                f"at that radius from a {site_r:,.1f} km sphere")
    tab.add_row("max_isl_length_m", f"{net.max_isl_length_m:,.3f} m")
    ifs = net.gsl_interfaces
    tab.add_row("gsl_interfaces_info", "absent" if ifs is None else
                f"satellites {sorted({n for n, _ in ifs[:net.n_sats]})} interfaces, stations "
                f"{sorted({n for n, _ in ifs[net.n_sats:]})}")
    Console().print(tab)


def _gs_itrs(net) -> np.ndarray:
    from ..earth import geodetic_to_itrs

    return geodetic_to_itrs(net.gs_lat_deg, net.gs_lon_deg, net.gs_alt_km).reshape(-1, 3)


@app.command("dynamic-state")
def dynamic_state(
    directory: Annotated[Path, typer.Argument(help="Hypatia satellite-network directory.")],
    duration: Annotated[str, typer.Option(help="Simulated time from the epoch (200s, 2m).")]
    = "200s",
    step: Annotated[str, typer.Option(help="Time step (100ms, 1s).")] = "100ms",
    algorithm: Annotated[str, typer.Option(help=_ALGO_HELP)] = "free_one_only_over_isls",
    out: Annotated[Path | None, typer.Option(
        help="Output folder (default DIR/dynamic_state_<step>ms_for_<duration>s, as satgenpy "
        "names it).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace existing state files.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Write fstate_<t_ns>.txt and gsl_if_bandwidth_<t_ns>.txt for Hypatia's ns-3 module."""
    from ..interop.hypatia import read_hypatia_dir
    from ..interop.hypatia_state import duration_ns, get_algorithm, write_dynamic_state

    algo = get_algorithm(algorithm)
    dur, stp = duration_ns(duration, "--duration"), duration_ns(step, "--step")
    if stp <= 0 or dur <= 0:
        raise InputError("duration and step must be > 0", "--step")
    net = read_hypatia_dir(directory)
    target = out if out is not None else (
        Path(directory) / f"dynamic_state_{_ns_label(stp)}_for_{_s_label(dur)}")
    with progress_bar(not quiet) as bar:
        task = bar.add_task(f"{algo.name.removeprefix('algorithm_')}", total=len(range(0, dur,
                                                                                        stp)))
        summary = write_dynamic_state(
            net, target, algo, dur / 1e9, stp / 1e9, overwrite=overwrite,
            on_step=lambda done, total: bar.update(task, completed=done))
    comp = np.array(summary.compute_s) * 1e3
    deltas = summary.fstate_lines[1:]
    typer.echo(f"wrote {len(summary.t_ns)} steps to {summary.out_dir}: {algo.name}, "
               f"{summary.n_entries:,} forwarding entries (full at t = {summary.t_ns[0]} ns"
               + (f", then {np.mean(deltas):,.1f} changed lines per step on average"
                  if deltas else "") + ")")
    typer.echo(f"per step: {np.median(comp):,.1f} ms median compute (max {comp.max():,.1f}); "
               f"total {summary.total_s:,.2f} s with propagation and writing")


@app.command("export")
def export(
    out: Annotated[Path, typer.Option(help="Folder to write the Hypatia directory to.")],
    scenario: Annotated[Path | None, typer.Option(
        help="Scenario TOML (default: the built-in default scenario).")] = None,
    constellation: Annotated[str | None, typer.Option(
        help="Element file or preset instead of the scenario's.")] = None,
    epoch: Annotated[str | None, typer.Option(
        help="Hypatia's t = 0, ISO 8601 UTC (default: the scenario's start).")] = None,
    duration: Annotated[str, typer.Option(
        help="Window the ISLs must stay within max_isl_length_m (and the epoch-refit span).")]
    = "200s",
    ground: Annotated[str, typer.Option(
        help="Ground stations: gateways, terminals or all (gateways first).")] = "all",
    min_elevation: Annotated[float | None, typer.Option(
        help="Elevation mask (deg) for every shell instead of the scenario's.")] = None,
    algorithm: Annotated[str, typer.Option(
        help="Lay out gsl_interfaces_info.txt for this algorithm. " + _ALGO_HELP)]
    = "free_one_only_over_isls",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing directory's files.")]
    = False,
) -> None:
    """Write a Hypatia directory from a skyfence scenario (satellites, sites, +Grid lasers,
    the elevation mask as a range rule per shell)."""
    from ..coverage import elevation_masks
    from ..interop.hypatia import network_from_constellation, write_hypatia_dir
    from ..interop.hypatia_state import duration_ns
    from ..network import load_sites
    from ..orbits import load_constellation
    from ..timeutil import parse_time

    sc = _scenario(scenario)
    t0 = parse_time(epoch, "--epoch") if epoch else sc.time.start_utc
    source = constellation or sc.constellation.source
    const = load_constellation(source, epoch=t0, skip_invalid=sc.constellation.skip_invalid)
    if ground not in ("all", "gateways", "terminals"):
        raise InputError(f"--ground must be all, gateways or terminals, got {ground!r}",
                         "--ground")
    names: list[str] = []
    lat: list[float] = []
    lon: list[float] = []
    alt: list[float] = []
    if ground in ("all", "gateways"):
        sites = load_sites(sc.network.gateways, sc.network.pops)
        for g in sites.gateways:
            names.append(g.name)
            lat.append(g.lat_deg)
            lon.append(g.lon_deg)
            alt.append(g.alt_km * 1000.0)
    if ground in ("all", "terminals"):
        for tm in sc.ground.terminals:
            names.append(tm.name)
            lat.append(tm.lat)
            lon.append(tm.lon)
            alt.append(tm.altitude_m)
    if min_elevation is not None:
        masks = np.full(len(const), float(min_elevation))
    else:
        masks = elevation_masks(const.shell, sc.constellation.min_elevation_deg,
                                sc.constellation.min_elevation_by_shell or None)
    window = duration_ns(duration, "--duration") / 1e9
    net, report = network_from_constellation(
        const, names, lat, lon, alt, epoch_utc=t0, min_elevation_deg=masks,
        laser_range_km=sc.network.laser_range_km, window_s=window, algorithm=algorithm,
        name=const.name)
    files = write_hypatia_dir(net, out, overwrite=overwrite)
    for line in report.lines():
        typer.echo(line)
    typer.echo(f"wrote {len(files)} files to {out}: {net.n_sats:,} satellites, {net.n_gs} "
               f"ground stations, {len(net.isls):,} ISLs")


@app.command("paths")
def paths(
    directory: Annotated[Path, typer.Argument(help="Hypatia satellite-network directory.")],
    state: Annotated[Path, typer.Argument(help="Dynamic-state folder (fstate_*.txt).")],
    pair: Annotated[str, typer.Option(help="SRC,DST ground stations (gids or names).")],
) -> None:
    """Print the path and RTT between two ground stations at every fstate time."""
    from ..earth import SPEED_OF_LIGHT_KM_S
    from ..interop.hypatia import read_hypatia_dir
    from ..interop.hypatia_state import ForwardingState, read_fstate_dir
    from ..orbits import propagate

    net = read_hypatia_dir(directory)
    a, b = _pair(pair, net.gs_names)
    if not (0 <= a < net.n_gs and 0 <= b < net.n_gs) or a == b:
        raise InputError(f"ground stations must differ and lie in [0, {net.n_gs - 1}]",
                         "--pair")
    files = read_fstate_dir(state)
    t_ns = np.array([t for t, _ in files], np.int64)
    r = propagate(net.constellation, net.epoch_utc + t_ns.astype("timedelta64[ns]")).r_km
    gs = _gs_itrs(net)
    fs = ForwardingState(net.n_nodes)
    n = net.n_sats
    typer.echo(f"# {net.gs_names[a]} (node {n + a}) -> {net.gs_names[b]} (node {n + b})")
    typer.echo("t_ns,rtt_ms,hops,path")
    for i, (t, f) in enumerate(files):
        fs.apply(f)
        p = fs.path(n + a, n + b)
        if p is None:
            typer.echo(f"{t},,,-")
            continue
        pos = np.concatenate([r[:, i, :], gs])[p]
        km = float(np.linalg.norm(np.diff(pos, axis=0), axis=1).sum())
        rtt = 2.0 * km / SPEED_OF_LIGHT_KM_S * 1e3
        typer.echo(f"{t},{rtt:.6f},{len(p) - 1},{'-'.join(str(x) for x in p)}")


@app.command("view")
def hypatia_view(
    directory: Annotated[Path, typer.Argument(help="Hypatia satellite-network directory.")],
    out: Annotated[Path, typer.Option(help="Folder for the viewer (index.html, scene.czml).")],
    state: Annotated[Path | None, typer.Option(help="Dynamic-state folder for the paths.")]
    = None,
    pair: Annotated[list[str] | None, typer.Option(
        help="SRC,DST ground stations whose path to draw (repeatable).")] = None,
    duration: Annotated[str, typer.Option(help="Window without a state folder.")] = "10m",
    step: Annotated[str, typer.Option(help="Step without a state folder.")] = "10s",
    serve: Annotated[bool, typer.Option(help="Serve the folder on 127.0.0.1 afterwards.")]
    = False,
    port: Annotated[int, typer.Option(help="Port for --serve.")] = 8000,
    link_cesium: Annotated[bool, typer.Option(
        help="Symlink the cached Cesium build instead of copying it.")] = False,
) -> None:
    """Write an offline Cesium view of a Hypatia directory (and its paths over time)."""
    from ..interop.czml import scene_from_hypatia
    from ..interop.hypatia import read_hypatia_dir
    from ..interop.hypatia_state import duration_ns
    from ..interop.viewer import serve as serve_folder
    from ..interop.viewer import write_viewer

    net = read_hypatia_dir(directory)
    pairs = [_pair(p, net.gs_names) for p in (pair or [])]
    if pairs and state is None:
        raise InputError("--pair needs --state (the dynamic-state folder)", "--pair")
    scene = scene_from_hypatia(net, state, pairs,
                               duration_s=duration_ns(duration, "--duration") / 1e9,
                               step_s=duration_ns(step, "--step") / 1e9)
    write_viewer(scene, out, link_cesium=link_cesium)
    typer.echo(f"wrote the viewer to {out} (scene.czml validated with czml3); open it with "
               f"`skyfence hypatia view ... --serve` or any local web server")
    if serve:
        serve_folder(out, port)


def view(
    out: Annotated[Path, typer.Option(help="Folder for the viewer (index.html, scene.czml).")],
    scenario: Annotated[Path | None, typer.Option(
        help="Scenario TOML (default: the built-in default scenario).")] = None,
    start: Annotated[str | None, typer.Option(help="Window start, ISO 8601 UTC (default the "
                                              "scenario's).")] = None,
    duration: Annotated[str | None, typer.Option(
        help="Window length (default the scenario's).")] = None,
    step: Annotated[str | None, typer.Option(help="Time step (default the scenario's).")]
    = None,
    rtt_every: Annotated[str | None, typer.Option(
        help="Route every this often (default: every step, so paths are drawn at every "
        "step).")] = None,
    terminal: Annotated[list[str] | None, typer.Option(
        help="Terminal to draw with its paths (repeatable; default all, at most 50).")] = None,
    resolution: Annotated[int | None, typer.Option(
        help="Simulate the regions at this H3 resolution (default: the scenario's; cells "
        "beyond 20,000 are drawn as parents).")] = None,
    cells: Annotated[bool, typer.Option(help="Draw the regions' cells by status.")] = True,
    serve: Annotated[bool, typer.Option(help="Serve the folder on 127.0.0.1 afterwards.")]
    = False,
    port: Annotated[int, typer.Option(help="Port for --serve.")] = 8000,
    link_cesium: Annotated[bool, typer.Option(
        help="Symlink the cached Cesium build instead of copying it.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]
    = False,
) -> None:
    """Run a scenario through the engine and write an offline Cesium view of the run:
    satellites, gateways and PoPs, terminals (moving along their tracks, coloured by status)
    and their routed paths per step, cells by status (CZML via czml3; npm cesium, no Ion, no
    imagery). The view's terminal statuses and paths are the run's ``terminals`` table."""
    from ..interop.runview import scene_from_scenario
    from ..interop.viewer import find_cesium, write_viewer
    from ..interop.viewer import serve as serve_folder
    from ._runjob import phase_progress

    if resolution is not None and not 0 <= resolution <= 15:
        raise InputError(f"--resolution must be within 0..15, got {resolution}",
                         "--resolution")
    sc = _scenario(scenario)
    find_cesium()  # before the run: say now if the viewer cannot be written
    with phase_progress(quiet) as bar:
        scene = scene_from_scenario(
            sc, start=start, duration=duration, step=step, rtt_every=rtt_every,
            resolution=resolution, terminals=terminal, cells=cells, phase=bar.phase,
            progress=bar.steps)
        bar.phase("writing the viewer")
        write_viewer(scene, out, link_cesium=link_cesium)
    typer.echo(f"wrote the viewer to {out}: {len(scene.sat_ids):,} satellites, "
               f"{len(scene.sites)} sites, {len(scene.terminals)} terminals, "
               f"{len(scene.cells):,} cells over {scene.t_utc.size} steps (scene.czml "
               "validated with czml3)")
    if serve:
        serve_folder(out, port)


def register(root: typer.Typer) -> None:
    """Add ``skyfence hypatia ...`` and ``skyfence view`` to the root command."""
    root.add_typer(app, name="hypatia")
    root.command("view")(view)
