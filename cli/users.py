"""mangalm user add: accounts for the dashboard and the API."""
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
