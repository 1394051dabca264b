"""``skyfence propagate``: SGP4 positions (ITRS, km) of a constellation to Parquet or CSV.

Failed states (SGP4 errors 1-6 and skyfence's 7, "not physical": see
`skyfence.orbits.propagate`) are never written silently: without ``--with-errors`` the command
stops at the first failed state and says how many satellites failed and why; with it, failed
states are NaN rows whose ``sgp4_error`` column holds the code, and a warning line gives the
counts. A run in which no state is usable is an error either way. The output is written to a
temporary file beside ``--out`` and renamed into place only when everything succeeded: an
error leaves nothing behind (and an existing file untouched).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from .. import limits
from ..errors import ElementError, InputError, ResourceError
from ..orbits import iter_ephemeris, load_constellation
from ..orbits.propagate import PropagationHealth, check_ephemeris, chunk_length, ephemeris_health
from ..timeutil import parse_duration, parse_time, time_grid
from ._progress import progress_bar

__all__ = ["DEFAULT_MAX_ROWS", "PropagateResult", "propagate_to_file", "register"]

#: Default cap on the rows one ``propagate`` run may write (~20 GB of Parquet); ``--max-rows``.
DEFAULT_MAX_ROWS = 500_000_000
_MAX_STEPS = 50_000_000  # time steps: the time array alone is 8 bytes each
_BYTES_PER_ROW = {".parquet": 40, ".csv": 90}  # rough output size, for the refusal message
# Times SGP4 results mean anything for (element epochs are 1957-2056) and datetime64[ns] holds.
_FIRST_YEAR, _LAST_YEAR = 1900, 2200


@dataclass(frozen=True)
class PropagateResult:
    """What `propagate_to_file` wrote: rows, the file, and the failed-state counts."""

    rows: int
    path: Path
    health: PropagationHealth

    def __int__(self) -> int:
        return self.rows


def _human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _check_size(n_sat: int, duration_s: float, step_s: float, suffix: str,
                max_rows: int) -> None:
    if not (step_s > 0 and np.isfinite(step_s)):
        return  # time_grid names the problem
    n_time = int(min(np.floor(duration_s / step_s + 1e-9), 1e18)) + 1
    rows = n_sat * n_time
    size = _human_bytes(rows * _BYTES_PER_ROW[suffix])
    if n_time > _MAX_STEPS:
        raise ResourceError(
            f"--duration / --step ask for {n_time:,} time steps (more than {_MAX_STEPS:,}); "
            f"that is {rows:,} rows (about {size}) for {n_sat:,} satellites. Use a longer "
            "--step or a shorter --duration")
    if rows > max_rows:
        raise ResourceError(
            f"this run would write {rows:,} rows ({n_sat:,} satellites x {n_time:,} steps, "
            f"about {size} as {suffix[1:]}), more than the cap of {max_rows:,} rows; raise it "
            "with --max-rows, or use a longer --step, a shorter --duration or fewer satellites")


def _check_span(t0: np.datetime64, duration_s: float) -> None:
    start_s = float(t0.astype("datetime64[s]").astype(np.int64))
    end_year = 1970 + (start_s + duration_s) / (365.2425 * 86400)
    start_year = 1970 + start_s / (365.2425 * 86400)
    if not _FIRST_YEAR <= start_year < _LAST_YEAR:
        raise InputError(f"start {t0} is outside the years {_FIRST_YEAR}-{_LAST_YEAR}",
                         "--start")
    if end_year >= _LAST_YEAR:
        raise InputError(f"start + duration reaches the year {end_year:.0f}, past "
                         f"{_LAST_YEAR}; element sets carry epochs 1957-2056 and SGP4 is "
                         "meant for days to weeks around them", "--duration")


def propagate_to_file(
    source: str,
    start: str,
    duration: str,
    step: str,
    out: Path,
    *,
    frame: str = "ITRS",
    skip_invalid: bool = False,
    with_errors: bool = False,
    show_progress: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> PropagateResult:
    """Propagate ``source`` over the grid and stream rows to ``out`` (.parquet or .csv).

    Columns: ``norad_id, t_utc, x_km, y_km, z_km`` (positions in ``frame``, km) and, with
    ``with_errors``, ``sgp4_error`` (0 = ok; failed rows hold NaN).

    Raises
    ------
    ElementError
        Without ``with_errors``: at the first failed state (counts and codes in the message).
        Always: when no state at all is usable.
    ResourceError
        When the run would exceed ``max_rows`` rows or 50 million time steps (checked before
        anything is computed).
    InputError
        For a bad ``--out`` (a directory, a device, an unwritable folder, a full disk): see
        `skyfence.limits.atomic_output`.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    target = limits.check_output_path(out, suffixes=(".parquet", ".csv"))
    suffix = target.suffix.lower()
    if not (isinstance(max_rows, int) and max_rows > 0):
        raise InputError(f"must be a whole number > 0, got {max_rows!r}", "--max-rows")
    t0 = parse_time(start, "--start")
    duration_s = parse_duration(duration, "--duration")
    step_s = parse_duration(step, "--step")
    _check_span(t0, duration_s)
    const = load_constellation(source, epoch=t0, skip_invalid=skip_invalid)
    _check_size(len(const), duration_s, step_s, suffix, max_rows)
    t = time_grid(t0, duration_s, step_s)
    schema_fields = [
        ("norad_id", pa.int64()),
        ("t_utc", pa.timestamp("ns", tz="UTC")),
        ("x_km", pa.float64()),
        ("y_km", pa.float64()),
        ("z_km", pa.float64()),
    ]
    if with_errors:
        schema_fields.append(("sgp4_error", pa.uint8()))
    schema = pa.schema(schema_fields)
    chunk = chunk_length(len(const), max_bytes=64 * 2**20)
    health: PropagationHealth | None = None
    rows = 0
    with limits.atomic_output(target, suffixes=(".parquet", ".csv")) as tmp:
        writer: pq.ParquetWriter | pa_csv.CSVWriter = (
            pq.ParquetWriter(tmp, schema) if suffix == ".parquet"
            else pa_csv.CSVWriter(str(tmp), schema))
        with writer, progress_bar(show_progress) as bar:
            task = bar.add_task("propagating", total=int(t.size))
            for eph in iter_ephemeris(const, t, chunk_size=chunk, frame=frame):
                h = ephemeris_health(eph)
                health = h if health is None else health.merge(h)
                if not with_errors and h.n_failed_states:
                    first = ", ".join(map(str, health.failed_ids(5)))
                    raise ElementError(
                        f"{health.summary()} (first: NORAD {first}); failed states have no "
                        "position. Rerun with --with-errors to write them as NaN rows with an "
                        "sgp4_error column, or choose a --start nearer the elements' epochs "
                        f"({_epoch_span(const.epochs_utc)})",
                        f"{source}: propagation from {start}")
                n_sat, n_time = eph.error_code.shape
                r = eph.r_km.reshape(-1, 3)
                cols = [
                    pa.array(np.repeat(eph.norad_ids, n_time)),
                    pa.array(np.tile(eph.t_utc, n_sat).astype("datetime64[ns]"),
                             pa.timestamp("ns", tz="UTC")),
                    pa.array(r[:, 0]),
                    pa.array(r[:, 1]),
                    pa.array(r[:, 2]),
                ]
                if with_errors:
                    cols.append(pa.array(eph.error_code.ravel()))
                writer.write_table(pa.Table.from_arrays(cols, schema=schema))
                rows += n_sat * n_time
                bar.update(task, advance=n_time)
        assert health is not None
        check_ephemeris(health, where=f"{source}: propagation from {start}",
                        epochs_utc=const.epochs_utc)
    return PropagateResult(rows, target, health)


