-- Logins and tokens. The Python service (gateway/auth.py) calls app.login and signs the JWT
-- itself (the database has no JWT signer); PostgREST checks revocation in app.check_request.
-- Passwords are bcrypt hashes made only by app.hash_password, whoever sets them (API, CLI,
-- demo), so one cost applies everywhere; app.login upgrades an older, cheaper hash when its
-- owner next logs in.

-- A login setting from data.settings (an admin may tune it there), else the default.
CREATE FUNCTION app.login_setting(p_key text, p_default integer) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
  SELECT coalesce((SELECT CASE WHEN jsonb_typeof(value) = 'number' THEN (value #>> '{}')::numeric::integer END
                   FROM data.settings WHERE key = p_key), p_default)
$$;

-- bcrypt's cost (log2 of its rounds). 11 takes ~100 ms a hash on the 2-core development
-- machine (measured 2026-12-03: cost 6 3.5 ms, 8 15 ms, 10 55 ms, 11 103 ms), slow enough to
-- make guessing from a stolen table expensive and fast enough for a login. An admin may set
-- login.bcrypt_cost in data.settings (4-15) after measuring a different machine.
CREATE FUNCTION app.password_cost() RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
  SELECT least(15, greatest(4, app.login_setting('login.bcrypt_cost', 11)))
$$;

-- The bcrypt hash of a password, at the current cost.
CREATE FUNCTION app.hash_password(p_password text) RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
  SELECT public.crypt(p_password, public.gen_salt('bf', app.password_cost()))
$$;

-- True when a hash was made at another cost than the current one (it is re-made at login).
CREATE FUNCTION app.password_needs_rehash(p_hash text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
  SELECT substring(p_hash FROM '^\$2[abxy]?\$([0-9]{2})\$')::integer IS DISTINCT FROM app.password_cost()
$$;

-- Checks an email and password and records the attempt. Returns one row: outcome 'ok' (with
-- the account), 'invalid' (wrong email or password — the two are not told apart), or 'locked'
-- (too many failures; retry_after says in how many seconds to try again). Call it for every
-- login; p_address is the client's address, for the per-address limit.
--
-- Limits: login.max_failures_per_account (default 5) failures of one email inside
-- login.window_seconds (default 900; a success clears the account's count), and
-- login.max_failures_per_address (default 20) failures from one address in the same window.
-- Timing: whether or not the email exists, exactly one bcrypt runs (against a fresh salt
-- of the same cost when there is no account), so the answer time does not reveal accounts.
-- A locked answer runs no bcrypt, but locks are kept per email string, existing or not.
CREATE FUNCTION app.login(p_email text, p_password text, p_address inet DEFAULT NULL)
RETURNS TABLE (outcome text, retry_after integer, user_id uuid, email text, role text,
               full_name text, sales_person text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_email text := lower(btrim(coalesce(p_email, '')));
  v_window interval := make_interval(secs => app.login_setting('login.window_seconds', 900));
  v_max_account integer := app.login_setting('login.max_failures_per_account', 5);
  v_max_address integer := app.login_setting('login.max_failures_per_address', 20);
  v_unlock_at timestamptz;
  v_user data.users;
  v_hash text;
  v_ok boolean;
BEGIN
  -- The moment the account, or the address, gets a try back: when the max-th most recent
  -- failure inside the window leaves it. NULL when neither is locked.
  SELECT max(unlock) INTO v_unlock_at FROM (
    (SELECT a.at + v_window AS unlock FROM data.login_attempts a
     WHERE lower(a.email) = v_email AND NOT a.succeeded AND a.at > now() - v_window
       AND a.at > coalesce((SELECT max(s.at) FROM data.login_attempts s
                            WHERE lower(s.email) = v_email AND s.succeeded), '-infinity')
     ORDER BY a.at DESC OFFSET v_max_account - 1 LIMIT 1)
    UNION ALL
    (SELECT a.at + v_window FROM data.login_attempts a
     WHERE p_address IS NOT NULL AND a.address = p_address AND NOT a.succeeded
       AND a.at > now() - v_window
     ORDER BY a.at DESC OFFSET v_max_address - 1 LIMIT 1)) locks;
  IF v_unlock_at IS NOT NULL THEN
    RETURN QUERY SELECT 'locked'::text, greatest(1, ceil(extract(epoch FROM v_unlock_at - now())))::integer,
                        NULL::uuid, NULL::text, NULL::text, NULL::text, NULL::text;
    RETURN;
  END IF;

  SELECT * INTO v_user FROM data.users u WHERE lower(u.email) = v_email;
  v_hash := coalesce(v_user.password_hash, public.gen_salt('bf', app.password_cost()));
  v_ok := public.crypt(coalesce(p_password, ''), v_hash) = v_hash
          AND v_user.id IS NOT NULL AND v_user.is_active;

  INSERT INTO data.login_attempts (email, address, succeeded) VALUES (v_email, p_address, v_ok);
  -- Keep the attempts table small: a day of history per email and per address is plenty.
  DELETE FROM data.login_attempts a WHERE lower(a.email) = v_email AND a.at < now() - interval '1 day';
  DELETE FROM data.login_attempts a WHERE a.address = p_address AND a.at < now() - interval '1 day';

  IF NOT v_ok THEN
    RETURN QUERY SELECT 'invalid'::text, NULL::integer, NULL::uuid, NULL::text, NULL::text, NULL::text, NULL::text;
    RETURN;
  END IF;
  UPDATE data.users SET last_login_at = now(),
    password_hash = CASE WHEN app.password_needs_rehash(password_hash)
                         THEN app.hash_password(p_password) ELSE password_hash END
  WHERE id = v_user.id;
  RETURN QUERY SELECT 'ok'::text, NULL::integer, v_user.id, v_user.email, v_user.role, v_user.full_name,
                      v_user.sales_person;
END
$$;

-- The account behind a token, for GET /auth/me; no row when it is gone or deactivated.
CREATE FUNCTION app.session_user_info(p_user_id uuid)
RETURNS TABLE (user_id uuid, email text, role text, full_name text, sales_person text, last_login_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
  SELECT id, email, role, full_name, sales_person, last_login_at FROM data.users
  WHERE id = p_user_id AND is_active
$$;

-- True when the token's jti is revoked; the Python service asks before it trusts a token.
CREATE FUNCTION app.token_revoked(p_jti uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
  SELECT EXISTS (SELECT FROM data.revoked_tokens WHERE jti = p_jti)
$$;

-- Revokes a token (logout): PostgREST refuses it from the next request on. Returns false
-- when it was revoked already. Revocations of tokens that have expired anyway are purged.
CREATE FUNCTION app.revoke_token(p_jti uuid, p_user_id uuid, p_expires_at timestamptz) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_new boolean;
BEGIN
  DELETE FROM data.revoked_tokens WHERE expires_at < now();
  INSERT INTO data.revoked_tokens (jti, user_id, expires_at)
  VALUES (p_jti, (SELECT id FROM data.users WHERE id = p_user_id), p_expires_at)
  ON CONFLICT (jti) DO NOTHING;
  GET DIAGNOSTICS v_new = ROW_COUNT;
  RETURN v_new;
END
$$;

-- Creates a user with a bcrypt password (admins only); returns the new id. The API calls it
-- through api.create_user (views/10_api_core.sql), which answers with the new account's row.
CREATE FUNCTION app.create_user(p_email text, p_password text, p_role text, p_full_name text,
                                p_sales_person text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_id uuid;
BEGIN
  IF app.current_app_role() <> 'admin' THEN
    RAISE SQLSTATE 'PT403' USING MESSAGE = 'only admins create users';
  END IF;
  PERFORM app.check_password(p_password);
  IF p_role IS NULL OR p_role NOT IN ('sales_rep', 'manager', 'admin') THEN
    RAISE SQLSTATE '22023' USING
      MESSAGE = format('role must be sales_rep, manager or admin, not %s', coalesce(p_role, 'empty'));
  END IF;
  IF p_email IS NULL OR btrim(p_email) !~ '^[^@\s]+@[^@\s]+$' THEN
    RAISE SQLSTATE '22023' USING MESSAGE = format('%s is not an email address', coalesce(p_email, 'an empty value'));
  END IF;
  IF EXISTS (SELECT FROM data.users u WHERE lower(u.email) = lower(btrim(p_email))) THEN
    RAISE SQLSTATE 'PT409' USING MESSAGE = format('a user with the email %s already exists', btrim(p_email));
  END IF;
  INSERT INTO data.users (email, password_hash, role, full_name, sales_person)
  VALUES (btrim(p_email), app.hash_password(p_password), p_role, p_full_name, p_sales_person)
  RETURNING id INTO v_id;
  RETURN v_id;
END
$$;

-- Refuses a password that is too short or too long for bcrypt; returns nothing.
CREATE FUNCTION app.check_password(p_password text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF p_password IS NULL OR length(p_password) < 8 THEN
    RAISE SQLSTATE '22023' USING MESSAGE = 'the password must have at least 8 characters';
  END IF;
  -- bcrypt reads only the first 72 bytes; a longer password would silently lose its tail.
  IF octet_length(p_password) > 72 THEN
    RAISE SQLSTATE '22023' USING MESSAGE = 'the password must have at most 72 bytes';
  END IF;
END
$$;

-- Changes the caller's own password after checking the current one; true when changed.
CREATE FUNCTION api.change_password(current_password text, new_password text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_hash text;
BEGIN
  SELECT password_hash INTO v_hash FROM data.users WHERE id = app.current_user_id() AND is_active;
  IF NOT FOUND THEN
    RAISE SQLSTATE 'PT403' USING MESSAGE = 'this token belongs to no user account; log in with your email';
  END IF;
  IF public.crypt(coalesce(current_password, ''), v_hash) <> v_hash THEN
    RAISE SQLSTATE 'PT403' USING MESSAGE = 'the current password is wrong';
  END IF;
  PERFORM app.check_password(new_password);
  UPDATE data.users SET password_hash = app.hash_password(new_password)
  WHERE id = app.current_user_id();
  RETURN true;
END
$$;
COMMENT ON FUNCTION api.change_password(text, text) IS 'Change your own password (give the current one too)';

-- Sets another user's password (admins only); true when the user exists.
CREATE FUNCTION api.reset_password(user_id uuid, new_password text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
BEGIN
  IF app.current_app_role() <> 'admin' THEN
    RAISE SQLSTATE 'PT403' USING MESSAGE = 'only admins reset other users'' passwords';
  END IF;
  PERFORM app.check_password(new_password);
  UPDATE data.users SET password_hash = app.hash_password(new_password)
  WHERE id = reset_password.user_id;
  IF NOT FOUND THEN
    RAISE SQLSTATE 'PT404' USING MESSAGE = format('no user with the id %s', reset_password.user_id);
  END IF;
  RETURN true;
END
$$;
COMMENT ON FUNCTION api.reset_password(uuid, text) IS 'Set a user''s password (admins only)';
