"""Starts and stops the whole stack, in order: PostgreSQL, migrations, PostgREST, the Python
service, nginx. Each process gets a pid file in $MANGALM_HOME/run and a log in
$MANGALM_HOME/log; a pid file whose process is gone (a crash) is detected and removed.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import httpx

from . import __version__, cluster, home, nginx, replica
from .config import ROOT, Settings
from .procs import (children, cmdline, pid_alive, port_free, port_holder, port_listening, processes_with_env, read_pid,
                    stop_pid, wait_until)


class StackError(RuntimeError):
    """A failure a person can act on; the CLI prints it without a traceback."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: stop what was started."""


@dataclass(frozen=True)
class Process:
    name: str
    expect: str          # a word of its command line, to tell a stale pid from a live one

    def pid_file(self, settings: Settings) -> Path:
        return settings.run_dir / f"{self.name}.pid"

    def pid(self, settings: Settings) -> int | None:
        return read_pid(self.pid_file(settings), self.expect)


POSTGREST = Process("postgrest", "postgrest")
SERVICE = Process("service", "uvicorn")
NGINX = Process("nginx", "nginx")
FOREGROUND = Process("mangalm", "mangalm")
PROCESSES = (POSTGREST, SERVICE, NGINX)
# MANGALM_POSTGREST_INSTANCES > 1: instance i (2, 3, ...) is postgrest-i, on the ports of
# postgrest_ports(); PostgREST keeps no state, so nginx's upstream spreads requests over them.
MAX_INSTANCES = 16
EXTRA_POSTGREST = tuple(Process(f"postgrest-{i}", "postgrest") for i in range(2, MAX_INSTANCES + 1))
ALL_PROCESSES = (POSTGREST, *EXTRA_POSTGREST, SERVICE, NGINX)


def postgrest_processes(settings: Settings) -> list[Process]:
    return [POSTGREST, *EXTRA_POSTGREST[:settings.postgrest_instances - 1]]


def processes(settings: Settings) -> list[Process]:
    """The processes `up` starts for these settings, in starting order."""
    return [*postgrest_processes(settings), SERVICE, NGINX]


def postgrest_ports(settings: Settings, index: int) -> tuple[int, int]:
    return settings.postgrest_instance_ports(index)


def postgrest_bin() -> str:
    """MANGALM_POSTGREST_BIN, else the virtualenv's (scripts/install.sh puts it there), else PATH."""
    named = os.environ.get("MANGALM_POSTGREST_BIN")
    if named:
        if not os.access(named, os.X_OK):
            raise StackError(f"MANGALM_POSTGREST_BIN={named} is not an executable file")
        return named
    candidate = Path(sys.executable).parent / "postgrest"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("postgrest")
    if found:
        return found
    raise StackError("PostgREST 12.0.2 is not installed: run scripts/install.sh (make demo does), "
                     "or set MANGALM_POSTGREST_BIN to its binary")


def _ports(settings: Settings) -> dict[str, int]:
    ports = {"PostgREST": settings.postgrest_port, "PostgREST admin": settings.postgrest_admin_port,
             "the Python service": settings.service_port, "nginx": settings.http_port}
    for index in range(1, settings.postgrest_instances):
        port, admin = postgrest_ports(settings, index)
        ports[f"PostgREST {index + 1}"] = port
        ports[f"PostgREST {index + 1} admin"] = admin
    return ports


def child_env(settings: Settings) -> dict[str, str]:
    """The environment every child process gets: the same settings as ours."""
    env = dict(os.environ)
    env.update({
        "MANGALM_HOME": str(settings.home), "MANGALM_HTTP_PORT": str(settings.http_port),
        "MANGALM_POSTGREST_PORT": str(settings.postgrest_port),
        "MANGALM_POSTGREST_ADMIN_PORT": str(settings.postgrest_admin_port),
        "MANGALM_SERVICE_PORT": str(settings.service_port), "MANGALM_PG_PORT": str(settings.pg_port),
        "MANGALM_JWT_SECRET": settings.jwt_secret, "MANGALM_REPLICA_PORT": str(settings.replica_port),
        "MANGALM_POSTGREST_INSTANCES": str(settings.postgrest_instances),
    })
    if settings.external_replica_url:
        env["MANGALM_REPLICA_URL"] = settings.external_replica_url
    if settings.external_database_url:
        env["DATABASE_URL"] = settings.external_database_url
    return env


def _spawn(settings: Settings, proc: Process, argv: list[str], env: dict[str, str]) -> int:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.log_dir / f"{proc.name}.log", "ab") as log:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 env=env, cwd=ROOT, start_new_session=True)
    proc.pid_file(settings).write_text(f"{child.pid}\n")
    return child.pid


def _log_tail(settings: Settings, name: str, lines: int = 8) -> str:
    path = settings.log_dir / f"{name}.log"
    try:
        return "".join(path.read_text(errors="replace").splitlines(True)[-lines:])
    except OSError:
        return ""


