-- Logins and tokens. The Python service (gateway/auth.py) calls app.login and signs the JWT
-- itself (the database has no JWT signer); PostgREST checks revocation in app.check_request.
-- Passwords are bcrypt hashes made only by app.hash_password, whoever sets them (API, CLI,
-- demo), so one cost applies everywhere; app.login upgrades an older, cheaper hash when its
-- owner next logs in.

-- An integer setting from data.settings (an admin may tune it there: the login limits, the
-- bcrypt cost, the analyst's statement limit), else the default.
CREATE FUNCTION app.integer_setting(p_key text, p_default integer) RETURNS integer
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
  SELECT least(15, greatest(4, app.integer_setting('login.bcrypt_cost', 11)))
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
-- login; p_address is the client's address, for the per-address limits.
--
-- Limits, inside login.window_seconds (default 900):
--  - one address and one email: login.max_failures_per_account (default 5) failures lock that
--    pair for the window (a success from that address clears it). A guesser is stopped here;
--  - one address, any email: login.max_failures_per_address (default 20) failures lock the
--    address for the window (password spraying);
--  - one email, any address: from login.max_failures_per_account failures on (a success from
--    anywhere clears them) each next try waits 2, 4, 8 ... seconds after the last failure, at
--    most login.max_account_delay_seconds (default 60). It slows a guesser with many addresses
--    down without handing a stranger a way to lock the owner out for the whole window.
-- Attempts for one email are serialised (an advisory lock on the email, held until the end of
-- the transaction), so 40 parallel guesses run at most the limit's bcrypts, not 40.
-- Timing: whether or not the email exists, exactly one bcrypt runs (against a fresh salt
-- of the same cost when there is no account), so the answer time does not reveal accounts.
-- A locked answer runs no bcrypt and is not recorded; locks are kept per email string,
-- existing or not.
CREATE FUNCTION app.login(p_email text, p_password text, p_address inet DEFAULT NULL)
RETURNS TABLE (outcome text, retry_after integer, user_id uuid, email text, role text,
               full_name text, sales_person text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_email text := lower(btrim(coalesce(p_email, '')));
  v_window interval := make_interval(secs => app.integer_setting('login.window_seconds', 900));
  v_max_account integer := app.integer_setting('login.max_failures_per_account', 5);
  v_max_address integer := app.integer_setting('login.max_failures_per_address', 20);
  v_max_delay integer := app.integer_setting('login.max_account_delay_seconds', 60);
  v_unlock_at timestamptz;
  v_user data.users;
  v_hash text;
  v_ok boolean;
BEGIN
  -- One email's attempts one after the other: the count below then sees every earlier
  -- attempt (each statement of a VOLATILE function reads the latest commits).
  PERFORM pg_advisory_xact_lock(app.lock_class('login'), hashtext(v_email));

  -- The moment this try is allowed: the latest of the three limits' unlock times.
  SELECT max(unlock) INTO v_unlock_at FROM (
    (SELECT a.at + v_window AS unlock FROM data.login_attempts a
     WHERE lower(a.email) = v_email AND a.address IS NOT DISTINCT FROM p_address AND NOT a.succeeded
       AND a.at > now() - v_window
       AND a.at > coalesce((SELECT max(s.at) FROM data.login_attempts s
                            WHERE lower(s.email) = v_email AND s.address IS NOT DISTINCT FROM p_address
                              AND s.succeeded), '-infinity')
     ORDER BY a.at DESC OFFSET v_max_account - 1 LIMIT 1)
    UNION ALL
    (SELECT a.at + v_window FROM data.login_attempts a
     WHERE p_address IS NOT NULL AND a.address = p_address AND NOT a.succeeded
       AND a.at > now() - v_window
     ORDER BY a.at DESC OFFSET v_max_address - 1 LIMIT 1)
    UNION ALL
    (SELECT max(a.at) + make_interval(secs => least(v_max_delay, 2 ^ least(30, count(*) - v_max_account + 1)))
     FROM data.login_attempts a
     WHERE lower(a.email) = v_email AND NOT a.succeeded AND a.at > now() - v_window
       AND a.at > coalesce((SELECT max(s.at) FROM data.login_attempts s
                            WHERE lower(s.email) = v_email AND s.succeeded), '-infinity')
     HAVING count(*) >= v_max_account)) locks;
  IF v_unlock_at > now() THEN
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

-- THE token check, the one place that decides whether a signed token is still good. PostgREST
-- runs it before every /api/ request (app.check_request, functions/00_claims.sql); the Python
-- service runs it for /auth/ and /events with the claims it verified (gateway/auth.py), and
-- again at every wake-up and heartbeat of an open /events stream. The signature and the
-- audience's value are checked before, by PostgREST and by pyjwt. Returns NULL when the token
-- is good, else {code, message[, hint]}. A token is refused when:
--  - it lacks aud, exp, iat or jti (PostgREST would accept it; ours always carry all four:
--    without jti a token could not be revoked, without iat not ended by tokens_valid_after);
--  - it has expired (no grace: issuer and API share one clock), or says it was issued more
--    than a minute in the future (it would outlive tokens_valid_after);
--  - its role is not one of the API's;
--  - its jti was revoked (logout);
--  - it names an account (sub) that is gone, deactivated or now has another role;
--  - it was issued before the account's tokens_valid_after: the password, the role or the
--    active flag changed since (trigger below). iat has one-second resolution and
--    tokens_valid_after is kept to the second, so a token issued in the same second as the
--    change stays good: a login right after a reset works, at the price of a window of under
--    one second.
-- Reads only, two primary-key lookups: it runs on every API request, GETs included.
CREATE FUNCTION app.token_problem(p_claims jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  c_uuid constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
  v_now numeric := extract(epoch FROM now());
  v_sub text := p_claims ->> 'sub';
  v_jti text := p_claims ->> 'jti';
  v_row record;
BEGIN
  IF p_claims IS NULL OR NOT p_claims ? 'aud' OR jsonb_typeof(p_claims -> 'exp') IS DISTINCT FROM 'number'
     OR jsonb_typeof(p_claims -> 'iat') IS DISTINCT FROM 'number' OR v_jti IS NULL OR v_jti !~* c_uuid THEN
    RETURN jsonb_build_object('code', 'TOKEN_INCOMPLETE',
      'message', 'the token lacks an audience (aud), expiry (exp), issue time (iat) or id (jti); log in for a valid token');
  END IF;
  IF (p_claims ->> 'exp')::numeric <= v_now THEN
    RETURN jsonb_build_object('code', 'TOKEN_EXPIRED', 'message', 'the token has expired; log in again');
  END IF;
  IF (p_claims ->> 'iat')::numeric > v_now + 60 THEN
    RETURN jsonb_build_object('code', 'TOKEN_INVALID', 'message', 'the token says it was issued in the future; log in again');
  END IF;
  IF coalesce(p_claims ->> 'role', '') NOT IN ('anon', 'sales_rep', 'manager', 'admin') THEN
    RETURN jsonb_build_object('code', 'TOKEN_INVALID',
      'message', format('the token''s role %s is not a role of this API', p_claims ->> 'role'),
      'hint', 'roles are anon, sales_rep, manager and admin; log in again for a valid token');
  END IF;
  IF v_sub IS NOT NULL AND v_sub !~* c_uuid THEN
    RETURN jsonb_build_object('code', 'ACCOUNT_GONE', 'message', 'the token names no account of this API');
  END IF;
  -- One statement: the revocation and the account, both by primary key.
  SELECT EXISTS (SELECT FROM data.revoked_tokens t WHERE t.jti = v_jti::uuid) AS revoked,
         u.id, u.is_active, u.role, u.tokens_valid_after
  INTO v_row
  FROM (SELECT) AS one LEFT JOIN data.users u ON u.id = v_sub::uuid;
  IF v_row.revoked THEN
    RETURN jsonb_build_object('code', 'TOKEN_REVOKED', 'message', 'this token was revoked (logged out); log in again');
  END IF;
  IF v_sub IS NULL THEN
    RETURN NULL;  -- a script's token (mangalm token without --user): no account to follow
  END IF;
  IF v_row.id IS NULL OR NOT v_row.is_active THEN
    RETURN jsonb_build_object('code', 'ACCOUNT_GONE',
      'message', 'the account of this token no longer exists or was deactivated',
      'hint', 'ask an admin to reactivate the account');
  END IF;
  IF v_row.role IS DISTINCT FROM p_claims ->> 'role' THEN
    RETURN jsonb_build_object('code', 'ROLE_CHANGED',
      'message', 'the account''s role changed since this token was issued; log in again');
  END IF;
  IF (p_claims ->> 'iat')::numeric < extract(epoch FROM v_row.tokens_valid_after) THEN
    RETURN jsonb_build_object('code', 'TOKEN_ENDED',
      'message', 'the account''s password, role or status changed since this token was issued; log in again');
  END IF;
  RETURN NULL;
END
$$;

-- Raises app.token_problem's answer as PT401 (PostgREST: 401 with that message; the code goes
-- in details); does nothing when p_problem is NULL.
CREATE FUNCTION app.refuse_token(p_problem jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF p_problem IS NOT NULL THEN
    RAISE SQLSTATE 'PT401' USING MESSAGE = p_problem ->> 'message', DETAIL = p_problem ->> 'code',
      HINT = coalesce(p_problem ->> 'hint', '');
  END IF;
END
$$;

-- Ends an account's tokens when what they stand for changes: its password (reset, own
-- change, CLI, a re-hash at a new cost at login), its role or its active flag, whatever the
-- path (API, CLI, functions). Kept to the second: see app.token_problem. Security definer, so
-- it may wake the open /events streams (NOTIFY is the owner's right); they re-check at once.
CREATE FUNCTION app.tg_users_end_tokens() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, data AS $$
BEGIN
  NEW.tokens_valid_after := date_trunc('second', now());
  PERFORM pg_notify('mangalm_tokens', '');
  RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS "15_end_tokens" ON data.users;
CREATE TRIGGER "15_end_tokens" BEFORE UPDATE OF password_hash, role, is_active ON data.users
  FOR EACH ROW WHEN (OLD.password_hash IS DISTINCT FROM NEW.password_hash OR OLD.role IS DISTINCT FROM NEW.role
                     OR OLD.is_active IS DISTINCT FROM NEW.is_active)
  EXECUTE FUNCTION app.tg_users_end_tokens();

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
  PERFORM pg_notify('mangalm_tokens', '');  -- open /events streams re-check their token now
  RETURN v_new;
END
$$;

-- A ticket for GET /events (POST /auth/ticket): EventSource cannot send an Authorization
-- header, and a token in a URL ends up in logs (nginx's error log keeps the request line
-- when the service is down). A ticket is 256 random bits, good once, for 30 seconds, bound
-- to the token's claims (so its user and jti); only its SHA-256 is stored. The token must
-- pass app.token_problem, and be a signed-in user's (or a script's), not anon's.
CREATE FUNCTION app.issue_event_ticket(p_claims jsonb)
RETURNS TABLE (ticket text, expires_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_ticket text := encode(public.gen_random_bytes(32), 'hex');
  v_expires timestamptz := now() + interval '30 seconds';
BEGIN
  PERFORM app.refuse_token(app.token_problem(p_claims));
  IF p_claims ->> 'role' = 'anon' THEN
    RAISE SQLSTATE 'PT401' USING MESSAGE = 'live events need a signed-in user''s token',
      DETAIL = 'NO_TOKEN', HINT = 'get one with POST /auth/login';
  END IF;
  DELETE FROM data.event_tickets t WHERE t.expires_at < now();
  INSERT INTO data.event_tickets (ticket_hash, user_id, jti, claims, expires_at)
  VALUES (sha256(convert_to(v_ticket, 'UTF8')), (p_claims ->> 'sub')::uuid, (p_claims ->> 'jti')::uuid,
          p_claims, v_expires);
  RETURN QUERY SELECT v_ticket, v_expires;
END
$$;

-- Uses up a ticket (GET /events?ticket=...): returns the claims of the token it was issued
-- for, after checking that token again; PT401 when the ticket is unknown, used or expired.
-- The DELETE makes it single-use even when two requests race with the same ticket.
CREATE FUNCTION app.redeem_event_ticket(p_ticket text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_claims jsonb;
BEGIN
  DELETE FROM data.event_tickets t
  WHERE t.ticket_hash = sha256(convert_to(coalesce(p_ticket, ''), 'UTF8')) AND t.expires_at > now()
  RETURNING t.claims INTO v_claims;
  IF v_claims IS NULL THEN
    RAISE SQLSTATE 'PT401' USING MESSAGE = 'this ticket is unknown, used or expired',
      DETAIL = 'TICKET_INVALID', HINT = 'get a new one with POST /auth/ticket just before connecting';
  END IF;
  PERFORM app.refuse_token(app.token_problem(v_claims));
  RETURN v_claims;
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
  -- The same reset as `mangalm user set --password` (functions/users.sql): 404 for no such user.
  PERFORM app.set_password(reset_password.user_id::text, new_password);
  RETURN true;
END
$$;
COMMENT ON FUNCTION api.reset_password(uuid, text) IS 'Set a user''s password (admins only)';