def _epoch_span(epochs: np.ndarray) -> str:
    e = np.asarray(epochs, dtype="datetime64[s]")
    if not e.size:
        return "none"
    first, last = str(e.min())[:10], str(e.max())[:10]
    return first if first == last else f"{first} to {last}"


def register(app: typer.Typer) -> None:
    """Add the ``propagate`` command to ``app``."""

    @app.command("propagate")
    def propagate_cmd(
        source: Annotated[str, typer.Argument(help="Element file (TLE/3LE/OMM) or preset name.")],
        out: Annotated[Path, typer.Option("--out", help="Output file, .parquet or .csv.")],
        start: Annotated[str, typer.Option(help="Start time, ISO 8601 UTC.")] = (
            "2026-02-23T00:00:00Z"),
        duration: Annotated[str, typer.Option(help="Window length, e.g. 10m, 6h, 1d.")] = "10m",
        step: Annotated[str, typer.Option(help="Time step, e.g. 60s.")] = "60s",
        frame: Annotated[str, typer.Option(help="ITRS (Earth-fixed) or TEME.")] = "ITRS",
        skip_invalid: Annotated[bool, typer.Option(
            "--skip-invalid", help="Load the valid records of a file; report the rest.")] = False,
        with_errors: Annotated[bool, typer.Option(
            "--with-errors", help="Write failed states as NaN rows with an sgp4_error column "
            "(0 = ok; 1-6 SGP4's codes, 7 not physical). Without it a failed state stops the "
            "run.")] = False,
        max_rows: Annotated[int, typer.Option(
            "--max-rows", help="Refuse runs that would write more rows than this.")]
        = DEFAULT_MAX_ROWS,
    ) -> None:
        """Propagate every satellite with SGP4 and write positions (km) per time step."""
        frame_u = frame.strip().upper()
        if frame_u not in ("ITRS", "TEME"):
            raise InputError(f"frame must be ITRS or TEME, got {frame!r}", "--frame")
        result = propagate_to_file(source, start, duration, step, out, frame=frame_u,
                                   skip_invalid=skip_invalid, with_errors=with_errors,
                                   show_progress=True, max_rows=max_rows)
        summary = result.health.summary()
        if summary:
            typer.echo(f"Warning: {summary}; their rows are NaN (sgp4_error column)", err=True)
        typer.echo(f"wrote {result.rows:,} rows to {out}")
