-- Roles are cluster-wide, so they are created idempotently before every migration run
-- (not in a versioned migration: a second database on the same server needs them too).
-- Passwords for the login roles are set by gateway/migrate.py from the state folder.
DO $$
DECLARE
  r text;
BEGIN
  -- NOLOGIN roles PostgREST switches to, from the JWT's role claim.
  FOREACH r IN ARRAY ARRAY['anon', 'sales_rep', 'manager', 'admin'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
  -- PostgREST's login: NOINHERIT, it only borrows the request's role.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN
    CREATE ROLE authenticator LOGIN NOINHERIT;
  END IF;
  -- Owns the schemas, tables and security-definer functions: not a superuser, cannot log in.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mangalm_owner') THEN
    CREATE ROLE mangalm_owner NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
  -- The Python service, the jobs worker, the loader and the CLI's everyday commands: owns
  -- nothing, and may only run the functions and fill the staging tables db/grants.sql names.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mangalm_app') THEN
    CREATE ROLE mangalm_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
  -- A SQL login for psql and BI tools: read-only, with a statement timeout.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'analyst') THEN
    CREATE ROLE analyst LOGIN;
  END IF;
END
$$;

GRANT anon, sales_rep, manager, admin TO authenticator;
ALTER ROLE analyst SET default_transaction_read_only = on;
ALTER ROLE analyst SET statement_timeout = '30s';
ALTER ROLE authenticator SET statement_timeout = '30s';
-- A BI login takes at most this many connections at once. Its statement timeout is a default
-- it may lift, so the jobs worker ends any analyst statement running longer than
-- analyst.max_statement_seconds (functions/limits.sql).
ALTER ROLE analyst CONNECTION LIMIT 8;
-- The application reads replication state (a job's synchronous commit, gateway/worker.py) and
-- ends overlong analyst statements: two predefined roles, nothing more.
ALTER ROLE mangalm_app INHERIT;
GRANT pg_read_all_stats, pg_signal_backend TO mangalm_app;
