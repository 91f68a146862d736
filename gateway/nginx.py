"""Renders the nginx front door's configuration for the current settings."""
from __future__ import annotations

import ipaddress
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

from . import home
from .config import Settings

TEMPLATE = Path(__file__).with_name("nginx.conf.template")


def nginx_bin() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError("nginx not found: install nginx-light (make demo does)")


# Front-door policy from the environment: requests a minute per client address on
# /api/ and /auth/, the addresses exempt from that limit, and the origins CORS allows.
DEFAULT_RATE_LIMIT = 100
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def rate_limit() -> int:
    value = os.environ.get("MANGALM_RATE_LIMIT_PER_MINUTE", str(DEFAULT_RATE_LIMIT))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"MANGALM_RATE_LIMIT_PER_MINUTE={value!r} is not a positive whole number")
    return int(value)


def _networks(variable: str, example: str) -> list:
    """The addresses or networks of a comma-separated environment variable; a clear error
    naming the variable for anything else."""
    networks = []
    for item in filter(None, (p.strip() for p in os.environ.get(variable, "").split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{variable}: {item!r} is not an address or network (e.g. {example})") from None
    return networks


def rate_limit_exempt_lines() -> str:
    """geo block lines for MANGALM_RATE_LIMIT_EXEMPT: addresses or networks, comma-separated."""
    return "\n".join(f"    {n} 1;" for n in _networks("MANGALM_RATE_LIMIT_EXEMPT", "127.0.0.1 or 10.0.0.0/8"))


def real_ip_lines() -> str:
    """realip lines for MANGALM_TRUSTED_PROXIES (comma-separated addresses or networks of the
    proxies in front of nginx); empty when unset, so X-Forwarded-For from clients is ignored."""
    lines = [f"  set_real_ip_from {n};" for n in _networks("MANGALM_TRUSTED_PROXIES", "10.0.0.5 or 10.0.0.0/8")]
    if lines:
        lines += ["  real_ip_header X-Forwarded-For;", "  real_ip_recursive on;"]
    return "\n".join(lines)


def cors_origin_lines() -> str:
    """map block lines for MANGALM_CORS_ORIGINS: origins (scheme://host[:port]) or *."""
    origins = [p.strip().rstrip("/") for p in os.environ.get("MANGALM_CORS_ORIGINS", "").split(",") if p.strip()]
    if "*" in origins:
        return '    default "*";'
    lines = ['    default "";']
    for origin in origins:
        if not ORIGIN.match(origin):
            raise ValueError(f"MANGALM_CORS_ORIGINS: {origin!r} is not an origin like https://app.example.com "
                             "(scheme, host and optional port; no path)")
        lines.append(f'    "{origin}" $http_origin;')
    return "\n".join(lines)


def postgrest_servers(host: str, ports: list[int]) -> str:
    """The upstream's server lines: one per PostgREST instance (MANGALM_POSTGREST_INSTANCES;
    ports from Settings.postgrest_instance_ports). nginx's round robin spreads requests, and an
    instance that fails is skipped for 10 s (max_fails=1, the default)."""
    return "\n".join(f"    server {host}:{port};" for port in ports)


def render_text(values: dict) -> str:
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    return text


def render(settings: Settings) -> Path:
    www = home.publish_web(settings)
    temp = settings.run_dir / "nginx"
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp / sub).mkdir(parents=True, exist_ok=True)
    user_line = ""
    if os.geteuid() == 0:
        group = "nogroup"
        user_line = f"user {home.NGINX_WORKER_USER} {group};"
        uid = pwd.getpwnam(home.NGINX_WORKER_USER).pw_uid
        for path in [temp, *temp.iterdir()]:
            os.chown(path, uid, -1)
    values = {
        "USER": user_line, "RUN_DIR": settings.run_dir, "LOG_DIR": settings.log_dir, "WWW": www, "DOCS": www / "docs",
        "LISTEN_HOST": "127.0.0.1", "SERVICE_HOST": "127.0.0.1",
        "HTTP_PORT": settings.http_port, "POSTGREST_SERVERS": postgrest_servers(
            "127.0.0.1", [settings.postgrest_instance_ports(i)[0] for i in range(settings.postgrest_instances)]),
        "SERVICE_PORT": settings.service_port,
        "RATE_LIMIT": rate_limit(), "RATE_LIMIT_EXEMPT": rate_limit_exempt_lines(),
        "CORS_ORIGINS": cors_origin_lines(), "REAL_IP": real_ip_lines(),
    }
    out = settings.run_dir / "nginx.conf"
    out.write_text(render_text(values))
    return out


def render_docker() -> str:
    """The same front door for docker-compose.yml: services by name, the dashboard and docs
    mounted at /srv/www and /srv/docs, the design's default ports and policy (gateway/nginx.docker.conf)."""
    return render_text({
        "USER": "", "RUN_DIR": "/tmp", "LOG_DIR": "/var/log/nginx", "WWW": "/srv/www", "DOCS": "/srv/docs",
        "LISTEN_HOST": "0.0.0.0", "SERVICE_HOST": "service",
        "HTTP_PORT": 3007, "POSTGREST_SERVERS": postgrest_servers("postgrest", [3008]), "SERVICE_PORT": 3009,
        "RATE_LIMIT": DEFAULT_RATE_LIMIT, "RATE_LIMIT_EXEMPT": "", "CORS_ORIGINS": '    default "";',
        "REAL_IP": "",
    })


def check(conf: Path, settings: Settings) -> None:
    """nginx -t, so a broken configuration fails `up` with nginx's own message."""
    result = subprocess.run([nginx_bin(), "-t", "-q", "-c", str(conf), "-e", str(settings.log_dir / "nginx-error.log")],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"nginx refused its configuration: {result.stderr.strip()}")


def version() -> str:
    out = subprocess.run([nginx_bin(), "-v"], capture_output=True, text=True).stderr
    return out.strip().split("/")[-1] if out else "unknown"


if __name__ == "__main__":
    # python -m gateway.nginx > gateway/nginx.docker.conf  (tests/test_compose.py checks it)
    print(render_docker(), end="")
