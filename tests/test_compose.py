"""docker-compose.yml describes the same system as the local stack (Docker cannot run on
these machines, so this test keeps the two in step)."""
import re
from pathlib import Path

import yaml

from gateway.config import JWT_AUDIENCE

ROOT = Path(__file__).resolve().parent.parent


def postgrest_conf() -> dict[str, str]:
    conf = {}
    for line in (ROOT / "postgrest.conf").read_text().splitlines():
        m = re.match(r'^\s*([a-z0-9-]+)\s*=\s*"?([^"#]*?)"?\s*(#.*)?$', line)
        if m:
            conf[m[1]] = m[2]
    return conf


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_postgrest_is_configured_the_same_way():
    conf, env = postgrest_conf(), compose()["services"]["postgrest"]["environment"]
    assert compose()["services"]["postgrest"]["image"] == "postgrest/postgrest:v12.0.2"
    for key in ("db-schemas", "db-anon-role", "db-max-rows", "db-pre-request", "jwt-aud",
                "jwt-cache-max-lifetime", "server-port", "admin-server-port"):
        assert str(env["PGRST_" + key.upper().replace("-", "_")]) == conf[key], key
    assert conf["db-schemas"] == "api" and conf["jwt-aud"] == JWT_AUDIENCE
    assert env["PGRST_DB_URI"].startswith("postgresql://authenticator:")
    assert conf["db-uri"].startswith("postgresql://authenticator@")


def test_ports_match_the_design():
    services = compose()["services"]
    assert services["nginx"]["ports"] == ["127.0.0.1:3007:3007"]
    assert services["postgres"]["ports"] == ["127.0.0.1:3432:5432"]
    assert services["postgres"]["image"] == "postgres:15"
    assert "3009" in services["service"]["command"]
    assert postgrest_conf()["server-port"] == "3008" and postgrest_conf()["admin-server-port"] == "3010"


def test_roles_in_compose_exist_in_the_schema():
    roles_sql = (ROOT / "db" / "roles.sql").read_text()
    env = compose()["services"]["postgrest"]["environment"]
    for role in (env["PGRST_DB_ANON_ROLE"], "authenticator"):
        assert re.search(rf"\b{role}\b", roles_sql), role


def test_no_secret_is_written_in_compose():
    text = (ROOT / "docker-compose.yml").read_text()
    assert "PASSWORD: ${" in text and "JWT_SECRET: ${" in text
    assert not re.search(r"(PASSWORD|SECRET):\s+[A-Za-z0-9]{8,}\s*$", text, re.M)


def test_the_docker_front_door_is_the_rendered_template():
    from gateway.nginx import render_docker

    committed = (ROOT / "gateway" / "nginx.docker.conf").read_text()
    assert committed == render_docker(), "run: python -m gateway.nginx > gateway/nginx.docker.conf"
    nginx = compose()["services"]["nginx"]
    assert "./gateway/nginx.docker.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert "server postgrest:3008;" in committed and "server service:3009;" in committed


def test_mounted_host_paths_exist():
    """Every file or folder the compose file mounts from the repository is there."""
    for service in compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"docker-compose.yml mounts {source}, which does not exist"


def test_the_image_installs_the_wheel_not_the_checkout():
    """The image holds an installed wheel (SQL, migrations and web files inside it), not an
    editable checkout; test_first_run.py proves such a wheel migrates and serves on its own."""
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir /src && rm -rf /src" in text
    assert " -e " not in text
