"""Settings from the environment, with safe defaults for the embedded mode.

Every process of the stack reads the same Settings, so a test can run a whole second stack
beside a demo just by pointing MANGALM_HOME and the ports elsewhere.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import site
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import quote, urlsplit

# Where the code is: a checkout's root, or site-packages for an installed wheel.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _find_root() -> Path:
    """The folder holding db/, functions/, views/, migrations/, postgrest.conf and the web files.

    In a checkout that is the checkout itself; a wheel installs them as data files under
    <prefix>/share/mangalm (pyproject.toml, [tool.setuptools.data-files])."""
    if (PACKAGE_ROOT / "migrations").is_dir() and (PACKAGE_ROOT / "functions").is_dir():
        return PACKAGE_ROOT
    for prefix in (sys.prefix, site.getuserbase(), "/usr/local", "/usr"):
        share = Path(prefix, "share", "mangalm")
        if (share / "migrations").is_dir():
            return share
    return PACKAGE_ROOT


ROOT = _find_root()
# True when running from a source checkout (not an installed wheel).
CHECKOUT = ROOT == PACKAGE_ROOT
# As root, state folders live here: the cluster's OS user and nginx's workers must be able to
# traverse every parent of a state folder, and a checkout under /root (mode 0700) or in a
# mktemp -d folder (0700) is not traversable by them.
SYSTEM_STATE_DIR = Path(os.environ.get("MANGALM_STATE_DIR", "/var/lib/mangalm"))

JWT_AUDIENCE = "mangalm"
# The unprivileged OS user that owns the embedded cluster when we run as root.
CLUSTER_OS_USER = os.environ.get("MANGALM_CLUSTER_USER", "postgres")


def _port(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not a port number") from None


def _instances() -> int:
    value = os.environ.get("MANGALM_POSTGREST_INSTANCES", "1")
    if not value.isdigit() or not 1 <= int(value) <= 16:
        raise SystemExit(f"MANGALM_POSTGREST_INSTANCES={value!r} is not a whole number from 1 to 16")
    return int(value)


def state_dir(name: str = "") -> Path:
    """A state folder (the demo's, or a named one: tests, benchmarks) for this installation.

    As root: /var/lib/mangalm/<checkout>-<hash of its path> (one per checkout, so two clones
    never share a cluster). As an ordinary user: .mangalm in the checkout, or
    ~/.local/state/mangalm for an installed wheel; the user's own processes read it there."""
    suffix = f"-{name}" if name else ""
    if os.geteuid() == 0:
        slug = f"{PACKAGE_ROOT.name}-{hashlib.sha256(str(PACKAGE_ROOT).encode()).hexdigest()[:8]}" if CHECKOUT else "default"
        return SYSTEM_STATE_DIR / (slug + suffix)
    if CHECKOUT:
        return ROOT / (".mangalm" + suffix)
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / ("mangalm" + suffix)


@dataclass(frozen=True)
class Settings:
    home: Path
    http_port: int
    postgrest_port: int
    postgrest_admin_port: int
    service_port: int
    pg_port: int
    external_database_url: str | None
    # The hot standby (gateway/replica.py): its port in embedded mode, or an existing standby.
    replica_port: int = 3433
    external_replica_url: str | None = None
    # PostgREST processes behind nginx's upstream; instance i uses postgrest_port + 100*i and
    # postgrest_admin_port + 100*i (i = 0 is the first, on the usual ports).
    postgrest_instances: int = 1

    @classmethod
    def from_env(cls) -> "Settings":
        home = Path(os.environ.get("MANGALM_HOME") or state_dir()).resolve()
        return cls(
            home=home,
            http_port=_port("MANGALM_HTTP_PORT", 3007),
            postgrest_port=_port("MANGALM_POSTGREST_PORT", 3008),
            postgrest_admin_port=_port("MANGALM_POSTGREST_ADMIN_PORT", 3010),
            service_port=_port("MANGALM_SERVICE_PORT", 3009),
            pg_port=_port("MANGALM_PG_PORT", 3432),
            external_database_url=os.environ.get("DATABASE_URL") or None,
            replica_port=_port("MANGALM_REPLICA_PORT", 3433),
            external_replica_url=os.environ.get("MANGALM_REPLICA_URL") or None,
            postgrest_instances=_instances(),
        )

    # --- folders of the state home -------------------------------------------------
    @property
    def embedded(self) -> bool:
        return self.external_database_url is None

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "log"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    # --- secrets: generated once into the state folder, mode 0600 --------------------
    def secret(self, name: str, env: str | None = None, nbytes: int = 32) -> str:
        if env and os.environ.get(env):
            return os.environ[env]
        path = self.secrets_dir / name
        if not path.exists():
            self.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(nbytes))
        return path.read_text().strip()

    @cached_property
    def jwt_secret(self) -> str:
        value = self.secret("jwt_secret", "MANGALM_JWT_SECRET", 48)
        if len(value) < 32:
            raise SystemExit("MANGALM_JWT_SECRET must be at least 32 characters long")
        return value

    @property
    def authenticator_password(self) -> str:
        return self.secret("authenticator_password", "MANGALM_AUTHENTICATOR_PASSWORD")

    @property
    def superuser_password(self) -> str:
        """The embedded cluster's superuser `mangalm` (MANGALM_SUPERUSER_PASSWORD overrides)."""
        return self.secret("superuser_password", "MANGALM_SUPERUSER_PASSWORD")

    @property
    def replication_password(self) -> str:
        """The embedded replica's login `replicator` on the primary (REPLICATION, nothing else)."""
        return self.secret("replication_password", "MANGALM_REPLICATION_PASSWORD")

    def postgrest_instance_ports(self, index: int) -> tuple[int, int]:
        """(port, admin port) of PostgREST instance `index` (0 is the first): 20 apart, so the
        instances stay inside a 100-port block like the tests' (PORT_BASE + 100*k)."""
        return self.postgrest_port + 20 * index, self.postgrest_admin_port + 20 * index

    @property
    def replica_dir(self) -> Path:
        return self.home / "replica"

    @property
    def analyst_password(self) -> str:
        return self.secret("analyst_password", "MANGALM_ANALYST_PASSWORD")

    @property
    def app_password(self) -> str:
        """The login `mangalm_app` of the service, the worker, the loader and the CLI."""
        return self.secret("app_password", "MANGALM_APP_PASSWORD")

    @property
    def postgrest_channel(self) -> str:
        """PostgREST's LISTEN channel for schema reloads. NOTIFY needs no privilege, so any
        SQL login could make PostgREST reload in a loop on the well-known `pgrst`; a name
        made of a secret cannot be guessed (a session sees only its own LISTENs)."""
        # Lower case, so LISTEN and NOTIFY name it the same quoted or not.
        return "pgrst_" + self.secret("postgrest_channel", nbytes=12).replace("-", "_").lower()

    # --- connection strings ------------------------------------------------------
    @property
    def database_url(self) -> str:
        """The administrator's connection (the cluster's superuser in embedded mode, else
        DATABASE_URL): migrations, backups, the replica and tests. The application never
        uses it: it connects with app_url."""
        if self.external_database_url:
            return self.external_database_url
        password = quote(self.superuser_password, safe="")
        return f"postgresql://mangalm:{password}@127.0.0.1:{self.pg_port}/mangalm"

    def url_for(self, user: str, password: str, dbname: str | None = None) -> str:
        """The same server and database as database_url, as another login role."""
        parts = urlsplit(self.database_url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 5432
        db = dbname or parts.path.lstrip("/") or "mangalm"
        query = f"?{parts.query}" if parts.query else ""
        return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{db}{query}"

    def replica_url_for(self, user: str, password: str) -> str | None:
        """The standby (embedded on replica_port, or MANGALM_REPLICA_URL's server) as a login role."""
        if self.external_replica_url:
            parts = urlsplit(self.external_replica_url)
            host, port = parts.hostname or "127.0.0.1", parts.port or 5432
            db = parts.path.lstrip("/") or "mangalm"
            query = f"?{parts.query}" if parts.query else ""
        elif self.embedded:
            host, port, db, query = "127.0.0.1", self.replica_port, "mangalm", ""
        else:
            return None
        return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{db}{query}"

    @property
    def replica_url(self) -> str | None:
        """The owner's connection to the standby (status, lag, tests)."""
        if self.external_replica_url:
            return self.external_replica_url
        return self.replica_url_for("mangalm", self.superuser_password) if self.embedded else None

    @property
    def app_url(self) -> str:
        """The application's connection (service, worker, loader, CLI): the login role
        mangalm_app, no superuser and owner of nothing (db/roles.sql, db/grants.sql)."""
        return self.url_for("mangalm_app", self.app_password)

    @property
    def authenticator_url(self) -> str:
        return self.url_for("authenticator", self.authenticator_password)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def postgrest_url(self) -> str:
        return f"http://127.0.0.1:{self.postgrest_port}"

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.service_port}"

    def redacted_database_url(self) -> str:
        return redact(self.database_url)


def redact(url: str) -> str:
    """A connection URL with its password replaced by ***."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(":" + quote(parts.password, safe="") + "@", ":***@").replace(
            ":" + parts.password + "@", ":***@")
    return url


def remove_state() -> list[Path]:
    """Delete this installation's state folders (`make clean`): the demo's and the named ones."""
    home = state_dir()
    removed = sorted(home.parent.glob(home.name + "*")) if home.parent.exists() else []
    for path in removed:
        shutil.rmtree(path)
    return removed


if __name__ == "__main__":
    # python -m gateway.config --remove-state   (make clean)
    if sys.argv[1:] == ["--remove-state"]:
        for path in remove_state():
            print(f"removed {path}")
    else:
        raise SystemExit("usage: python -m gateway.config --remove-state")
