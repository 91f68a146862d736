-- JWT claims are read only through these helpers. PostgREST 12 puts the verified claims in
-- request.jwt.claims (there are no request.jwt.claim.* settings any more). In RLS policies
-- call them as (select app.current_user_id()) so they run once per query, not once per row.

-- The whole claims object of the current request ('{}' outside PostgREST).
CREATE FUNCTION app.jwt_claims() RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb, '{}'::jsonb)
$$;

-- The id of the user making the request (the token's sub), or NULL.
CREATE FUNCTION app.current_user_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN app.jwt_claims() ->> 'sub' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
              THEN (app.jwt_claims() ->> 'sub')::uuid END
$$;

-- The role the request runs as: the token's role claim, or the SQL role outside PostgREST.
CREATE FUNCTION app.current_app_role() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT coalesce(app.jwt_claims() ->> 'role', current_user::text)
$$;

-- The export's "Sales person" name of the requesting rep (security definer: reps cannot
-- read the users table itself).
CREATE FUNCTION app.current_sales_person() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
  SELECT sales_person FROM data.users WHERE id = app.current_user_id()
$$;

-- True when the current SQL role is one PostgREST switches to for API callers, false for the
-- owner (migrations, the ingest pipeline, the analytics refresh). Triggers that exist only to
-- check API writes use it in their WHEN clause, so bulk loads by the owner never enter them.
CREATE FUNCTION app.in_api_role() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT current_user IN ('anon', 'sales_rep', 'manager', 'admin')
$$;

-- PostgREST's db-pre-request hook: runs before every request, after the role switch.
-- Refuses (401) what app.token_problem (functions/auth.sql) refuses: the one token check,
-- which the Python service runs too. Reads only, so it also works for GET requests, which
-- PostgREST runs read-only.
CREATE FUNCTION app.check_request() RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_claims jsonb := app.jwt_claims();   -- parsed once
BEGIN
  -- Without a token PostgREST's claims are just {"role": "anon"}: nothing to check.
  IF v_claims - 'role' = '{}'::jsonb THEN
    RETURN;
  END IF;
  PERFORM app.refuse_token(app.token_problem(v_claims));
END
$$;

-- A token whose role claim names no role of this API must answer 401, not 400.
--
-- PostgREST switches to the token's role with an unqualified `set_config('role', $1, true)`
-- as the first statement of every request, before db-pre-request runs. For a role that does
-- not exist PostgreSQL raises 22023 (PostgREST answers 400); for an existing role that the
-- authenticator may not become (analyst, the owner) it raises 42501 (403). nginx cannot read
-- the token, and a check in the Python service would put Python in front of every API call.
-- So the check sits where the switch happens: the authenticator's search_path puts the schema
-- pgrst_guard before pg_catalog (db/grants.sql), and this set_config resolves first. It
-- passes every call through to pg_catalog.set_config, and refuses a role that is not granted
-- to the authenticator with PT401, which PostgREST answers as 401 with a JSON body.
-- The schema lives outside app/api because it must not be dropped while PostgREST runs, and
-- holds nothing else, so it can shadow no other name. tests/test_auth.py proves the 401; if a
-- PostgREST upgrade ever qualified the call as pg_catalog.set_config, that test fails.
CREATE SCHEMA IF NOT EXISTS pgrst_guard;
COMMENT ON SCHEMA pgrst_guard IS
  'Guards PostgREST''s role switch: set_config refuses roles the authenticator cannot take (functions/00_claims.sql)';

-- True when the authenticator (this session's login) was granted the role. One expression
-- without a subquery, so PostgreSQL inlines it: a subquery here was planned again on every
-- request. quote_ident keeps the name exact ("Manager" is not manager, as for SET ROLE).
CREATE OR REPLACE FUNCTION pgrst_guard.role_allowed(p_role text) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT p_role IS DISTINCT FROM session_user::text
     AND coalesce(pg_catalog.pg_has_role(session_user,
                    pg_catalog.to_regrole(pg_catalog.quote_ident(p_role)), 'MEMBER'), false)
$$;

-- Raises the 401 for a role the token may not carry; returns nothing.
CREATE OR REPLACE FUNCTION pgrst_guard.refuse_role(p_role text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  RAISE SQLSTATE 'PT401' USING
    MESSAGE = format('the token''s role %s is not a role of this API', p_role),
    HINT = 'roles are anon, sales_rep, manager and admin; log in again for a valid token';
END
$$;

-- pg_catalog.set_config with the role check; SQL, so the common path costs one CASE.
CREATE OR REPLACE FUNCTION pgrst_guard.set_config(setting_name text, new_value text, is_local boolean)
RETURNS text
LANGUAGE sql AS $$
  SELECT pg_catalog.set_config(setting_name,
           CASE WHEN setting_name <> 'role' OR pgrst_guard.role_allowed(new_value) THEN new_value
                ELSE pgrst_guard.refuse_role(new_value) END,
           is_local)
$$;