def _await(settings: Settings, proc: Process, pid: int, ready: Callable[[], bool], timeout: float = 30) -> None:
    def check() -> bool:
        if not pid_alive(pid):
            proc.pid_file(settings).unlink(missing_ok=True)
            raise StackError(f"{proc.name} exited while starting; its log says:\n{_log_tail(settings, proc.name)}")
        return ready()
    if not wait_until(check, timeout, 0.1):
        stop_pid(pid)
        raise StackError(f"{proc.name} did not become ready in {timeout:.0f} s; its log says:\n"
                         f"{_log_tail(settings, proc.name)}")


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def start_postgrest(settings: Settings, index: int = 0) -> int:
    port, admin = postgrest_ports(settings, index)
    proc = postgrest_processes(settings)[index] if index else POSTGREST
    env = child_env(settings)
    env.update({
        "PGRST_DB_URI": settings.authenticator_url,
        "PGRST_DB_CHANNEL": settings.postgrest_channel,
        "PGRST_JWT_SECRET": settings.jwt_secret,
        "PGRST_SERVER_PORT": str(port),
        "PGRST_ADMIN_SERVER_PORT": str(admin),
        "PGRST_OPENAPI_SERVER_PROXY_URI": f"{settings.gateway_url}/api",
    })
    pid = _spawn(settings, proc, [postgrest_bin(), str(ROOT / "postgrest.conf")], env)
    _await(settings, proc, pid, lambda: _http_ok(f"http://127.0.0.1:{admin}/ready"))
    return pid


def start_service(settings: Settings) -> int:
    argv = [sys.executable, "-m", "uvicorn", "--factory", "gateway.service:create_app",
            "--host", "127.0.0.1", "--port", str(settings.service_port), "--log-level", "warning",
            "--no-access-log", "--timeout-graceful-shutdown", "5"]
    pid = _spawn(settings, SERVICE, argv, child_env(settings))
    _await(settings, SERVICE, pid, lambda: port_listening(settings.service_port))
    return pid


def start_nginx(settings: Settings) -> int:
    conf = nginx.render(settings)
    nginx.check(conf, settings)
    argv = [nginx.nginx_bin(), "-c", str(conf), "-e", str(settings.log_dir / "nginx-error.log")]
    pid = _spawn(settings, NGINX, argv, child_env(settings))
    _await(settings, NGINX, pid, lambda: port_listening(settings.http_port))
    # nginx rewrites its workers' environment for their process titles, so remember them:
    # if the master is killed, its workers keep the port until `up` reaps them.
    (settings.run_dir / "nginx-workers.pid").write_text("".join(f"{c}\n" for c in children(pid)))
    return pid


def is_running(settings: Settings) -> bool:
    return all(p.pid(settings) for p in processes(settings)) and (not settings.embedded or cluster.is_running(settings))


def reap_orphans(settings: Settings) -> list[int]:
    """Kill processes of an earlier run of this state folder that lost their pid file's
    owner: after a crash (SIGKILL of the nginx master, say) its workers keep the port."""
    known = {p.pid(settings) for p in (*ALL_PROCESSES, FOREGROUND)}
    reaped = []
    workers = settings.run_dir / "nginx-workers.pid"
    if workers.exists():
        for pid in (int(w) for w in workers.read_text().split()):
            if pid_alive(pid) and "nginx" in cmdline(pid):
                stop_pid(pid, timeout=5, group=False)
                reaped.append(pid)
        workers.unlink()
    for pid in processes_with_env("MANGALM_HOME", str(settings.home)):
        if pid in known:
            continue
        line = cmdline(pid)
        if any(word in line for word in ("nginx", "postgrest", "uvicorn")):
            stop_pid(pid, timeout=5, group=False)
            reaped.append(pid)
    return reaped


def preflight(settings: Settings) -> None:
    """Refuse to start when a port we need is taken by someone else."""
    ports = dict(_ports(settings))
    if settings.embedded and not cluster.is_running(settings):
        ports["PostgreSQL"] = settings.pg_port
    running = {p.name for p in ALL_PROCESSES if p.pid(settings)}
    for label, port in ports.items():
        owner = {"PostgREST": "postgrest", "PostgREST admin": "postgrest",
                 "the Python service": "service", "nginx": "nginx"}.get(label)
        if label.startswith("PostgREST ") and label.split()[1].isdigit():
            owner = f"postgrest-{label.split()[1]}"
        if owner in running:
            continue
        if not port_free(port):
            holder = port_holder(port) or "another process"
            raise StackError(f"port {port} ({label}) is already in use by {holder}; "
                             "stop it or choose another port (see README, 'Configuration')")


