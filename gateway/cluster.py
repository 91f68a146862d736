"""The embedded PostgreSQL 15 cluster: a private cluster in $MANGALM_HOME/pgdata.

PostgreSQL refuses to run as root, so when we are root the cluster's files belong to, and its
server runs as, an unprivileged OS user (`postgres` by default).
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import psycopg

from . import home
from .config import CLUSTER_OS_USER, Settings
from .procs import pid_alive, port_free, port_holder, wait_until


class ClusterError(RuntimeError):
    """A failure a person can act on; the CLI prints it without a traceback."""


def pg_bin(name: str) -> str:
    for folder in (os.environ.get("MANGALM_PG_BIN"), "/usr/lib/postgresql/15/bin"):
        if folder and Path(folder, name).exists():
            return str(Path(folder, name))
    found = shutil.which(name)
    if not found:
        raise ClusterError(f"{name} not found: install postgresql-15 (make demo does)")
    return found


def _as_owner() -> dict:
    """subprocess arguments that run a command as the cluster's owner."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(CLUSTER_OS_USER)
    except KeyError:
        raise ClusterError(
            f"running as root, the cluster needs the unprivileged OS user {CLUSTER_OS_USER!r}; "
            "create it (useradd --system postgres) or set MANGALM_CLUSTER_USER") from None
    return {"user": CLUSTER_OS_USER, "group": CLUSTER_OS_USER, "extra_groups": []}


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, CLUSTER_OS_USER, CLUSTER_OS_USER)


def _run(argv: list[str], settings: Settings, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=settings.home, capture_output=True, text=True, check=check,
                          **_as_owner())


def socket_dir(settings: Settings) -> Path:
    return settings.run_dir / "pgsock"


def server_conf(settings: Settings, port: int | None = None, sockets: Path | None = None) -> str:
    """Settings sized for a small machine doing bulk loads: see README, 'Embedded cluster'.
    The replica (gateway/replica.py) uses the same settings on its own port and socket folder."""
    from . import replica
    extra = replica.primary_conf(settings) if port is None else ""
    return f"""# Written by mangalm at every start; edit gateway/cluster.py instead.
listen_addresses = '127.0.0.1'
port = {port or settings.pg_port}
unix_socket_directories = '{sockets or socket_dir(settings)}'
max_connections = 100
shared_buffers = '512MB'
work_mem = '16MB'
maintenance_work_mem = '256MB'
effective_cache_size = '4GB'
# Bulk loads write a lot of WAL at once: fewer, larger checkpoints.
max_wal_size = '4GB'
min_wal_size = '256MB'
checkpoint_timeout = '15min'
# Full-page images compressed with lz4, not pglz ('on'): the same predict at the real half's
# size took 5.81 -> 5.51 s of backend CPU (min of 3 alternating runs), for ~15 % more WAL.
wal_compression = lz4
# Statements slower than half a second, and lock waits, go to log/postgres.log with their text.
log_min_duration_statement = '500ms'
log_line_prefix = '%m [%p] %q%u@%d '
log_lock_waits = on
timezone = 'UTC'
""" + extra


def initialized(settings: Settings) -> bool:
    return (settings.pgdata / "PG_VERSION").exists()


def init(settings: Settings) -> None:
    """Create the cluster once: superuser `mangalm` with a generated password."""
    _as_owner()  # names a missing OS user before anything is created
    try:
        home.prepare(settings)
    except home.HomeError as e:
        raise ClusterError(str(e)) from None
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    password = settings.superuser_password
    settings.pgdata.mkdir(mode=0o700, exist_ok=True)
    _chown(settings.pgdata)
    pwfile = settings.run_dir / "initdb.pw"
    pwfile.write_text(password + "\n")
    _chown(pwfile)
    try:
        _run([pg_bin("initdb"), "-D", str(settings.pgdata), "-U", "mangalm", f"--pwfile={pwfile}",
              "--auth-local=scram-sha-256", "--auth-host=scram-sha-256",
              "--encoding=UTF8", "--locale=C.UTF-8"], settings)
    except subprocess.CalledProcessError as e:
        raise ClusterError(f"initdb failed: {e.stderr.strip() or e.stdout.strip()}") from None
    finally:
        pwfile.unlink(missing_ok=True)
    conf = settings.pgdata / "postgresql.conf"
    with conf.open("a") as f:
        f.write("\ninclude_if_exists = 'mangalm.conf'\n")


