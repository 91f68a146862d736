"""Users: created by `mangalm user add` and `up --demo`; passwords are bcrypt hashes made by
pgcrypto inside the database (app.hash_password), never by Python."""
from __future__ import annotations

import psycopg

USER_ROLES = ("sales_rep", "manager", "admin")


def add_user(conn: psycopg.Connection, email: str, password: str, role: str,
             full_name: str | None = None, sales_person: str | None = None,
             replace: bool = False) -> str:
    """Create the user (or, with replace, reset its password and role); returns its id."""
    if role not in USER_ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(USER_ROLES)}")
    if len(password) < 8:
        raise ValueError("the password must have at least 8 characters")
    conflict = ("DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role, "
                "full_name = coalesce(EXCLUDED.full_name, data.users.full_name), "
                "sales_person = coalesce(EXCLUDED.sales_person, data.users.sales_person)"
                if replace else "DO NOTHING")
    row = conn.execute(
        f"""INSERT INTO data.users (email, password_hash, role, full_name, sales_person)
            VALUES (%s, app.hash_password(%s), %s, %s, %s)
            ON CONFLICT (lower(email)) {conflict} RETURNING id""",
        (email, password, role, full_name, sales_person)).fetchone()
    if row is None:
        raise ValueError(f"a user with the email {email} already exists")
    return str(row[0])


def find_user(conn: psycopg.Connection, email: str) -> dict | None:
    row = conn.execute("SELECT id, email, role, full_name, sales_person FROM data.users "
                       "WHERE lower(email) = lower(%s)", (email,)).fetchone()
    return dict(zip(("id", "email", "role", "full_name", "sales_person"), row)) if row else None
