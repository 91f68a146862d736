-- User administration: the one place where accounts, passwords, roles and store assignments
-- change, whoever asks — the operator's command line (`mangalm user ...`), the demo, or the
-- API. Python only calls these functions and shows their messages; it keeps no rule itself.
--
-- Who may call what:
--   * the app.* administration functions (add_user, set_user, set_password, assign_stores,
--     unassign_stores, user_list) are for the operator's own login (mangalm_app; the owner or
--     a superuser may too). No API role gets EXECUTE on them (db/grants.sql): the API reaches
--     them only through api.* wrappers that first check the token's role is admin.
--   * app.check_user and app.check_assignment are the rules themselves. The functions below
--     call them, and so do the triggers that check PATCH /api/users and POST
--     /api/store_assignments (functions/validation.sql), so every path refuses the same values
--     with the same message.
-- Messages use app.refuse (functions/validation.sql): 22023 → 400, PT404, PT409, PT422.
-- The email rule is data.is_email (migration 0005), the same function the table's CHECK
-- constraint calls; the password rule is app.check_password and the only hash is
-- app.hash_password (functions/auth.sql).

-- The rules an account obeys: a real email address and a known role. Returns the email as
-- stored (trimmed); refuses with 400 otherwise.
CREATE FUNCTION app.check_user(p_email text, p_role text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_email text := app.clean_text(p_email);
BEGIN
  IF v_email IS NULL OR NOT app.is_email(v_email) THEN
    PERFORM app.refuse(400, format('%s is not an email address', coalesce(v_email, 'an empty value')));
  END IF;
  IF p_role IS NULL OR p_role NOT IN ('sales_rep', 'manager', 'admin') THEN
    PERFORM app.refuse(400, format('role must be sales_rep, manager or admin, not %s', coalesce(p_role, 'empty')));
  END IF;
  RETURN v_email;
END
$$;

-- The rules of a store assignment: the user exists and is a sales rep (the others see every
-- store), and the store exists. Security definer: it must see the user and the store whatever
-- the caller's row-level security shows.
CREATE FUNCTION app.check_assignment(p_user_id uuid, p_store_id text) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_user data.users;
BEGIN
  SELECT * INTO v_user FROM data.users WHERE id = p_user_id;
  IF v_user.id IS NULL THEN
    PERFORM app.refuse(409, format('no user with the id %s', coalesce(p_user_id::text, 'empty')));
  END IF;
  IF v_user.role <> 'sales_rep' THEN
    PERFORM app.refuse(422, format('%s is a %s; only sales reps are assigned stores (the others see all)',
                                   v_user.email, v_user.role));
  END IF;
  IF NOT EXISTS (SELECT FROM data.stores WHERE id = p_store_id) THEN
    PERFORM app.refuse(409, format('no store with the id %s; nothing was assigned', coalesce(p_store_id, 'empty')));
  END IF;
END
$$;

-- The id of the account named by its email (any case) or its id; refuses with 404.
CREATE FUNCTION app.user_id_of(p_user text) RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_id uuid;
BEGIN
  SELECT id INTO v_id FROM data.users
  WHERE lower(email) = lower(btrim(p_user)) OR id::text = lower(btrim(p_user));
  IF v_id IS NULL THEN
    PERFORM app.refuse(404, format('no user with the %s %s',
                                   CASE WHEN btrim(p_user) ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$'
                                        THEN 'id' ELSE 'email' END, coalesce(p_user, 'empty')),
                       'see `mangalm user list`');
  END IF;
  RETURN v_id;
END
$$;

-- Creates an account; returns its id. With p_replace an existing account of that email gets
-- the new password and role instead (and the name and sales person when given): the demo
-- re-creates its users that way on every start. Without it an existing email is a 409.
CREATE FUNCTION app.add_user(p_email text, p_password text, p_role text, p_full_name text DEFAULT NULL,
                             p_sales_person text DEFAULT NULL, p_replace boolean DEFAULT false) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_email text := app.check_user(p_email, p_role);
  v_id uuid;
BEGIN
  PERFORM app.check_password(p_password);
  IF p_replace THEN
    UPDATE data.users SET password_hash = app.hash_password(p_password), role = p_role,
           full_name = coalesce(app.clean_text(p_full_name), full_name),
           sales_person = coalesce(app.clean_text(p_sales_person), sales_person)
    WHERE lower(email) = lower(v_email) RETURNING id INTO v_id;
    IF v_id IS NOT NULL THEN
      RETURN v_id;
    END IF;
  ELSIF EXISTS (SELECT FROM data.users WHERE lower(email) = lower(v_email)) THEN
    PERFORM app.refuse(409, format('a user with the email %s already exists', v_email));
  END IF;
  INSERT INTO data.users (email, password_hash, role, full_name, sales_person)
  VALUES (v_email, app.hash_password(p_password), p_role, app.clean_text(p_full_name), app.clean_text(p_sales_person))
  RETURNING id INTO v_id;
  RETURN v_id;
END
$$;

-- Changes an account's role, name, sales person or whether it may log in (NULL: unchanged).
-- A deactivated account's tokens stop working at once (app.check_request).
CREATE FUNCTION app.set_user(p_user text, p_role text DEFAULT NULL, p_full_name text DEFAULT NULL,
                             p_sales_person text DEFAULT NULL, p_active boolean DEFAULT NULL)
RETURNS TABLE (id uuid, email text, role text, is_active boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_id uuid := app.user_id_of(p_user);
  v_user data.users;
BEGIN
  SELECT * INTO v_user FROM data.users u WHERE u.id = v_id FOR UPDATE;
  PERFORM app.check_user(v_user.email, coalesce(p_role, v_user.role));
  RETURN QUERY
  UPDATE data.users u SET role = coalesce(p_role, u.role),
         full_name = coalesce(app.clean_text(p_full_name), u.full_name),
         sales_person = coalesce(app.clean_text(p_sales_person), u.sales_person),
         is_active = coalesce(p_active, u.is_active)
  WHERE u.id = v_id RETURNING u.id, u.email, u.role, u.is_active;
END
$$;

-- Sets an account's password (a reset: the current one is not asked for); returns its id.
CREATE FUNCTION app.set_password(p_user text, p_password text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_id uuid := app.user_id_of(p_user);
BEGIN
  PERFORM app.check_password(p_password);
  UPDATE data.users SET password_hash = app.hash_password(p_password) WHERE id = v_id;
  RETURN v_id;
END
$$;

-- Assigns stores to a sales rep (beside the stores of their Sales person name); all or none.
-- Returns how many assignments are new.
CREATE FUNCTION app.assign_stores(p_user text, p_store_ids text[]) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_id uuid := app.user_id_of(p_user);
  v_store text;
  v_new integer;
BEGIN
  FOREACH v_store IN ARRAY coalesce(p_store_ids, '{}') LOOP
    PERFORM app.check_assignment(v_id, v_store);
  END LOOP;
  INSERT INTO data.store_assignments (store_id, user_id)
  SELECT DISTINCT s, v_id FROM unnest(p_store_ids) s ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS v_new = ROW_COUNT;
  RETURN v_new;
END
$$;

-- Takes stores away from a user; returns how many assignments were removed.
CREATE FUNCTION app.unassign_stores(p_user text, p_store_ids text[]) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_id uuid := app.user_id_of(p_user);
  v_gone integer;
BEGIN
  DELETE FROM data.store_assignments WHERE user_id = v_id AND store_id = ANY(p_store_ids);
  GET DIAGNOSTICS v_gone = ROW_COUNT;
  RETURN v_gone;
END
$$;

-- The accounts (never the password hash), or the one named by email or id, for the operator's
-- `mangalm user list` and `mangalm token --user`.
CREATE FUNCTION app.user_list(p_user text DEFAULT NULL)
RETURNS TABLE (id uuid, email text, role text, full_name text, sales_person text, is_active boolean,
               last_login_at timestamptz, assigned bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
  SELECT u.id, u.email, u.role, u.full_name, u.sales_person, u.is_active, u.last_login_at,
         (SELECT count(*) FROM data.store_assignments a WHERE a.user_id = u.id)
  FROM data.users u
  WHERE p_user IS NULL OR lower(u.email) = lower(btrim(p_user)) OR u.id::text = lower(btrim(p_user))
  ORDER BY u.role, lower(u.email)
$$;
