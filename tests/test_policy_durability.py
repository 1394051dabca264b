"""Durability of the policy store: SIGKILL in the middle of writes, and concurrent writers."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skyfence.policy.rules import MappingResolver, PolicyDoc
from skyfence.policy.store import PolicyStore

# A writer process: records requests until killed or done and prints, after each commit, what
# it committed. Mode "group" commits 5 requests per transaction (import_history) and prints the
# group number; mode "single" files one request per transaction and prints its id.
WRITER = r"""
import os, sys, time
from skyfence.policy.io import RequestSpec
from skyfence.policy.rules import MappingResolver, PolicyDoc
from skyfence.policy.store import PolicyStore

path, tag, mode, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = PolicyStore(path, resolver=MappingResolver({"Crimea": [599513355757027327]}),
                    busy_timeout_s=60.0)
if len(sys.argv) > 5:  # start barrier: report ready, wait for the go file
    print("ready", flush=True)
    while not os.path.exists(sys.argv[5]):
        time.sleep(0.005)
    print("t0", time.time(), flush=True)
for i in range(n):
    if mode == "group":
        specs = [RequestSpec(key=f"{tag}-{i}-{k}", by=tag, region="Crimea", action="on",
                             why=f"{tag} group {i} item {k}", at="2022-09-01T00:00:00Z")
                 for k in range(5)]
        store.import_history(specs)
        print(i, flush=True)
    else:
        r = store.file_request(by=tag, region="Crimea", action="on", why=f"{tag} record {i}",
                               at="2022-09-01T00:00:00Z")
        print(r.id, i, flush=True)
if len(sys.argv) > 5:
    print("t1", time.time(), flush=True)
store.close()
"""

RESOLVER = MappingResolver({"Crimea": [599513355757027327]})


def _prepare(path: Path) -> None:
    """A store holding the policy the writers' requests concern (requests need one)."""
    with PolicyStore(path, resolver=RESOLVER) as store:
        store.apply_policy(PolicyDoc.model_validate(
            {"rules": [{"name": "crimea-off", "region": "Crimea", "action": "off"}]}), by="lead")


def _writer(path: Path, tag: str, mode: str, n: int, go: Path | None = None
            ) -> subprocess.Popen:
    args = [sys.executable, "-c", WRITER, str(path), tag, mode, str(n)]
    return subprocess.Popen(args + ([str(go)] if go else []), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _run_and_kill(db: Path, tag: str, fraction: float) -> list[int]:
    """Start a group writer, let it commit 10 groups, kill it ``fraction`` into a group."""
    proc = _writer(db, tag, "group", 100_000)
    assert proc.stdout is not None
    stamps: list[float] = []
    printed: list[int] = []
    deadline = time.monotonic() + 60.0
    while len(printed) < 10:
        line = proc.stdout.readline()
        if not line:
            pytest.fail(f"writer stopped early: {proc.stderr.read() if proc.stderr else ''}")
        printed.append(int(line))
        stamps.append(time.monotonic())
        assert stamps[-1] < deadline, "writer too slow"
    per_group_s = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
    time.sleep(fraction * per_group_s)  # land inside the next group's transaction
    os.kill(proc.pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return printed + [int(x) for x in rest.split()]


def test_sigkill_mid_writes_keeps_every_commit_and_no_partial_group(tmp_path):
    db = tmp_path / "kill.sqlite"
    _prepare(db)
    printed = {f"k{j}": _run_and_kill(db, f"k{j}", f) for j, f in enumerate((0.3, 0.5, 0.8))}

    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
    with PolicyStore(db, resolver=RESOLVER) as store:
        reqs = store.requests()
        groups: dict[tuple[str, int], list[str]] = {}
        for r in reqs:
            tag, g, _item = r.key.split("-")
            groups.setdefault((tag, int(g)), []).append(r.why)
        for tag, done in printed.items():
            # every group the writer reported as committed is there, complete and unaltered
            for g in done:
                assert sorted(groups[(tag, g)]) == [f"{tag} group {g} item {k}"
                                                    for k in range(5)]
            # at most the group in flight at the kill may be there (committed, not yet printed)
            stored = {g for t, g in groups if t == tag}
            assert stored - set(done) <= {max(done) + 1}
        # nothing half-written: each group is one transaction, all there or absent
        assert {k: len(v) for k, v in groups.items() if len(v) != 5} == {}
        report = store.verify()
        assert report.ok, [str(f) for f in report.findings]
        assert report.entries == len(reqs) + 1  # + the policy version
        # the store still takes writes after the crashes
        store.file_request(by="after", region="Crimea", action="off", why="still works",
                           at="2022-09-02T00:00:00Z")
        assert store.verify().ok


def test_two_concurrent_writers_lose_nothing(tmp_path):
    db = tmp_path / "two.sqlite"
    _prepare(db)
    n = 60
    go = tmp_path / "go"
    procs = {tag: _writer(db, tag, "single", n, go) for tag in ("alpha", "beta")}
    for proc in procs.values():  # both have opened the store and wait at the barrier
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()
    outputs, spans = {}, {}
    for tag, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        lines = out.splitlines()
        spans[tag] = (float(lines[0].split()[1]), float(lines[-1].split()[1]))
        outputs[tag] = [tuple(map(int, line.split())) for line in lines[1:-1]]
    # the two writers ran at the same time (SQLite serializes their transactions)
    assert max(s for s, _ in spans.values()) < min(e for _, e in spans.values())
    with PolicyStore(db, resolver=RESOLVER) as store:
        reqs = {r.id: r for r in store.requests()}
        assert len(reqs) == 2 * n
        for tag, pairs in outputs.items():
            assert [i for _, i in pairs] == list(range(n))
            for rid, i in pairs:
                assert reqs[rid].requested_by == tag and reqs[rid].why == f"{tag} record {i}"
        # one linear audit chain over both writers' records
        report = store.verify()
        assert report.ok and report.entries == 2 * n + 1
