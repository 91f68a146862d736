"""The hot standby: a streaming replica of the embedded cluster, for analysts and for failover.

`mangalm up --replica` takes a base backup of the running cluster (pg_basebackup through the
replication slot `mangalm_replica`, as the login `replicator` whose password is generated into
secrets/) into $MANGALM_HOME/replica and runs it as a hot standby on MANGALM_REPLICA_PORT
(3433), as the cluster's OS user. With DATABASE_URL the standby is someone else's server, named
by MANGALM_REPLICA_URL; we only read its state.

Commit setting. The primary names the replica in `synchronous_standby_names` but keeps
`synchronous_commit = local` as its default, so the API, the loader's COPY and everything else
stay asynchronous. Only the transaction that completes an upload job raises it to `on` (the
replica has flushed the job's WAL to its disk before the commit returns; gateway/worker.py): a
job reported as succeeded survives the loss of the primary. `on`, not `remote_apply`: a flushed
record is replayed at promotion all the same, and waiting for replay would let an analyst query
that holds up replay on the standby (a lock conflict with the bulk path) stall an upload. The
job asks for it only while the replica streams as the synchronous standby, so a stopped replica
never blocks uploads (they are then only as safe as the primary's disk; /health says so).

Failover (`mangalm failover`) promotes the replica, then makes its data folder the stack's
cluster: the stack stops, the old primary's folder is kept as pgdata.failed-<time>, replica/
becomes pgdata/, and the stack starts again on the primary's port, so PostgREST, the service,
the worker and every URL handed out keep working unchanged.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from . import cluster
from .config import Settings, redact
from .procs import pid_alive, wait_until

SLOT = "mangalm_replica"            # the replication slot on the primary, and the standby's application_name
ROLE = "replicator"                 # REPLICATION LOGIN only: no access to any table
HBA_LINE = f"host replication {ROLE} 127.0.0.1/32 scram-sha-256"


class ReplicaError(cluster.ClusterError):
    """A failure a person can act on; the CLI prints it without a traceback."""


# --- where it is ------------------------------------------------------------------------------

def initialized(settings: Settings) -> bool:
    return settings.embedded and (settings.replica_dir / "PG_VERSION").exists()


def configured(settings: Settings) -> bool:
    return initialized(settings) or bool(settings.external_replica_url)


def socket_dir(settings: Settings) -> Path:
    # Its own folder: the primary's start removes stale sockets from run/pgsock.
    return settings.run_dir / "pgsock-replica"


def postmaster_pid(settings: Settings) -> int | None:
    try:
        pid = int((settings.replica_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def is_running(settings: Settings) -> bool:
    return initialized(settings) and postmaster_pid(settings) is not None


# --- configuration files ----------------------------------------------------------------------

def primary_conf(settings: Settings) -> str:
    """Lines the primary's mangalm.conf gets while an embedded replica exists (see the module)."""
    if not initialized(settings):
        return ""
    return f"""# A replica exists (gateway/replica.py): upload jobs commit synchronously, all else locally.
synchronous_standby_names = '{SLOT}'
synchronous_commit = local
# A replica stopped for long must not fill the primary's disk with WAL kept for its slot: past
# this much the slot is given up and the replica has to be made again.
max_slot_wal_keep_size = '8GB'
"""


def replica_conf(settings: Settings) -> str:
    conninfo = (f"host=127.0.0.1 port={settings.pg_port} user={ROLE} "
                f"password={settings.replication_password} application_name={SLOT}")
    return cluster.server_conf(settings, port=settings.replica_port, sockets=socket_dir(settings)) + f"""
# The standby (gateway/replica.py).
primary_conninfo = '{conninfo}'
primary_slot_name = '{SLOT}'
hot_standby = on
# A long analyst query would otherwise be cancelled when vacuum's cleanup on the primary is
# replayed; with feedback the primary keeps those rows until the query ends (some bloat there).
hot_standby_feedback = on
"""


def _write_private(path: Path, text: str) -> None:
    path.write_text(text)
    os.chmod(path, 0o600)
    cluster._chown(path)


def _run(argv: list[str], settings: Settings, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=settings.home, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, **cluster._as_owner())


def _superuser(settings: Settings) -> psycopg.Connection:
    """The primary, as the embedded cluster's superuser."""
    return psycopg.connect(settings.url_for("mangalm", settings.superuser_password), autocommit=True,
                           connect_timeout=5)


# --- creating, starting, stopping -------------------------------------------------------------

