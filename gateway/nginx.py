"""Renders the nginx front door's configuration for the current settings."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from .config import ROOT, Settings

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
# When the master runs as root its workers drop to this user.
WORKER_USER = "nobody"


def nginx_bin() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError("nginx not found: install nginx-light (make demo does)")


def render(settings: Settings) -> Path:
    temp = settings.run_dir / "nginx"
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp / sub).mkdir(parents=True, exist_ok=True)
    user_line = ""
    if os.geteuid() == 0:
        group = "nogroup"
        user_line = f"user {WORKER_USER} {group};"
        uid = pwd.getpwnam(WORKER_USER).pw_uid
        for path in [temp, *temp.iterdir()]:
            os.chown(path, uid, -1)
    values = {
        "USER": user_line, "RUN_DIR": settings.run_dir, "LOG_DIR": settings.log_dir, "ROOT": ROOT,
        "HTTP_PORT": settings.http_port, "POSTGREST_PORT": settings.postgrest_port,
        "SERVICE_PORT": settings.service_port,
    }
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    out = settings.run_dir / "nginx.conf"
    out.write_text(text)
    return out


def check(conf: Path, settings: Settings) -> None:
    """nginx -t, so a broken configuration fails `up` with nginx's own message."""
    result = subprocess.run([nginx_bin(), "-t", "-q", "-c", str(conf), "-e", str(settings.log_dir / "nginx-error.log")],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"nginx refused its configuration: {result.stderr.strip()}")


def version() -> str:
    out = subprocess.run([nginx_bin(), "-v"], capture_output=True, text=True).stderr
    return out.strip().split("/")[-1] if out else "unknown"