def start(settings: Settings, on_step: Callable[[str], None] = lambda s: None,
          after_migrate: Callable[[], None] | None = None, with_replica: bool = False) -> None:
    """Start every component not yet running. On any failure or interruption, what this
    call started is stopped again, so nothing is left half-started. with_replica (or a
    replica made by an earlier `up --replica`) also starts the hot standby (gateway/replica.py)."""
    from .migrate import migrate

    if not any(p.pid(settings) for p in ALL_PROCESSES):
        reap_orphans(settings)
    preflight(settings)
    try:
        home.prepare(settings)
    except home.HomeError as e:
        raise StackError(str(e)) from None
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    started: list[str] = []
    try:
        if settings.embedded and not cluster.is_running(settings):
            on_step(f"starting PostgreSQL on 127.0.0.1:{settings.pg_port}")
            started.append("postgres")  # before: an interruption inside start() must stop it too
            cluster.start(settings)
        elif not settings.embedded:
            from .db import connect
            connect(settings, settings.database_url).close()
        on_step("applying migrations")
        migrate(settings)
        if with_replica and not settings.embedded and not settings.external_replica_url:
            raise StackError("with DATABASE_URL the replica is your own standby: name it in MANGALM_REPLICA_URL")
        if settings.embedded and (with_replica or replica.initialized(settings)) and not replica.is_running(settings):
            started.append("replica")
            replica.start(settings, on_step)
        elif settings.embedded and replica.forget_slot(settings):
            on_step("dropped the replication slot of a replica that no longer exists")
        if after_migrate:
            after_migrate()
        steps = [(proc, lambda s, i=index: start_postgrest(s, i), postgrest_ports(settings, index)[0])
                 for index, proc in enumerate(postgrest_processes(settings))]
        steps += [(SERVICE, start_service, settings.service_port), (NGINX, start_nginx, settings.http_port)]
        for proc, starter, port in steps:
            if proc.pid(settings):
                continue
            on_step(f"starting {proc.name} on 127.0.0.1:{port}")
            started.append(proc.name)
            starter(settings)
    except BaseException:
        stop(settings, only=started)
        raise


def stop(settings: Settings, only: list[str] | None = None) -> list[str]:
    """Stop the components (all, or those named), front door first; returns what was stopped."""
    stopped = []
    for proc in reversed(ALL_PROCESSES):
        if only is not None and proc.name not in only:
            continue
        pid = proc.pid(settings)
        if pid:
            stop_pid(pid)
            stopped.append(proc.name)
        proc.pid_file(settings).unlink(missing_ok=True)
    if settings.embedded and (only is None or "postgres" in only) and cluster.is_running(settings):
        cluster.stop(settings)
        stopped.append("postgres")
    # After the primary: its clean shutdown sends its last WAL to the replica first.
    if settings.embedded and (only is None or "replica" in only) and replica.is_running(settings):
        replica.stop(settings)
        stopped.append("replica")
    return stopped


def down(settings: Settings) -> list[str]:
    """`mangalm down`: also ends a foreground `mangalm up` waiting in another terminal."""
    fg = FOREGROUND.pid(settings)
    if fg and fg != os.getpid():
        os.kill(fg, signal.SIGTERM)
        wait_until(lambda: FOREGROUND.pid(settings) is None, 60, 0.1)
    return stop(settings)


def run_foreground(settings: Settings, on_step: Callable[[str], None]) -> None:
    """Wait until SIGINT or SIGTERM, then stop everything."""
    FOREGROUND.pid_file(settings).write_text(f"{os.getpid()}\n")
    try:
        while True:
            time.sleep(1)
    except Interrupted:
        pass
    finally:
        on_step("stopping")
        stop(settings)
        FOREGROUND.pid_file(settings).unlink(missing_ok=True)


def raise_on_signals() -> None:
    """Turn SIGINT and SIGTERM into Interrupted, so cleanup code runs for both."""
    def handler(signum, frame):
        raise Interrupted(signal.Signals(signum).name)
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _binary_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().split()[-1]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "not installed"


def status(settings: Settings) -> dict:
    components = {}
    if settings.embedded:
        components["postgres"] = {"running": cluster.is_running(settings), "port": settings.pg_port}
    else:
        from .db import DatabaseUnreachable, connect
        try:
            connect(settings, settings.database_url).close()
            components["postgres"] = {"running": True, "external": True}
        except DatabaseUnreachable as e:
            components["postgres"] = {"running": False, "external": True, "error": str(e)}
    ports = {"postgrest": settings.postgrest_port, "service": settings.service_port, "nginx": settings.http_port}
    for index, proc in enumerate(postgrest_processes(settings)):
        ports[proc.name] = postgrest_ports(settings, index)[0]
    for proc in processes(settings):
        pid = proc.pid(settings)
        components[proc.name] = {"running": pid is not None, "pid": pid, "port": ports[proc.name]}
    try:
        pgrst = postgrest_bin()
        pgrst_version = _binary_version([pgrst, "--version"])
    except StackError:
        pgrst_version = "not installed"
    try:
        nginx_version = nginx.version()
    except FileNotFoundError:
        nginx_version = "not installed"
    return {
        "running": all(c["running"] for c in components.values()),
        "home": str(settings.home),
        "database_url": settings.redacted_database_url(),
        "gateway_url": settings.gateway_url,
        "postgrest_url": settings.postgrest_url,
        "service_url": settings.service_url,
        "components": components,
        "replica": replica.status(settings),
        "versions": {"mangalm": __version__, "postgres": cluster.version(), "postgrest": pgrst_version,
                     "nginx": nginx_version, "python": sys.version.split()[0]},
    }


def dumps(obj) -> str:
    return json.dumps(obj, indent=None, default=str)