def _prepare_primary(settings: Settings) -> None:
    """The replication login, its pg_hba line and a slot that keeps WAL until the replica has it."""
    hba = settings.pgdata / "pg_hba.conf"
    text = hba.read_text()
    if HBA_LINE not in text:
        # First in the file: pg_hba is first-match, and initdb's own lines come after.
        hba.write_text(f"# The streaming replica's login (gateway/replica.py).\n{HBA_LINE}\n{text}")
    with _superuser(settings) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN REPLICATION").format(sql.Identifier(ROLE)))
        conn.execute(sql.SQL("ALTER ROLE {} LOGIN REPLICATION PASSWORD {}").format(
            sql.Identifier(ROLE), sql.Literal(settings.replication_password)))
        slot = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (SLOT,)).fetchone()
        if slot is not None and not slot[0]:
            # A slot left by an earlier replica holds WAL from its old position: start afresh.
            conn.execute("SELECT pg_drop_replication_slot(%s)", (SLOT,))
            slot = None
        if slot is None:
            conn.execute("SELECT pg_create_physical_replication_slot(%s, true)", (SLOT,))
        conn.execute("SELECT pg_reload_conf()")


def create(settings: Settings, on_step=lambda s: None) -> None:
    """Base backup of the running primary into replica/, configured as its standby."""
    if not cluster.is_running(settings):
        raise ReplicaError("the primary must run to take a base backup: start it with `mangalm up`")
    _prepare_primary(settings)
    target = settings.replica_dir
    if target.exists() and any(target.iterdir()):
        raise ReplicaError(f"{target} is not empty and holds no cluster; remove it, then run `mangalm up --replica` again")
    target.mkdir(mode=0o700, exist_ok=True)
    cluster._chown(target)
    on_step(f"taking a base backup into {target}")
    result = _run([cluster.pg_bin("pg_basebackup"), "-D", str(target), "-h", "127.0.0.1", "-p", str(settings.pg_port),
                   "-U", ROLE, "-w", "-S", SLOT, "-X", "stream", "-c", "fast"],
                  settings, env={"PGPASSWORD": settings.replication_password})
    if result.returncode != 0:
        for child in target.iterdir():
            subprocess.run(["rm", "-rf", str(child)], check=False)
        forget_slot(settings)
        raise ReplicaError(f"pg_basebackup failed: {result.stderr.strip() or result.stdout.strip()}")
    (target / "standby.signal").touch()
    cluster._chown(target / "standby.signal")
    # The primary now names the replica as its synchronous standby (reloaded, no restart).
    conf = settings.pgdata / "mangalm.conf"
    conf.write_text(cluster.server_conf(settings))
    with _superuser(settings) as conn:
        conn.execute("SELECT pg_reload_conf()")


def forget_slot(settings: Settings) -> bool:
    """Drop the replication slot when no replica uses it (its folder was removed, or a base
    backup failed): an unused slot keeps WAL on the primary for ever. True when dropped."""
    if not settings.embedded or initialized(settings):
        return False
    with _superuser(settings) as conn:
        return conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                            "WHERE slot_name = %s AND NOT active", (SLOT,)).fetchone() is not None


def start(settings: Settings, on_step=lambda s: None) -> None:
    """Start the embedded replica, creating it first when there is none."""
    if not initialized(settings):
        create(settings, on_step)
    if is_running(settings):
        return
    cluster.check_port_free(settings.replica_port, "the replica", "MANGALM_REPLICA_PORT", ReplicaError)
    on_step(f"starting the replica on 127.0.0.1:{settings.replica_port}")
    _write_private(settings.replica_dir / "mangalm.conf", replica_conf(settings))
    cluster.pg_ctl_start(settings, settings.replica_dir, socket_dir(settings), settings.log_dir / "replica.log",
                         "the replica", ReplicaError)


def stop(settings: Settings, mode: str = "fast") -> None:
    if is_running(settings):
        cluster.pg_ctl_stop(settings, settings.replica_dir, mode)


# --- state ------------------------------------------------------------------------------------

REPLICA_SQL = """SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,
       (SELECT status FROM pg_stat_wal_receiver),
       CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8"""


