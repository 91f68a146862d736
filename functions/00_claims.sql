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
  SELECT CASE WHEN app.jwt_claims() ->> 'sub' ~* '^[0-9a-f-]{36}$'
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

-- PostgREST's db-pre-request hook: refuses tokens that were revoked (logout). Reads only,
-- so it also works for GET requests, which PostgREST runs read-only.
CREATE FUNCTION app.check_request() RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_jti text := app.jwt_claims() ->> 'jti';
BEGIN
  IF v_jti IS NOT NULL AND v_jti ~* '^[0-9a-f-]{36}$'
     AND EXISTS (SELECT FROM data.revoked_tokens WHERE jti = v_jti::uuid) THEN
    RAISE SQLSTATE 'PT401' USING
      MESSAGE = 'this token was revoked (logged out); log in again',
      DETAIL = 'revoked token';
  END IF;
END
$$;
