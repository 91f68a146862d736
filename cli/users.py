"""mangalm user add / list / set / assign / analyst-url: accounts for the dashboard and the API,
and the analyst's read-only SQL login."""
from __future__ import annotations

import sys

import click

from gateway.db import connect
from gateway.users import USER_ROLES, add_user

from .common import friendly_errors, settings


@click.group()
def user() -> None:
    """Manage users (dashboard and API accounts)."""


@user.command("add")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(USER_ROLES), help="What the user may do.")
@click.option("--name", "full_name", help="The user's full name.")
@click.option("--sales-person", help="For reps: their name as the export's 'Sales person' column writes it.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of a prompt.")
@friendly_errors
def add(email: str, role: str, full_name: str | None, sales_person: str | None, password_stdin: bool) -> None:
    """Create a user with a password (at least 8 characters)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with connect(settings()) as conn:
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

    with connect(settings()) as conn:
        cur = conn.execute("""SELECT email, role, full_name, sales_person, is_active, last_login_at,
                                     (SELECT count(*) FROM data.store_assignments a WHERE a.user_id = u.id) AS assigned
                              FROM data.users u ORDER BY role, lower(email)""")
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
@click.option("--role", type=click.Choice(USER_ROLES), help="Change what the user may do.")
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
    if password is not None and not 8 <= len(password.encode()) <= 72:
        raise click.ClickException("the password must have 8 to 72 bytes")
    with connect(settings()) as conn:
        row = conn.execute(
            """UPDATE data.users SET role = coalesce(%s, role), full_name = coalesce(%s, full_name),
                      sales_person = coalesce(%s, sales_person), is_active = coalesce(%s, is_active),
                      password_hash = coalesce(app.hash_password(%s), password_hash)
               WHERE lower(email) = lower(%s) RETURNING role, is_active""",
            (role, full_name, sales_person, active, password, email)).fetchone()
    if row is None:
        raise click.ClickException(f"no user with the email {email}; see `mangalm user list`")
    click.echo(f"Updated {email}: {row[0]}{'' if row[1] else ', deactivated'}.")


@user.command("assign")
@click.argument("email")
@click.argument("store_ids", nargs=-1, required=True)
@click.option("--remove", is_flag=True, help="Take the stores away instead of assigning them.")
@friendly_errors
def assign(email: str, store_ids: tuple[str, ...], remove: bool) -> None:
    """Assign stores to a sales rep (beside the stores of their Sales person name)."""
    with connect(settings()) as conn:
        found = conn.execute("SELECT id, role FROM data.users WHERE lower(email) = lower(%s)", (email,)).fetchone()
        if found is None:
            raise click.ClickException(f"no user with the email {email}; see `mangalm user list`")
        if found[1] != "sales_rep":
            raise click.ClickException(f"{email} is a {found[1]}; only sales reps are assigned stores (the others see all)")
        if remove:
            cur = conn.execute("DELETE FROM data.store_assignments WHERE user_id = %s AND store_id = ANY(%s)",
                               (found[0], list(store_ids)))
            click.echo(f"Removed {cur.rowcount} assignment(s) from {email}.")
            return
        known = {r[0] for r in conn.execute("SELECT id FROM data.stores WHERE id = ANY(%s)", (list(store_ids),))}
        missing = [s for s in store_ids if s not in known]
        if missing:
            raise click.ClickException(f"no store with the id {', '.join(missing)}; nothing was assigned")
        cur = conn.execute("""INSERT INTO data.store_assignments (store_id, user_id)
                              SELECT unnest(%s::text[]), %s ON CONFLICT DO NOTHING""", (list(store_ids), found[0]))
    click.echo(f"Assigned {cur.rowcount} store(s) to {email}.")


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