def status(settings: Settings) -> dict | None:
    """{url (password redacted), state, in_recovery, lag_bytes, lag_seconds}, or None when no
    replica is configured. state: streaming, not streaming (<receiver status>), promoted,
    stopped, unreachable. lag_bytes is the primary's current WAL position minus what the
    replica has replayed; lag_seconds is the primary's replay_lag for the embedded replica, and
    for another standby 0 when it has replayed all it received, else the age of its last
    replayed transaction."""
    if not configured(settings):
        return None
    info: dict = {"url": redact(settings.replica_url), "state": "unreachable", "in_recovery": None,
                  "lag_bytes": None, "lag_seconds": None}
    if settings.embedded:
        info["port"] = settings.replica_port
        if not is_running(settings):
            info["state"] = "stopped"
            return info
    try:
        # As the application's login, not the administrator: /health asks this too, and
        # mangalm_app may read replication state (pg_read_all_stats, db/roles.sql).
        with psycopg.connect(settings.replica_url_for("mangalm_app", settings.app_password),
                             autocommit=True, connect_timeout=3) as conn:
            recovery, replayed, receiver, seconds = conn.execute(REPLICA_SQL).fetchone()
    except psycopg.Error as e:
        info["error"] = (str(e).strip().splitlines() or ["no answer"])[-1][:300]
        return info
    info["in_recovery"] = recovery
    if not recovery:
        info["state"] = "promoted"
        return info
    info["state"] = "streaming" if receiver == "streaming" else f"not streaming ({receiver or 'no WAL receiver'})"
    info["lag_seconds"] = round(seconds, 3) if seconds is not None else None
    try:
        with psycopg.connect(settings.app_url, autocommit=True, connect_timeout=3) as conn:
            lag_bytes, replay_lag = conn.execute(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn), "
                "(SELECT extract(epoch FROM replay_lag)::float8 FROM pg_stat_replication WHERE application_name = %s)",
                (replayed, SLOT)).fetchone()
    except psycopg.Error:
        return info  # the primary is down: the lag in bytes is unknown
    info["lag_bytes"] = int(lag_bytes)
    if settings.embedded:
        # The primary's measure (from its WAL flush to the replica's replay) is the right one
        # inside a long transaction, where the replica's own estimate (the age of the last
        # replayed commit) grows although replay keeps up: 21 s against ~0.3 s during a 1M-line
        # load. It is NULL once nothing is in flight.
        info["lag_seconds"] = round(replay_lag, 3) if replay_lag is not None and lag_bytes > 0 else 0.0
    return info


def primary_answers(settings: Settings) -> str | None:
    """None when the primary is gone, else what it answered (its version)."""
    try:
        with psycopg.connect(settings.database_url, autocommit=True, connect_timeout=3) as conn:
            return conn.execute("SELECT current_setting('server_version')").fetchone()[0]
    except psycopg.Error:
        return None


# --- failover ---------------------------------------------------------------------------------

def failover(settings: Settings, force: bool = False, on_step=lambda s: None) -> dict:
    """Promote the replica and run the stack on it (see the module's docstring)."""
    from . import stack

    if not settings.embedded:
        raise ReplicaError("with DATABASE_URL the servers are not ours: promote the standby with its own tools "
                           "(SELECT pg_promote()), point DATABASE_URL at it and run `mangalm up`")
    if not initialized(settings):
        raise ReplicaError("there is no replica to promote; `mangalm up --replica` creates one")
    started = time.monotonic()
    answered = primary_answers(settings)
    if answered and not force:
        raise ReplicaError(f"the primary on 127.0.0.1:{settings.pg_port} still answers (PostgreSQL {answered}); "
                           "promoting the replica now would leave two servers taking writes. Stop the primary "
                           "first, or use --force (it stops the primary cleanly, which sends its last WAL to the "
                           "replica, then promotes)")
    on_step("stopping nginx, the service and PostgREST")
    stack.stop(settings, only=[p.name for p in stack.ALL_PROCESSES])
    if cluster.is_running(settings):
        on_step("stopping the primary")
        cluster.stop(settings)
    # A killed postmaster's backends exit when they notice; none may write into pgdata after it moves.
    if not wait_until(lambda: not cluster.leftover_backends(settings), 60):
        raise ReplicaError(f"processes of the old primary still use {settings.pgdata}: "
                           f"{cluster.leftover_backends(settings)}; stop them, then run `mangalm failover` again")
    if not is_running(settings):
        start(settings, on_step)
    on_step("promoting the replica")
    result = _run([cluster.pg_bin("pg_ctl"), "promote", "-w", "-t", "120", "-D", str(settings.replica_dir)], settings)
    if result.returncode != 0:
        raise ReplicaError(f"pg_ctl promote failed: {result.stderr.strip() or result.stdout.strip()}")
    promoted_at = time.monotonic() - started
    stop(settings)
    kept = settings.home / f"pgdata.failed-{time.strftime('%Y%m%dT%H%M%S')}"
    on_step(f"the promoted replica becomes the cluster; the old primary's files are kept in {kept}")
    settings.pgdata.rename(kept)
    settings.replica_dir.rename(settings.pgdata)
    (settings.pgdata / "standby.signal").unlink(missing_ok=True)
    stack.start(settings, on_step=on_step)
    return {"seconds": round(time.monotonic() - started, 1), "promoted_after_seconds": round(promoted_at, 1),
            "old_primary": str(kept)}
