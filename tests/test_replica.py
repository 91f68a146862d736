"""The streaming replica (gateway/replica.py) through the real `mangalm` command, on a stack of
its own started with `mangalm up --replica`: status and /health report it, the analyst URL
reaches it, uploads appear on it within seconds, a job's commit waits for it (and nothing else
does), an analyst query on it does not slow an upload, and after the primary is SIGKILLed
`mangalm failover` brings the stack back on it with every completed job intact.

The tests run in file order and share the stack; the last ones fail over and make a new replica.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from conftest import PORT_BASE, TEST_PASSWORD, state_home
from fault_helpers import MANGALM, ROOT, export, fingerprints, last_json
from gateway.procs import pid_alive, port_free, wait_until

pytestmark = pytest.mark.slow

BASE = PORT_BASE + 500
PORTS = {"MANGALM_HTTP_PORT": BASE + 7, "MANGALM_POSTGREST_PORT": BASE + 8,
         "MANGALM_SERVICE_PORT": BASE + 9, "MANGALM_POSTGREST_ADMIN_PORT": BASE + 10,
         "MANGALM_PG_PORT": BASE + 432, "MANGALM_REPLICA_PORT": BASE + 433}
PRIMARY = f"postgresql://mangalm:{TEST_PASSWORD}@127.0.0.1:{PORTS['MANGALM_PG_PORT']}/mangalm"
REPLICA = f"postgresql://mangalm:{TEST_PASSWORD}@127.0.0.1:{PORTS['MANGALM_REPLICA_PORT']}/mangalm"
LINES = "SELECT count(*) FROM data.mangalam_invoices"


def mangalm(env, *args, check=True, timeout=600) -> subprocess.CompletedProcess:
    out = subprocess.run([*MANGALM, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                         stdin=subprocess.DEVNULL)
    if check:
        assert out.returncode == 0, f"mangalm {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
    return out


def scalar(url: str, query: str, *params):
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(query, params).fetchone()[0]


def cluster_pids(home: Path) -> list[int]:
    """Every live process whose working directory is one of the stack's data folders."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if Path(os.readlink(proc / "cwd")).parent == home and pid_alive(int(proc.name)):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


@pytest.fixture(scope="module")
def env():
    home = state_home(f"test-replica-{BASE}")
    shutil.rmtree(home, ignore_errors=True)
    e = {**os.environ, "MANGALM_HOME": str(home), "MANGALM_SUPERUSER_PASSWORD": TEST_PASSWORD,
         "MANGALM_UPLOAD_MAX_BYTES": str(1 << 30), **{k: str(v) for k, v in PORTS.items()}}
    for key in ("DATABASE_URL", "MANGALM_JWT_SECRET", "MANGALM_REPLICA_URL", "MANGALM_POSTGREST_INSTANCES"):
        e.pop(key, None)
    started = time.monotonic()
    mangalm(e, "up", "--detach", "--replica", timeout=300)
    print(f"\nup --replica took {time.monotonic() - started:.1f} s")
    yield e
    mangalm(e, "down", check=False, timeout=180)
    assert wait_until(lambda: not cluster_pids(home), 30), f"left running: {cluster_pids(home)}"
    assert all(port_free(p) for p in PORTS.values()), "a port is still taken after down"
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """100k-line exports whose invoice numbers never overlap (one generated part, renamed)."""
    folder = tmp_path_factory.mktemp("replica-files")
    os.chmod(folder, 0o755)
    return {name: export(folder / f"{name}.csv", [(name, lines, 7)])
            for name, lines in (("RA", 100_000), ("RB", 100_000), ("RC", 100_000), ("RD", 10_000))}


def load(env, path: Path) -> tuple[dict, float]:
    started = time.monotonic()
    out = mangalm(env, "load", "--wait", "--json", str(path))
    job = last_json(out.stdout)
    assert job["status"] == "succeeded", job
    return job, time.monotonic() - started