def postmaster_pid(settings: Settings) -> int | None:
    """The live postmaster's pid, from postmaster.pid. Not `pg_ctl status`: a postmaster
    killed by SIGKILL can linger as a zombie (where pid 1 does not reap), which pg_ctl and the
    server's own lock-file check take for a running server."""
    lock = settings.pgdata / "postmaster.pid"
    try:
        pid = int(lock.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def leftover_backends(settings: Settings) -> list[int]:
    """Live processes whose working directory is this cluster's data folder (every server
    process of a cluster has it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if Path(os.readlink(proc / "cwd")) == settings.pgdata and pid_alive(int(proc.name)):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def is_running(settings: Settings) -> bool:
    return initialized(settings) and postmaster_pid(settings) is not None


def check_port_free(port: int, what: str, variable: str, error: type[Exception] = ClusterError) -> None:
    """Refuse a port another process holds, naming the holder and the setting that moves it."""
    if not port_free(port):
        holder = port_holder(port) or "another process"
        raise error(f"port {port} ({what}) is already in use by {holder}; stop it or set {variable}")


def pg_ctl_start(settings: Settings, datadir: Path, sockets: Path, log: Path, what: str,
                 error: type[Exception] = ClusterError) -> None:
    """Start the server of `datadir` (the primary's or the replica's) as the cluster's owner:
    stale socket locks and postmaster.pid removed first (the caller made sure no earlier server
    of that folder lives), the log's last lines in the error when it does not come up."""
    sockets.mkdir(parents=True, exist_ok=True)
    _chown(sockets)
    for stale in sockets.glob(".s.PGSQL.*"):
        stale.unlink(missing_ok=True)
    (datadir / "postmaster.pid").unlink(missing_ok=True)
    log.touch()
    _chown(log)
    result = _run([pg_bin("pg_ctl"), "start", "-w", "-t", "120", "-D", str(datadir), "-l", str(log)],
                  settings, check=False)
    if result.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-5:])
        raise error(f"{what} did not start (see {log}):\n{tail}")


def pg_ctl_stop(settings: Settings, datadir: Path, mode: str = "fast") -> None:
    _run([pg_bin("pg_ctl"), "stop", "-w", "-t", "60", "-m", mode, "-D", str(datadir)], settings, check=False)


def start(settings: Settings) -> None:
    if not initialized(settings):
        init(settings)
    if is_running(settings):
        return
    check_port_free(settings.pg_port, "PostgreSQL", "MANGALM_PG_PORT")
    for folder in (settings.run_dir, settings.log_dir):
        folder.mkdir(parents=True, exist_ok=True)
    conf = settings.pgdata / "mangalm.conf"
    conf.write_text(server_conf(settings))
    _chown(conf)
    # A cluster that was not shut down cleanly recovers by itself here. Its postmaster.pid is
    # stale (the process is gone, or a zombie the server would mistake for a live one): once
    # the old server's last backend has exited, it is safe to remove.
    if not wait_until(lambda: not leftover_backends(settings), 30):
        raise ClusterError(f"processes of an earlier server still use {settings.pgdata}: "
                           f"{leftover_backends(settings)}; stop them first")
    pg_ctl_start(settings, settings.pgdata, socket_dir(settings), settings.log_dir / "postgres.log", "PostgreSQL")
    ensure_database(settings, "mangalm")


def stop(settings: Settings, mode: str = "fast") -> None:
    if is_running(settings):
        pg_ctl_stop(settings, settings.pgdata, mode)


def ensure_database(settings: Settings, dbname: str) -> None:
    with psycopg.connect(settings.url_for("mangalm", settings.superuser_password, "postgres"),
                         autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')


def version() -> str:
    # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" -> "15.18"
    out = subprocess.run([pg_bin("postgres"), "--version"], capture_output=True, text=True).stdout.split()
    return out[2] if len(out) > 2 else "unknown"
