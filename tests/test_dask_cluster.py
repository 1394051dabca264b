"""A real Dask cluster on loopback (``dask scheduler`` + two ``dask worker`` processes):
``run --dask tcp://...`` gives exactly the one-process tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _engine_helpers import _scenario, assert_tables_equal
from skyfence.engine import run
from skyfence.errors import InputError
from skyfence.scenario import parse_scenario


def _start(args: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log.open("w"),
                            stderr=subprocess.STDOUT, env=env)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    d = tmp_path_factory.mktemp("dask")
    sfile = d / "scheduler.json"
    procs = [_start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(sfile)], d / "scheduler.log")]
    try:
        deadline = time.time() + 60
        while not sfile.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert sfile.exists(), (d / "scheduler.log").read_text()
        address = json.loads(sfile.read_text())["address"]
        for i in range(2):
            procs.append(_start(["worker", address, "--nthreads", "1", "--no-dashboard",
                                 "--host", "127.0.0.1", "--name", f"w{i}"], d / f"w{i}.log"))
        from dask.distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_loopback_cluster_equals_one_process(cluster) -> None:
    local = run(parse_scenario(_scenario(time={"duration": "12m"}, run={"chunk_steps": 4})))
    remote = run(parse_scenario(_scenario(time={"duration": "12m"},
                                          run={"chunk_steps": 4, "dask": cluster})))
    assert_tables_equal(remote, local)
    # Handover counts cross chunk boundaries, so they are a sharp test of the merge.
    assert remote.terminal_summary["serving_changes"].sum() > 0


def test_bad_scheduler_address_is_a_clear_error() -> None:
    sc = parse_scenario(_scenario(time={"duration": "2m"}, run={"dask": "localhost:1"}))
    with pytest.raises(InputError, match="must be 'local' or a scheduler address"):
        run(sc)
    sc = parse_scenario(_scenario(time={"duration": "2m"}, run={"dask": "tcp://127.0.0.1:9"}))
    with pytest.raises(InputError, match="cannot reach Dask scheduler"):
        run(sc)
