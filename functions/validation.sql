-- Writes through the API are checked here, so a bad request gets a message a person
-- understands and the right status, never a 500:
--   400  a value is wrong (SQLSTATE 22023, which PostgREST answers as 400),
--   403  the caller may not do this to this row (PT403),
--   404  the row named by an RPC argument is not there, or not visible to the caller (PT404),
--   409  the request conflicts with the row's state (PT409; PostgREST also answers 409 for
--        unique and foreign-key violations, 23505 and 23503),
--   422  well-formed, but a business rule refuses it (PT422).
-- The table constraints stay as the last line of defence; these checks run first and say why.
-- Every trigger here fires only for API roles (WHEN app.in_api_role()): the owner's bulk loads
-- (ingest, analytics) never pay for them.

-- Raises an error that PostgREST answers with the given HTTP status (400, 403, 404, 409,
-- 422) and a JSON body {code, message, details, hint}. Returns nothing; call it to refuse.
-- (VOLATILE, so the planner never folds a call with constant arguments ahead of time.)
CREATE FUNCTION app.refuse(p_status integer, p_message text, p_hint text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_code text := CASE WHEN p_status = 400 THEN '22023' ELSE 'PT' || p_status END;
BEGIN
  IF p_hint IS NULL THEN
    RAISE USING ERRCODE = v_code, MESSAGE = p_message;
  END IF;
  RAISE USING ERRCODE = v_code, MESSAGE = p_message, HINT = p_hint;
END
$$;

-- A trimmed text, NULL when empty: what a person meant by "" or "  ".
CREATE FUNCTION app.clean_text(p_value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT nullif(btrim(p_value), '')
$$;

-- True when the text is an email address: data.is_email (migration 0005), the rule the users
-- table's CHECK constraint calls too, so there is one definition.
CREATE FUNCTION app.is_email(p_value text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT data.is_email(p_value)
$$;

-- Stores written through the API: trimmed id and name, a real email, source 'manual', and no
-- deleting a store that has invoices (its history would go with it).
CREATE FUNCTION app.tg_stores_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_invoices bigint;
BEGIN
  IF TG_OP = 'DELETE' THEN
    SELECT count(*) INTO v_invoices FROM data.orders WHERE store_id = OLD.id AND source = 'invoice';
    IF v_invoices > 0 THEN
      PERFORM app.refuse(409, format('store %s has %s invoiced orders; deleting it would delete them too',
                                     OLD.id, v_invoices),
                         'deactivate it instead: PATCH /api/stores?id=eq.' || OLD.id || ' {"is_active": false}');
    END IF;
    RETURN OLD;
  END IF;
  NEW.id := app.clean_text(NEW.id);
  NEW.name := app.clean_text(NEW.name);
  NEW.email := app.clean_text(NEW.email);
  IF NEW.id IS NULL THEN
    PERFORM app.refuse(400, 'a store needs an id (the export''s Customer ID)');
  END IF;
  IF length(NEW.id) > 255 THEN
    PERFORM app.refuse(400, 'a store id has at most 255 characters');
  END IF;
  IF NEW.name IS NULL THEN
    PERFORM app.refuse(400, 'a store needs a name');
  END IF;
  IF NEW.email IS NOT NULL AND NOT app.is_email(NEW.email) THEN
    PERFORM app.refuse(400, format('%s is not an email address', NEW.email));
  END IF;
  IF TG_OP = 'INSERT' THEN
    NEW.source := 'manual';
  ELSE
    IF NEW.id <> OLD.id THEN
      PERFORM app.refuse(422, format('the id of store %s cannot change: it is the export''s Customer ID', OLD.id),
                         'create a new store instead');
    END IF;
    NEW.source := OLD.source;
  END IF;
  RETURN NEW;
END
$$;

-- Products written through the API: a name, prices and tax in range, a natural key (the
-- same rule the ingest pipeline matches on: Product ID, else SKU, else the lower-cased name).
CREATE FUNCTION app.tg_products_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.name := app.clean_text(NEW.name);
  IF NEW.name IS NULL THEN
    PERFORM app.refuse(400, 'a product needs a name');
  END IF;
  IF NEW.unit_price < 0 OR NEW.mrp < 0 THEN
    PERFORM app.refuse(400, 'prices cannot be negative');
  END IF;
  IF NEW.tax_rate NOT BETWEEN 0 AND 100 THEN
    PERFORM app.refuse(400, 'tax_rate is a percentage between 0 and 100');
  END IF;
  IF TG_OP = 'INSERT' THEN
    NEW.product_key := coalesce(app.clean_text(NEW.product_key), app.clean_text(NEW.external_id),
                                app.clean_text(NEW.sku), lower(NEW.name));
    NEW.source := 'manual';
  ELSE
    IF NEW.product_key IS DISTINCT FROM OLD.product_key THEN
      PERFORM app.refuse(422, 'a product''s product_key cannot change: uploads match products on it');
    END IF;
    NEW.source := OLD.source;
  END IF;
  RETURN NEW;
END
$$;

-- Store preferences: known words (any case) and numbers in range.
CREATE FUNCTION app.tg_store_preferences_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.call_frequency := lower(app.clean_text(NEW.call_frequency));
  NEW.preferred_delivery_day := lower(app.clean_text(NEW.preferred_delivery_day));
  IF NEW.call_frequency NOT IN ('daily', 'weekly', 'fortnightly', 'monthly') THEN
    PERFORM app.refuse(400, format('call_frequency %s is not one of daily, weekly, fortnightly, monthly',
                                   NEW.call_frequency));
  END IF;
  IF NEW.preferred_delivery_day NOT IN ('monday', 'tuesday', 'wednesday', 'thursday', 'friday',
                                        'saturday', 'sunday') THEN
    PERFORM app.refuse(400, format('preferred_delivery_day %s is not a day of the week', NEW.preferred_delivery_day));
  END IF;
  IF NEW.payment_terms NOT BETWEEN 0 AND 365 THEN
    PERFORM app.refuse(400, 'payment_terms is a number of days between 0 and 365');
  END IF;
  IF NEW.credit_limit < 0 THEN
    PERFORM app.refuse(400, 'credit_limit cannot be negative');
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.store_id <> OLD.store_id THEN
    PERFORM app.refuse(422, 'preferences belong to their store; store_id cannot change');
  END IF;
  RETURN NEW;
END
$$;

-- Dashboard settings: always the caller's own row, with known values.
CREATE FUNCTION app.tg_dashboard_settings_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF app.current_user_id() IS NULL THEN
    PERFORM app.refuse(403, 'dashboard settings belong to a user; this token has none', 'log in with your email');
  END IF;
  IF TG_OP = 'INSERT' THEN
    NEW.user_id := coalesce(NEW.user_id, app.current_user_id());
  END IF;
  IF NEW.user_id <> app.current_user_id() THEN
    PERFORM app.refuse(403, 'you can change only your own dashboard settings');
  END IF;
  IF NEW.theme NOT IN ('light', 'dark', 'system') THEN
    PERFORM app.refuse(400, format('theme %s is not one of light, dark, system', NEW.theme));
  END IF;
  IF NEW.default_date_range NOT IN ('7d', '30d', '90d', '180d', 'all') THEN
    PERFORM app.refuse(400, format('default_date_range %s is not one of 7d, 30d, 90d, 180d, all',
                                   NEW.default_date_range));
  END IF;
  IF jsonb_typeof(NEW.layout_config) <> 'object' OR jsonb_typeof(NEW.widget_preferences) <> 'object' THEN
    PERFORM app.refuse(400, 'layout_config and widget_preferences are JSON objects');
  END IF;
  RETURN NEW;
END
$$;

-- Users changed by admins through the API: a real email, a known role, and no admin taking
-- away their own access (someone must be left to manage users).
CREATE FUNCTION app.tg_users_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.id = app.current_user_id() THEN
      PERFORM app.refuse(409, 'you cannot delete your own account', 'another admin can');
    END IF;
    RETURN OLD;
  END IF;
  -- The account rules shared with the user functions (functions/users.sql).
  NEW.email := app.check_user(NEW.email, NEW.role);
  IF OLD.id = app.current_user_id() AND (NEW.role <> 'admin' OR NOT NEW.is_active) THEN
    PERFORM app.refuse(409, 'you cannot remove your own admin access', 'another admin can');
  END IF;
  IF NEW.password_hash IS DISTINCT FROM OLD.password_hash THEN
    PERFORM app.refuse(422, 'passwords change through /api/rpc/reset_password or /api/rpc/change_password');
  END IF;
  RETURN NEW;
END
$$;

-- Store assignments: only sales reps are assigned stores, and only stores that exist.
CREATE FUNCTION app.tg_store_assignments_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- The rules shared with app.assign_stores (functions/users.sql).
  PERFORM app.check_assignment(NEW.user_id, NEW.store_id);
  RETURN NEW;
END
$$;

-- Settings: a key, and a value that is JSON (any JSON).
CREATE FUNCTION app.tg_settings_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.key := app.clean_text(NEW.key);
  IF NEW.key IS NULL THEN
    PERFORM app.refuse(400, 'a setting needs a key');
  END IF;
  IF NEW.value IS NULL THEN
    PERFORM app.refuse(400, format('setting %s needs a value (any JSON; use DELETE to remove it)', NEW.key));
  END IF;
  RETURN NEW;
END
$$;

-- (Re)create the triggers: the app schema they call is re-built on every migrate.
DROP TRIGGER IF EXISTS "20_check_api_write" ON data.stores;
CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR UPDATE OR DELETE ON data.stores
  FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_stores_check();
DROP TRIGGER IF EXISTS "20_check_api_write" ON data.products;
CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR UPDATE ON data.products
  FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_products_check();
DROP TRIGGER IF EXISTS "20_check_api_write" ON data.store_preferences;
CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR UPDATE ON data.store_preferences
  FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_store_preferences_check();
DROP TRIGGER IF EXISTS "20_check_api_write" ON data.dashboard_settings;
CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR UPDATE ON data.dashboard_settings
  FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_dashboard_settings_check();
DROP TRIGGER IF EXISTS "20_check_api_write" ON data.users;
CREATE TRIGGER "20_check_api_write" BEFORE UPDATE OR DELETE ON data.users
  FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_users_check();
DROP TRIGGER IF EXISTS "20_check_api_write" ON data.store_assignments;
CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR UPDATE ON data.store_assignments
  FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_store_assignments_check();
DROP TRIGGER IF EXISTS "20_check_api_write" ON data.settings;
CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR UPDATE ON data.settings
  FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_settings_check();
