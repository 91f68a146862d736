"""mangalm user add / list / set / assign / analyst-url: accounts for the dashboard and the API,
and the analyst's read-only SQL login."""
from __future__ import annotations

import contextlib
import sys

import click
import psycopg

from gateway.db import connect
from gateway.users import add_user

from .common import friendly_errors, settings

# The roles are the database's rule (app.check_user); this only helps the reader of --help.
ROLE_HELP = "sales_rep, manager or admin"


@contextlib.contextmanager
def _refusals():
    """A refusal from the user functions (functions/users.sql: 22023, PT404, PT409, ...) is
    shown as its sentence on stderr with exit status 1: the same words the API answers."""
    try:
        yield
    except psycopg.Error as e:
        if not e.sqlstate:      # not an answer from the server (e.g. it is unreachable)
            raise
        message = e.diag.message_primary or str(e).strip()
        if e.diag.message_hint:
            message += f" ({e.diag.message_hint})"
        raise click.ClickException(message) from None


@click.group()
def user() -> None:
    """Manage users (dashboard and API accounts)."""


@user.command("add")
@click.argument("email")
@click.option("--role", required=True, help=f"What the user may do: {ROLE_HELP}.")
@click.option("--name", "full_name", help="The user's full name.")
@click.option("--sales-person", help="For reps: their name as the export's 'Sales person' column writes it.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
@friendly_errors
def add(email: str, role: str, full_name: str | None, sales_person: str | None, password_stdin: bool) -> None:
    """Create a user with a password (8 characters to 72 bytes)."""
    password = _read_password(password_stdin)
    with _refusals(), connect(settings()) as conn:
        user_id = add_user(conn, email, password, role, full_name, sales_person)
    click.echo(f"Created {role} {email} ({user_id}).")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line (for scripts).")
@friendly_errors
def list_users(as_json: bool) -> None:
    """List the users: email, role, sales person, active, last login."""
    import json

    with _refusals(), connect(settings()) as conn:
        cur = conn.execute("SELECT email, role, full_name, sales_person, is_active, last_login_at, assigned "
                           "FROM app.user_list()")
        rows = [dict(zip([c.name for c in cur.description], r)) for r in cur.fetchall()]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, default=str))
        return
    if not rows:
        click.echo("No users yet; create one with `mangalm user add EMAIL --role ROLE`.")
    for r in rows:
        state = "" if r["is_active"] else "  (deactivated)"
        rep = f"  sales person: {r['sales_person']}" if r["sales_person"] else ""
        extra = f"  +{r['assigned']} assigned stores" if r["assigned"] else ""
        click.echo(f"{r['role']:<10} {r['email']}{rep}{extra}{state}")


@user.command("set")
@click.argument("email")
@click.option("--role", help=f"Change what the user may do: {ROLE_HELP}.")
@click.option("--name", "full_name", help="Change the user's full name.")
@click.option("--sales-person", help="Change the rep's name as the export's 'Sales person' column writes it.")
@click.option("--active/--inactive", default=None, help="Let the user log in again, or stop them (their tokens stop working).")
@click.option("--password", "new_password", is_flag=True, help="Also set a new password (prompted).")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@friendly_errors
def set_user(email: str, role: str | None, full_name: str | None, sales_person: str | None,
             active: bool | None, new_password: bool, password_stdin: bool) -> None:
    """Change a user's role, name, sales person, password or whether they may log in."""
    password = _read_password(password_stdin) if (new_password or password_stdin) else None
    # One transaction: a refused password leaves the other changes undone too.
    with _refusals(), connect(settings()) as conn, conn.transaction():
        row = conn.execute("SELECT role, is_active FROM app.set_user(%s, %s, %s, %s, %s)",
                           (email, role, full_name, sales_person, active)).fetchone()
        if password is not None:
            conn.execute("SELECT app.set_password(%s, %s)", (email, password))
    click.echo(f"Updated {email}: {row[0]}{'' if row[1] else ', deactivated'}.")


@user.command("assign")
@click.argument("email")
@click.argument("store_ids", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Take the stores away instead of assigning them.")
@friendly_errors
def assign(email: str, store_ids: tuple[str, ...], remove: bool) -> None:
    """Assign stores to a sales rep (beside the stores of their Sales person name)."""
    with _refusals(), connect(settings()) as conn:
        if remove:
            n = conn.execute("SELECT app.unassign_stores(%s, %s)", (email, list(store_ids))).fetchone()[0]
            click.echo(f"Removed {n} assignment(s) from {email}.")
            return
        n = conn.execute("SELECT app.assign_stores(%s, %s)", (email, list(store_ids))).fetchone()[0]
    click.echo(f"Assigned {n} store(s) to {email}.")


@user.command("analyst-url")
@friendly_errors
def analyst_url() -> None:
    """Print the read-only analyst login for psql and BI tools (a connection URL).

    When a replica runs (`mangalm up --replica`, or MANGALM_REPLICA_URL) it points there: a
    hot standby where nothing can write, so no analyst query slows or blocks an upload.
    """
    from gateway import replica

    s = settings()
    if s.external_replica_url or replica.is_running(s):
        click.echo(s.replica_url_for("analyst", s.analyst_password))
        return
    click.echo(s.url_for("analyst", s.analyst_password))
