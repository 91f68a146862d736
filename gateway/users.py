"""Users: created by `mangalm user add` and `up --demo`. Every rule (email, password, role,
store assignments) and the bcrypt hash live in the database (functions/users.sql); Python only
calls those functions and passes their refusals on."""
from __future__ import annotations

import psycopg


def add_user(conn: psycopg.Connection, email: str, password: str, role: str,
             full_name: str | None = None, sales_person: str | None = None,
             replace: bool = False) -> str:
    """Create the user (or, with replace, reset its password and role); returns its id.
    A refusal is raised as the database's error (e.g. 22023 with a sentence)."""
    row = conn.execute("SELECT app.add_user(%s, %s, %s, %s, %s, %s)",
                       (email, password, role, full_name, sales_person, replace)).fetchone()
    return str(row[0])


def find_user(conn: psycopg.Connection, email: str) -> dict | None:
    row = conn.execute("SELECT id, email, role, full_name, sales_person FROM app.user_list(%s)",
                       (email,)).fetchone()
    return dict(zip(("id", "email", "role", "full_name", "sales_person"), row)) if row else None
