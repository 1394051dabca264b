"""``skyfence propagate``: SGP4 positions (ITRS, km) of a constellation to Parquet or CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import typer

from ..errors import InputError
from ..orbits import iter_ephemeris, load_constellation
from ..orbits.propagate import chunk_length
from ..timeutil import parse_duration, parse_time, time_grid
from ._progress import progress_bar

__all__ = ["propagate_to_file", "register"]


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
) -> int:
    """Propagate ``source`` over the grid and stream rows to ``out`` (.parquet or .csv).

    Columns: ``norad_id, t_utc, x_km, y_km, z_km`` (positions in ``frame``, km) and, with
    ``with_errors``, ``sgp4_error`` (0 = ok; failed rows hold NaN). Returns the row count.
    """
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise InputError(f"output must end in .parquet or .csv, got {out.name!r}", "--out")
    t0 = parse_time(start, "--start")
    t = time_grid(t0, parse_duration(duration, "--duration"), parse_duration(step, "--step"))
    const = load_constellation(source, epoch=t0, skip_invalid=skip_invalid)
    out.parent.mkdir(parents=True, exist_ok=True)
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
    writer: pq.ParquetWriter | pa_csv.CSVWriter
    if suffix == ".parquet":
        writer = pq.ParquetWriter(out, schema)
    else:
        writer = pa_csv.CSVWriter(out, schema)
    rows = 0
    with writer, progress_bar(show_progress) as bar:
        task = bar.add_task("propagating", total=int(t.size))
        for eph in iter_ephemeris(const, t, chunk_size=chunk, frame=frame):
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
    return rows


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
            "--with-errors", help="Add an sgp4_error column (0 = ok).")] = False,
    ) -> None:
        """Propagate every satellite with SGP4 and write positions (km) per time step."""
        frame_u = frame.upper()
        if frame_u not in ("ITRS", "TEME"):
            raise InputError(f"frame must be ITRS or TEME, got {frame!r}", "--frame")
        rows = propagate_to_file(source, start, duration, step, out, frame=frame_u,
                                 skip_invalid=skip_invalid, with_errors=with_errors,
                                 show_progress=True)
        typer.echo(f"wrote {rows:,} rows to {out}")
