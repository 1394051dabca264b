"""Durability under load: a real ``skyfence serve`` is SIGKILLed during a burst of decisions.
Every decision the clients saw acknowledged is in the store afterwards, with its actor, and
attributable to the token that made it; the audit chain verifies."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from _service_helpers import REPO, World, make_world, server
from skyfence.policy.store import PolicyStore
from skyfence.service.users import token_id_of


def test_sigkill_during_a_burst_of_decisions(tmp_path: Path) -> None:
    world: World = make_world(tmp_path)
    with PolicyStore(world.db, create=False) as st:
        ids = [st.file_request(by="rita", region="Crimea", action="on", why=f"burst {i}").id
               for i in range(60)]
    approvers = ["abe", "abby", "ada"]
    acked: list[dict] = []
    lock = threading.Lock()
    todo = list(ids)
    kill_after = 20
    with server(world, "--no-map", "--rate-limit", "0") as (base, proc):
        killed = threading.Event()

        def worker(k: int) -> None:
            who = approvers[k % len(approvers)]
            headers = {"Authorization": f"Bearer {world.tokens[who]}"}
            with httpx.Client(base_url=base, timeout=10.0, headers=headers) as c:
                while True:
                    with lock:
                        if not todo:
                            return
                        rid = todo.pop(0)
                    # mostly final outcomes; every 7th approved (adds a policy version)
                    outcome = "approved" if rid % 7 == 0 else ("deferred" if rid % 3 == 0
                                                               else "refused")
                    try:
                        r = c.post(f"/api/requests/{rid}/decision",
                                   json={"outcome": outcome, "reason": f"burst by {who}"})
                    except httpx.HTTPError:
                        if killed.is_set():
                            return
                        continue
                    if r.status_code == 200:
                        with lock:
                            acked.append({**r.json(), "token": world.tokens[who]})
                            n = len(acked)
                        if n >= kill_after and not killed.is_set():
                            killed.set()
                            proc.send_signal(signal.SIGKILL)  # mid-burst, others in flight

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert killed.is_set(), f"the burst ended before the kill ({len(acked)} acks)"
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= kill_after
    with PolicyStore(world.db, create=False) as st:
        report = st.verify()
        assert report.ok, [str(f) for f in report.findings]
        for a in acked:
            req = st.request(a["request_id"])
            stored = {d.id: d for d in req.decisions}
            assert a["id"] in stored, f"acknowledged decision {a['id']} lost"
            d = stored[a["id"]]
            assert (d.outcome, d.decided_by, d.reason) == (a["outcome"], a["decided_by"],
                                                           a["reason"])
            if a["policy_version_id"] is not None:
                assert st.versions()[-1].id >= a["policy_version_id"]
    conn = sqlite3.connect(world.db)
    try:
        for a in acked:  # each acknowledged change has its usage-log row (written first)
            tid = token_id_of(a["token"])
            n = conn.execute("SELECT COUNT(*) FROM svc_token_uses WHERE token_id = ? AND "
                             "target = ? AND status = 200",
                             (tid, f"/api/requests/{a['request_id']}/decision")).fetchone()[0]
            assert n == 1, (tid, a["request_id"])
    finally:
        conn.close()
    out = subprocess.run([sys.executable, "-c", "from skyfence.cli import main; main()",
                          "policy", "verify", "--db", str(world.db)], capture_output=True,
                         text=True, env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin"},
                         timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("OK"), out.stderr
