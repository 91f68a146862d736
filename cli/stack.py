"""mangalm up / down / status / migrate / token: the stack's lifecycle."""
from __future__ import annotations

import click

from gateway import replica, stack, tokens
from gateway.migrate import migrate as run_migrate

from .common import friendly_errors, settings


def _step(message: str) -> None:
    click.echo(f"  {message}", err=True)


@click.command()
@click.option("--demo", is_flag=True, help="Load the demo data set and create demo users.")
@click.option("--detach", is_flag=True, help="Start in the background and return; stop with `mangalm down`.")
@click.option("--replica", "with_replica", is_flag=True,
              help="Also run a hot standby (streaming replica) on MANGALM_REPLICA_PORT (3433) for analysts "
                   "and `mangalm failover`; with DATABASE_URL, MANGALM_REPLICA_URL names your own standby.")
@friendly_errors
def up(demo: bool, detach: bool, with_replica: bool) -> None:
    """Start PostgreSQL, migrations, PostgREST, the Python service and nginx, in that order.

    In the foreground (the default) it waits until Ctrl-C or SIGTERM, then stops everything.
    A replica made by an earlier `up --replica` is started again too.
    """
    s = settings()
    if stack.is_running(s):
        if with_replica and s.embedded and not replica.is_running(s):
            replica.start(s, _step)
            click.echo(f"Replica started on 127.0.0.1:{s.replica_port}.")
        click.echo(f"Mangalm is already running at {s.gateway_url} (stop it with `mangalm down`).")
        return
    stack.raise_on_signals()
    users: list[tuple[str, str]] = []

    def after_migrate() -> None:
        if demo:
            from gateway import demo as demo_data
            _step("loading the demo data")
            users.extend(demo_data.load(s))

    try:
        stack.start(s, on_step=_step, after_migrate=after_migrate, with_replica=with_replica)
    except stack.Interrupted:
        raise click.ClickException("interrupted; everything started so far was stopped") from None
    click.echo(f"  state folder: {s.home}", err=True)
    click.echo(f"\nMangalm is running: dashboard {s.gateway_url}/  API {s.gateway_url}/api/  "
               f"health {s.gateway_url}/health")
    if users:
        from gateway.demo import DEMO_PASSWORD
        click.echo("Demo users (password: %s): %s" % (DEMO_PASSWORD, ", ".join(f"{e} ({r})" for e, r in users)))
    if detach:
        click.echo("Running in the background; stop it with `mangalm down`.")
        return
    click.echo("Press Ctrl-C to stop.")
    stack.run_foreground(s, _step)
    click.echo("Stopped.")


@click.command()
@friendly_errors
def down() -> None:
    """Stop every process `mangalm up` started (nothing is left running or listening)."""
    stopped = stack.down(settings())
    click.echo("Stopped: " + ", ".join(stopped) if stopped else "Nothing was running.")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (for scripts).")
@friendly_errors
def status(as_json: bool) -> None:
    """Show whether each component runs, its port and version, and the URLs."""
    info = stack.status(settings())
    if as_json:
        click.echo(stack.dumps(info))
        return
    click.echo(f"Mangalm {'is running' if info['running'] else 'is not (fully) running'}  "
               f"(state folder {info['home']})")
    for name, comp in info["components"].items():
        state = "running" if comp["running"] else "stopped"
        click.echo(f"  {name:<10} {state:<8} port {comp.get('port', '-')}  version "
                   f"{info['versions'].get(name.split('-')[0], info['versions']['mangalm'])}")
    rep = info.get("replica")
    if rep:
        lag = "" if rep["lag_bytes"] is None else f"  lag {rep['lag_bytes']} bytes, {rep['lag_seconds']} s"
        click.echo(f"  {'replica':<10} {rep['state']:<8} {rep['url']}{lag}")
    click.echo(f"  dashboard  {info['gateway_url']}/   database {info['database_url']}")


@click.command()
@click.option("--force", is_flag=True,
              help="Fail over even though the primary still answers (it is stopped cleanly first).")
@friendly_errors
def failover(force: bool) -> None:
    """Promote the replica when the primary is gone and run the stack on it.

    Refuses while the primary still answers (unless --force). The promoted replica's data
    folder becomes the stack's cluster on the primary's port, so every URL stays the same; the
    old primary's folder is kept as pgdata.failed-<time>.
    """
    s = settings()
    result = replica.failover(s, force=force, on_step=_step)
    click.echo(f"Failed over in {result['seconds']} s (promoted after {result['promoted_after_seconds']} s): "
               f"Mangalm runs on the promoted replica at {s.gateway_url}, database 127.0.0.1:{s.pg_port}.")
    click.echo(f"There is no replica now. To get a new one: `mangalm up --replica` (a base backup of the "
               f"new primary). The old primary's files are in {result['old_primary']}; delete them once "
               "you no longer need them.")


@click.command()
@friendly_errors
def migrate() -> None:
    """Apply pending migrations and re-create functions, views, policies and grants."""
    applied = run_migrate(settings())
    click.echo(f"Applied {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}; "
               "functions, views, policies and grants re-applied.")


@click.command()
@click.option("--role", required=True, type=click.Choice(tokens.ROLES), help="The role the token grants.")
@click.option("--user", "email", help="Email of an existing user, who becomes the token's subject.")
@click.option("--ttl", type=click.IntRange(min=1), default=tokens.DEFAULT_TTL, show_default=True,
              help="Lifetime of the token in seconds.")
@friendly_errors
def token(role: str, email: str | None, ttl: int) -> None:
    """Print a signed JWT for scripts (use it as `Authorization: Bearer TOKEN`)."""
    s = settings()
    user_id = None
    if email:
        from gateway.db import connect
        from gateway.users import find_user
        with connect(s) as conn:
            user = find_user(conn, email)
        if not user:
            raise click.ClickException(f"no user with the email {email}; create one with `mangalm user add`")
        user_id = user["id"]
    signed, _ = tokens.issue(s, role, user_id, email, ttl)
    click.echo(signed)
