"""One email rule for accounts: data.is_email, which the users table's CHECK constraint calls
and app.is_email (functions/validation.sql) returns, so the table, the API's triggers and the
user functions (functions/users.sql) accept exactly the same addresses. It lives in `data`
because tables never reference the `app` schema (it is rebuilt on every migrate).

Before, the constraint accepted `name@host` while app.is_email wanted a dot in the domain. An
existing account whose email breaks the rule is kept: the constraint is then left NOT VALID
(checked on every write from now on) until its email is corrected and it is validated."""
from yoyo import step

__depends__ = {"0004_token_validity"}

steps = [
    step(r"""CREATE FUNCTION data.is_email(p_value text) RETURNS boolean
             LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT p_value ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' $$""",
         "DROP FUNCTION data.is_email(text)"),
    step("COMMENT ON FUNCTION data.is_email(text) IS "
         "'True when the text is an email address (one @, no spaces, a dot in the domain): the one email rule'"),
    # Executable only where db/grants.sql grants it (the roles that write users and stores).
    step("REVOKE EXECUTE ON FUNCTION data.is_email(text) FROM PUBLIC"),
    step("ALTER TABLE data.users DROP CONSTRAINT users_email_check,"
         " ADD CONSTRAINT users_email_check CHECK (data.is_email(email)) NOT VALID",
         r"ALTER TABLE data.users DROP CONSTRAINT users_email_check,"
         r" ADD CONSTRAINT users_email_check CHECK (email ~ '^[^@\s]+@[^@\s]+$')"),
    step("""DO $$ BEGIN
              IF NOT EXISTS (SELECT FROM data.users WHERE NOT data.is_email(email)) THEN
                ALTER TABLE data.users VALIDATE CONSTRAINT users_email_check;
              END IF;
            END $$"""),
]