def test_status_health_and_analyst_url_name_the_replica(env):
    info = last_json(mangalm(env, "status", "--json").stdout)
    rep = info["replica"]
    assert rep["state"] == "streaming", rep
    assert rep["in_recovery"] is True and rep["port"] == PORTS["MANGALM_REPLICA_PORT"]
    assert ":***@" in rep["url"] and TEST_PASSWORD not in rep["url"]
    assert rep["lag_bytes"] is not None and rep["lag_seconds"] is not None
    health = httpx.get(f"http://127.0.0.1:{PORTS['MANGALM_HTTP_PORT']}/health", timeout=10).json()
    assert health["status"] == "ok", health
    assert health["components"]["replica"]["ok"] and health["components"]["replica"]["state"] == "streaming"
    # The primary treats it as its synchronous standby (for upload jobs only; see gateway/replica.py).
    assert scalar(PRIMARY, "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'mangalm_replica'") == "sync"
    assert scalar(PRIMARY, "SELECT current_setting('synchronous_commit')") == "local"

    analyst = mangalm(env, "user", "analyst-url").stdout.strip()
    assert f"@127.0.0.1:{PORTS['MANGALM_REPLICA_PORT']}/" in analyst
    with psycopg.connect(analyst, autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery(), current_user").fetchone() == (True, "analyst")
        conn.execute("SELECT count(*) FROM api.stores")
    # Nothing can write there, not even the superuser.
    with psycopg.connect(REPLICA, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE public.nope (x int)")


def test_a_100k_line_upload_appears_on_the_replica_within_seconds(env, files):
    job, seconds = load(env, files["RA"])
    done = time.monotonic()
    primary_lines = scalar(PRIMARY, LINES)
    assert primary_lines == 100_000
    assert wait_until(lambda: scalar(REPLICA, LINES) == primary_lines, 10, 0.02), "not on the replica after 10 s"
    seen_after = time.monotonic() - done
    rep = last_json(mangalm(env, "status", "--json").stdout)["replica"]
    print(f"\n100k-line upload: {seconds:.1f} s on the primary; on the replica {seen_after:.2f} s after it "
          f"returned; lag now {rep['lag_bytes']} bytes, {rep['lag_seconds']} s")
    assert rep["state"] == "streaming"


def test_a_jobs_commit_waits_for_the_replica_and_nothing_else_does(env, files):
    """SIGSTOP the replica's WAL receiver: a job cannot complete (its commit waits for the
    replica's flush), while an ordinary write on the primary commits at once."""
    receiver = scalar(REPLICA, "SELECT pid FROM pg_stat_wal_receiver")
    os.kill(receiver, signal.SIGSTOP)
    try:
        loader = subprocess.Popen([*MANGALM, "load", "--wait", "--json", str(files["RD"])], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        started = time.monotonic()
        with psycopg.connect(PRIMARY, autocommit=True) as conn:
            conn.execute("CREATE TEMP TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (1)")  # asynchronous: does not wait
        assert time.monotonic() - started < 3
        time.sleep(6)
        assert loader.poll() is None, f"the job completed while the replica could not flush it: {loader.communicate()}"
        assert scalar(PRIMARY, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'") >= 1
    finally:
        os.kill(receiver, signal.SIGCONT)
    out, err = loader.communicate(timeout=120)
    assert loader.returncode == 0, err
    assert last_json(out)["status"] == "succeeded"
    assert wait_until(lambda: scalar(REPLICA, LINES) == scalar(PRIMARY, LINES), 10, 0.05)


def test_a_long_analyst_query_on_the_replica_does_not_slow_an_upload(env, files):
    _, alone = load(env, files["RB"])
    analyst = mangalm(env, "user", "analyst-url").stdout.strip()
    outcome = {}

    def long_query():
        # It reads the table uploads write and holds its lock for 25 s (the analyst role's
        # statement_timeout is 30 s): replay of the upload's locks on the standby waits for it,
        # so an upload whose commit waited for replay (remote_apply) would take 25 s more.
        try:
            with psycopg.connect(analyst, autocommit=True) as conn:
                started = time.monotonic()
                conn.execute("SELECT count(*), pg_sleep(25) FROM api.invoice_items")
                outcome["seconds"] = time.monotonic() - started
        except psycopg.Error as e:
            outcome["error"] = str(e).strip().splitlines()[0]

    reader = threading.Thread(target=long_query)
    reader.start()
    try:
        assert wait_until(lambda: scalar(REPLICA, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'analyst' "
                                                  "AND state = 'active'") == 1, 10)
        _, during = load(env, files["RC"])
    finally:
        reader.join(120)
    print(f"\n100k-line upload alone {alone:.1f} s, during a 25 s analyst query on the replica {during:.1f} s; "
          f"the query: {outcome}")
    assert during < 2 * alone + 10, (alone, during)
    assert outcome.get("seconds", 0) >= 25, outcome  # the query ran to its end, beside the upload
    assert wait_until(lambda: scalar(REPLICA, LINES) == scalar(PRIMARY, LINES), 60, 0.1)


def test_failover_refuses_while_the_primary_answers(env):
    out = mangalm(env, "failover", check=False)
    assert out.returncode == 1
    assert "still answers" in out.stderr and "--force" in out.stderr
    assert last_json(mangalm(env, "status", "--json").stdout)["replica"]["state"] == "streaming"


def test_failover_after_the_primary_is_killed_keeps_every_completed_job(env, files):
    home = Path(env["MANGALM_HOME"])
    before = fingerprints(PRIMARY)
    jobs = scalar(PRIMARY, "SELECT array_agg(id ORDER BY id) FROM data.upload_jobs WHERE status = 'succeeded'")
    assert before["mangalam_invoices"][0] == 310_000 and len(jobs) == 4
    postmaster = int((home / "pgdata" / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(postmaster), 10)

    started = time.monotonic()
    out = mangalm(env, "failover")
    took = time.monotonic() - started
    print(f"\nfailover: {took:.1f} s\n{out.stdout}")
    assert "mangalm up --replica" in out.stdout
    assert not scalar(PRIMARY, "SELECT pg_is_in_recovery()")
    assert fingerprints(PRIMARY) == before
    assert scalar(PRIMARY, "SELECT array_agg(id ORDER BY id) FROM data.upload_jobs WHERE status = 'succeeded'") == jobs
    assert list(home.glob("pgdata.failed-*")) and not (home / "replica").exists()

    info = last_json(mangalm(env, "status", "--json").stdout)
    assert info["running"] and info["replica"] is None
    health = httpx.get(f"http://127.0.0.1:{PORTS['MANGALM_HTTP_PORT']}/health", timeout=10)
    assert health.status_code == 200 and "replica" not in health.json()["components"]
    job, _ = load(env, files["RD"].with_name("RD.csv"))
    assert scalar(PRIMARY, LINES) == 310_000  # RD again: loading the same file twice changes nothing
    new = export(files["RD"].with_name("RE.csv"), [("RE", 10_000, 7)])
    load(env, new)
    assert scalar(PRIMARY, LINES) == 320_000
    # With no replica the analyst URL is the primary's again.
    assert f":{PORTS['MANGALM_PG_PORT']}/" in mangalm(env, "user", "analyst-url").stdout


def test_a_new_replica_after_failover(env):
    mangalm(env, "up", "--detach", "--replica")
    rep = last_json(mangalm(env, "status", "--json").stdout)["replica"]
    assert rep["state"] == "streaming", rep
    assert wait_until(lambda: scalar(REPLICA, LINES) == 320_000, 10, 0.05)
    # down stops it too; a second up restarts the same replica (no new base backup).
    mangalm(env, "down")
    assert port_free(PORTS["MANGALM_REPLICA_PORT"])
    out = mangalm(env, "up", "--detach", "--replica")
    assert "base backup" not in out.stderr and "starting the replica" in out.stderr
    assert last_json(mangalm(env, "status", "--json").stdout)["replica"]["state"] == "streaming"


def test_forced_failover_while_the_primary_runs_loses_nothing(env, files):
    """--force stops the live primary cleanly first (its last WAL reaches the replica), so even
    a job that completed a moment before is on the promoted server."""
    job, _ = load(env, export(files["RD"].with_name("RF.csv"), [("RF", 10_000, 7)]))
    before = fingerprints(PRIMARY)
    out = mangalm(env, "failover", "--force")
    assert "Failed over" in out.stdout
    assert fingerprints(PRIMARY) == before and before["mangalam_invoices"][0] == 330_000
    assert not scalar(PRIMARY, "SELECT pg_is_in_recovery()")
    assert last_json(mangalm(env, "status", "--json").stdout)["replica"] is None
    # The old primary's slot went with its folder; the new primary has none to drop.
    assert scalar(PRIMARY, "SELECT count(*) FROM pg_replication_slots") == 0
