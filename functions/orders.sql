-- Draft orders and decisions on predictions, as the API's callers make them.
--
-- The functions here run with the caller's rights (SECURITY INVOKER): a sales rep generating
-- an order inserts it as themselves, so the same grants, row-level policies and triggers
-- apply as to a POST on /api/orders. The API wrappers with view-typed results
-- (api.generate_order, api.approve_prediction, api.dismiss_prediction) are in
-- views/10_api_core.sql, because a function returning a view's row type must come after it.
--
-- Order statuses and who may move them (orders with source 'invoice' belong to the ingest
-- pipeline and cannot be changed through the API at all):
--   draft     -> submitted, cancelled        (the rep who created it, managers, admins)
--   submitted -> draft                        (the rep who created it, managers, admins)
--   submitted -> confirmed, cancelled         (managers, admins)
--   confirmed -> cancelled                    (managers, admins)
-- Only drafts can be edited (lines, store, dates); notes can always change.

-- The next statuses an order in p_status may take, for the role p_role.
CREATE FUNCTION app.order_next_statuses(p_status text, p_role text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE p_status
    WHEN 'draft' THEN ARRAY['submitted', 'cancelled']
    WHEN 'submitted' THEN CASE WHEN p_role = 'sales_rep' THEN ARRAY['draft']
                               ELSE ARRAY['draft', 'confirmed', 'cancelled'] END
    WHEN 'confirmed' THEN CASE WHEN p_role = 'sales_rep' THEN ARRAY[]::text[] ELSE ARRAY['cancelled'] END
    ELSE ARRAY[]::text[] END
$$;

-- Checks an API write to data.orders and fills what the caller may not choose (creator,
-- sales person, currency, totals). Returns the row to write.
CREATE FUNCTION app.tg_orders_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_me uuid := app.current_user_id();
  v_rep boolean := current_user = 'sales_rep';
  v_store record;
  v_next text[];
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.source = 'invoice' THEN
      PERFORM app.refuse(409, format('order %s is invoice %s from the exports; invoices cannot be deleted through the API',
                                     OLD.id, OLD.invoice_number));
    END IF;
    IF v_rep AND OLD.created_by IS DISTINCT FROM v_me THEN
      PERFORM app.refuse(403, format('order %s was created by someone else; you can delete only your own orders', OLD.id));
    END IF;
    IF OLD.status NOT IN ('draft', 'cancelled') THEN
      PERFORM app.refuse(409, format('order %s is %s; only draft or cancelled orders can be deleted', OLD.id, OLD.status),
                         'cancel it instead: PATCH {"status": "cancelled"}');
    END IF;
    RETURN OLD;
  END IF;

  IF TG_OP = 'UPDATE' THEN
    IF OLD.source = 'invoice' THEN
      PERFORM app.refuse(409, format('order %s is invoice %s from the exports; invoices cannot be changed through the API',
                                     OLD.id, OLD.invoice_number), 'upload a corrected export instead');
    END IF;
    IF v_rep AND OLD.created_by IS DISTINCT FROM v_me THEN
      PERFORM app.refuse(403, format('order %s was created by someone else; you can change only your own orders', OLD.id));
    END IF;
    IF NEW.source IS DISTINCT FROM OLD.source OR NEW.invoice_number IS DISTINCT FROM OLD.invoice_number
       OR NEW.created_by IS DISTINCT FROM OLD.created_by THEN
      PERFORM app.refuse(422, 'an order''s source, invoice_number and created_by cannot change');
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
      v_next := app.order_next_statuses(OLD.status, current_user);
      IF NOT NEW.status = ANY (v_next) THEN
        PERFORM app.refuse(409, format('order %s is %s and cannot become %s', OLD.id, OLD.status, NEW.status),
                           CASE WHEN cardinality(v_next) = 0 THEN 'it cannot change any more'
                                ELSE 'it can become: ' || array_to_string(v_next, ', ') END);
      END IF;
      IF NEW.status = 'submitted' AND OLD.item_count = 0 THEN
        PERFORM app.refuse(422, format('order %s has no lines; add products before submitting it', OLD.id));
      END IF;
    END IF;
    IF OLD.status <> 'draft' AND (NEW.store_id, NEW.order_date, NEW.due_date, NEW.currency_code)
         IS DISTINCT FROM (OLD.store_id, OLD.order_date, OLD.due_date, OLD.currency_code) THEN
      PERFORM app.refuse(409, format('order %s is %s; only draft orders can be edited', OLD.id, OLD.status),
                         'only its status and notes can still change');
    END IF;
    IF NEW.store_id = OLD.store_id THEN
      RETURN NEW;
    END IF;
  END IF;

  -- A new order, or a draft moving to another store: the store must be one the caller sees.
  SELECT s.sales_person, s.currency_code INTO v_store FROM data.stores s WHERE s.id = NEW.store_id;
  IF NOT FOUND THEN
    IF v_rep THEN
      PERFORM app.refuse(403, format('store %s does not exist or is not one of your stores', NEW.store_id));
    END IF;
    PERFORM app.refuse(409, format('store %s does not exist', NEW.store_id));
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.source = 'invoice' OR NEW.invoice_number IS NOT NULL THEN
      PERFORM app.refuse(422, 'invoiced orders come only from uploaded exports; create orders with source manual',
                         'leave source and invoice_number out');
    END IF;
    IF NEW.status <> 'draft' THEN
      PERFORM app.refuse(422, 'a new order starts as a draft', 'submit it afterwards: PATCH {"status": "submitted"}');
    END IF;
    IF v_rep AND v_me IS NULL THEN
      PERFORM app.refuse(403, 'this token belongs to no user; log in with your email to create orders');
    END IF;
    NEW.created_by := v_me;
    NEW.currency_code := coalesce(NEW.currency_code, v_store.currency_code);
    -- Totals follow the lines (app.tg_order_items_totals), never the request.
    NEW.subtotal := NULL;
    NEW.tax_amount := NULL;
    NEW.total_amount := 0;
    NEW.item_count := 0;
    NEW.sales_person := coalesce(NEW.sales_person, v_store.sales_person);
  ELSE
    -- A draft moved to another store takes that store's sales person.
    NEW.sales_person := v_store.sales_person;
  END IF;
  RETURN NEW;
END
$$;

-- Checks an API write to the lines of a draft order: the order is a draft the caller may
-- edit, the product exists and is sold, and a missing unit price comes from the catalogue.
CREATE FUNCTION app.tg_order_items_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_order_id bigint := CASE WHEN TG_OP = 'DELETE' THEN OLD.order_id ELSE NEW.order_id END;
  v_order record;
  v_product record;
BEGIN
  SELECT o.id, o.status, o.source, o.created_by INTO v_order FROM data.orders o WHERE o.id = v_order_id;
  IF NOT FOUND THEN
    PERFORM app.refuse(409, format('order %s does not exist (or is not one of your stores'' orders)', v_order_id));
  END IF;
  IF v_order.source = 'invoice' THEN
    PERFORM app.refuse(409, format('order %s is an invoice; its lines come from the export', v_order_id));
  END IF;
  IF current_user = 'sales_rep' AND v_order.created_by IS DISTINCT FROM app.current_user_id() THEN
    PERFORM app.refuse(403, format('order %s was created by someone else; you can change only your own orders', v_order_id));
  END IF;
  IF v_order.status <> 'draft' THEN
    PERFORM app.refuse(409, format('order %s is %s; only draft orders can be edited', v_order_id, v_order.status),
                       CASE WHEN v_order.status = 'submitted' THEN 'set it back to draft first: PATCH {"status": "draft"}' END);
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.order_id <> OLD.order_id THEN
    PERFORM app.refuse(422, 'a line cannot move to another order; delete it and add it there');
  END IF;
  IF NEW.quantity IS NULL OR NEW.quantity <= 0 THEN
    PERFORM app.refuse(400, 'quantity must be more than 0', 'delete the line to remove the product');
  END IF;
  IF NEW.unit_price < 0 THEN
    PERFORM app.refuse(400, 'unit_price cannot be negative');
  END IF;
  SELECT p.name, p.unit_price, p.is_active INTO v_product FROM data.products p WHERE p.id = NEW.product_id;
  IF NOT FOUND THEN
    PERFORM app.refuse(409, format('product %s does not exist', NEW.product_id));
  END IF;
  IF NOT v_product.is_active AND (TG_OP = 'INSERT' OR NEW.product_id <> OLD.product_id) THEN
    PERFORM app.refuse(422, format('product %s (%s) is no longer sold', NEW.product_id, v_product.name));
  END IF;
  NEW.unit_price := coalesce(NEW.unit_price, v_product.unit_price);
  IF NEW.unit_price IS NULL THEN
    PERFORM app.refuse(422, format('product %s (%s) has no catalogue price', NEW.product_id, v_product.name),
                       'give unit_price with the line');
  END IF;
  RETURN NEW;
END
$$;

-- Recomputes subtotal, total and line count of the orders whose lines a statement changed:
-- one set-based UPDATE per statement, whatever the number of lines. Security definer, as the
-- totals are columns no API role may write.
CREATE FUNCTION app.tg_order_items_totals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, data AS $$
BEGIN
  WITH touched AS (
    SELECT order_id FROM changed_rows
  ), totals AS (
    SELECT t.order_id, coalesce(sum(i.line_total), 0) AS amount, count(i.id)::integer AS lines
    FROM (SELECT DISTINCT order_id FROM touched) t
    LEFT JOIN data.order_items i ON i.order_id = t.order_id
    GROUP BY t.order_id
  )
  UPDATE data.orders o
  SET subtotal = t.amount, total_amount = t.amount + coalesce(o.tax_amount, 0), item_count = t.lines
  FROM totals t
  WHERE o.id = t.order_id AND o.source <> 'invoice'
    AND (o.subtotal, o.item_count) IS DISTINCT FROM (t.amount, t.lines);
  RETURN NULL;
END
$$;

-- Checks a decision on a prediction made through the API (PATCH status, or the RPCs) and
-- records who made it. Returns the row to write.
--   pending  -> approved, dismissed, converted      approved -> pending, dismissed, converted
--   dismissed -> pending                              converted: final
-- 'converted' needs the order it became: POST /api/rpc/generate_order sets both.
CREATE FUNCTION app.tg_predicted_orders_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  v_allowed text[];
  v_order record;
BEGIN
  IF NEW.order_id IS DISTINCT FROM OLD.order_id THEN
    IF OLD.order_id IS NOT NULL OR NEW.status <> 'converted' THEN
      PERFORM app.refuse(422, 'order_id is set only when the prediction becomes an order',
                         'POST /api/rpc/generate_order {"prediction_id": "' || OLD.id || '"}');
    END IF;
    SELECT o.store_id, o.source INTO v_order FROM data.orders o WHERE o.id = NEW.order_id;
    IF NOT FOUND OR v_order.store_id <> OLD.store_id OR v_order.source = 'invoice' THEN
      PERFORM app.refuse(422, format('order %s is not a draft order of store %s', NEW.order_id, OLD.store_id));
    END IF;
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status THEN
    IF NEW.status NOT IN ('pending', 'approved', 'dismissed', 'converted') THEN
      PERFORM app.refuse(400, format('status %s is not one of pending, approved, dismissed, converted', NEW.status));
    END IF;
    v_allowed := CASE OLD.status
      WHEN 'pending' THEN ARRAY['approved', 'dismissed', 'converted']
      WHEN 'approved' THEN ARRAY['pending', 'dismissed', 'converted']
      WHEN 'dismissed' THEN ARRAY['pending']
      ELSE ARRAY[]::text[] END;
    IF NOT NEW.status = ANY (v_allowed) THEN
      PERFORM app.refuse(409, format('prediction %s is %s and cannot become %s', OLD.id, OLD.status, NEW.status),
                         CASE WHEN OLD.status = 'converted' THEN format('it became order %s', OLD.order_id) END);
    END IF;
    IF NEW.status = 'converted' AND NEW.order_id IS NULL THEN
      PERFORM app.refuse(422, 'a prediction becomes converted when it is turned into an order',
                         'POST /api/rpc/generate_order {"prediction_id": "' || OLD.id || '"}');
    END IF;
    NEW.decided_by := app.current_user_id();
    NEW.decided_at := now();
  ELSIF NEW.decided_by IS DISTINCT FROM OLD.decided_by OR NEW.decided_at IS DISTINCT FROM OLD.decided_at THEN
    PERFORM app.refuse(422, 'decided_by and decided_at are recorded by the database');
  END IF;
  RETURN NEW;
END
$$;

-- Writes one data.prediction_decisions row per prediction whose status a statement changed,
-- with the reason app.decide_prediction passed in the transaction setting
-- mangalm.decision_reason; a decision the store's auto-approve preference made
-- (app.tg_predicted_orders_auto_approve sets mangalm.decision_automatic) is marked automatic
-- and has no person behind it. Security definer: no API role writes the history directly.
CREATE FUNCTION app.tg_predicted_orders_log() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_automatic boolean := coalesce(nullif(current_setting('mangalm.decision_automatic', true), ''), 'off')::boolean;
BEGIN
  INSERT INTO data.prediction_decisions (prediction_id, from_status, to_status, reason, decided_by, automatic)
  SELECT n.id, o.status, n.status, nullif(current_setting('mangalm.decision_reason', true), ''),
         CASE WHEN NOT v_automatic THEN (SELECT u.id FROM data.users u WHERE u.id = app.current_user_id()) END,
         v_automatic
  FROM new_rows n JOIN old_rows o ON o.id = n.id
  WHERE n.status IS DISTINCT FROM o.status;
  RETURN NULL;
END
$$;

-- The products a store usually orders: those in at least p_min_share of its last p_orders
-- invoiced orders, with the median quantity it ordered (rounded up) and today's catalogue
-- price (else the average price it paid). Used when an order is generated for a store
-- without a pending prediction.
CREATE FUNCTION app.usual_basket(p_store_id text, p_orders integer DEFAULT 10, p_min_share numeric DEFAULT 0.3)
RETURNS TABLE (product_id uuid, quantity numeric, unit_price numeric, frequency numeric)
LANGUAGE sql STABLE AS $$
  WITH recent AS (
    SELECT o.id FROM app.sales o
    WHERE o.store_id = p_store_id
    ORDER BY o.order_date DESC, o.id DESC
    LIMIT p_orders
  ), lines AS (
    SELECT i.product_id, i.order_id, sum(i.quantity) AS quantity, avg(i.unit_price) AS unit_price
    FROM data.invoice_items i JOIN recent r ON r.id = i.order_id
    WHERE i.is_product AND i.product_id IS NOT NULL
    GROUP BY i.product_id, i.order_id
    HAVING sum(i.quantity) > 0
  )
  SELECT l.product_id,
         ceil(percentile_cont(0.5) WITHIN GROUP (ORDER BY l.quantity))::numeric,
         coalesce(p.unit_price, round(avg(l.unit_price), 2)),
         round(count(*)::numeric / (SELECT count(*) FROM recent), 3)
  FROM lines l JOIN data.products p ON p.id = l.product_id AND p.is_active
  GROUP BY l.product_id, p.unit_price
  HAVING count(*)::numeric / (SELECT count(*) FROM recent) >= p_min_share
$$;

-- The usual basket of one store, as an API call (GET /api/rpc/usual_basket?store_id=X): what
-- generate_order would put in a draft for it. Empty for a store the caller does not see.
CREATE FUNCTION api.usual_basket(store_id text)
RETURNS TABLE (product_id uuid, quantity numeric, unit_price numeric, frequency numeric)
LANGUAGE sql STABLE AS $$
  SELECT b.* FROM app.usual_basket(usual_basket.store_id) b
  WHERE EXISTS (SELECT FROM data.stores s WHERE s.id = usual_basket.store_id)
$$;
COMMENT ON FUNCTION api.usual_basket(text) IS
  'The products a store usually orders (in at least 30% of its last 10 invoices), median quantity and price: '
  'what POST /rpc/generate_order {"store_id": ...} would order';

-- Creates a draft order for the caller and returns its id: from a prediction's basket
-- (which then becomes 'converted'), or, given only a store, from the store's usual basket.
-- Refuses with 404 when the prediction or store is not visible to the caller, 409 when the
-- prediction was dismissed or converted already, 422 when there is nothing to order.
CREATE FUNCTION app.generate_order(p_prediction_id uuid, p_store_id text) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_prediction record;
  v_store_id text := p_store_id;
  v_order_id bigint;
  v_lines integer;
BEGIN
  IF p_prediction_id IS NULL AND p_store_id IS NULL THEN
    PERFORM app.refuse(400, 'give prediction_id (a prediction to turn into an order) or store_id (to order the store''s usual basket)');
  END IF;
  IF p_prediction_id IS NOT NULL THEN
    SELECT p.id, p.store_id, p.status, p.order_id INTO v_prediction
    FROM data.predicted_orders p WHERE p.id = p_prediction_id FOR UPDATE;
    IF NOT FOUND THEN
      PERFORM app.refuse(404, format('prediction %s not found (or not for one of your stores)', p_prediction_id));
    END IF;
    IF p_store_id IS NOT NULL AND p_store_id <> v_prediction.store_id THEN
      PERFORM app.refuse(400, format('prediction %s is for store %s, not %s', p_prediction_id, v_prediction.store_id, p_store_id));
    END IF;
    IF v_prediction.status = 'converted' THEN
      PERFORM app.refuse(409, format('prediction %s was turned into order %s already', p_prediction_id, v_prediction.order_id));
    END IF;
    IF v_prediction.status = 'dismissed' THEN
      PERFORM app.refuse(409, format('prediction %s was dismissed', p_prediction_id),
                         'set it back to pending first: PATCH /api/predicted_orders {"status": "pending"}');
    END IF;
    v_store_id := v_prediction.store_id;
  ELSIF NOT EXISTS (SELECT FROM data.stores s WHERE s.id = p_store_id) THEN
    PERFORM app.refuse(404, format('store %s not found (or not one of your stores)', p_store_id));
  END IF;

  INSERT INTO data.orders (store_id, source, notes)
  VALUES (v_store_id, CASE WHEN p_prediction_id IS NULL THEN 'manual' ELSE 'prediction' END,
          CASE WHEN p_prediction_id IS NULL THEN 'generated from the store''s usual basket'
               ELSE 'generated from prediction ' || p_prediction_id END)
  RETURNING id INTO v_order_id;

  IF p_prediction_id IS NOT NULL THEN
    INSERT INTO data.order_items (order_id, product_id, quantity, unit_price, source)
    SELECT v_order_id, i.product_id, i.quantity, i.unit_price, 'prediction'
    FROM data.predicted_order_items i JOIN data.products p ON p.id = i.product_id AND p.is_active
    WHERE i.predicted_order_id = p_prediction_id AND i.in_basket;  -- the further ranked candidates are not ordered
  ELSE
    INSERT INTO data.order_items (order_id, product_id, quantity, unit_price, source)
    SELECT v_order_id, b.product_id, b.quantity, b.unit_price, 'manual'
    FROM app.usual_basket(v_store_id) b WHERE b.unit_price IS NOT NULL;
  END IF;
  GET DIAGNOSTICS v_lines = ROW_COUNT;
  IF v_lines = 0 THEN
    PERFORM app.refuse(422, CASE WHEN p_prediction_id IS NULL
      THEN format('store %s has no usual basket yet: no invoiced orders with products on sale', v_store_id)
      ELSE format('prediction %s has no products on sale to order', p_prediction_id) END);
  END IF;

  IF p_prediction_id IS NOT NULL THEN
    UPDATE data.predicted_orders SET status = 'converted', order_id = v_order_id WHERE id = p_prediction_id;
  END IF;
  PERFORM app.publish_event('data_changed', jsonb_build_object('source', 'orders', 'store_ids', jsonb_build_array(v_store_id)));
  RETURN v_order_id;
END
$$;

-- Moves a prediction to p_status ('approved', 'dismissed' or back to 'pending') as the
-- caller, with an optional reason kept in data.prediction_decisions; returns its id.
-- Refuses with 404 when the prediction is not visible to the caller.
CREATE FUNCTION app.decide_prediction(p_prediction_id uuid, p_status text, p_reason text) RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_store_id text;
BEGIN
  IF p_prediction_id IS NULL THEN
    PERFORM app.refuse(400, 'give the id of the prediction');
  END IF;
  PERFORM set_config('mangalm.decision_reason', coalesce(app.clean_text(p_reason), ''), true);
  UPDATE data.predicted_orders SET status = p_status WHERE id = p_prediction_id
  RETURNING store_id INTO v_store_id;
  PERFORM set_config('mangalm.decision_reason', '', true);
  IF v_store_id IS NULL THEN
    PERFORM app.refuse(404, format('prediction %s not found (or not for one of your stores)', p_prediction_id));
  END IF;
  PERFORM app.publish_event('data_changed', jsonb_build_object('source', 'predictions', 'store_ids', jsonb_build_array(v_store_id)));
  RETURN p_prediction_id;
END
$$;

-- (Re)create the triggers: the app schema they call is re-built on every migrate.
DROP TRIGGER IF EXISTS "20_check_api_write" ON data.orders;
CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR UPDATE OR DELETE ON data.orders
  FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_orders_check();
DROP TRIGGER IF EXISTS "20_check_api_write" ON data.order_items;
CREATE TRIGGER "20_check_api_write" BEFORE INSERT OR UPDATE OR DELETE ON data.order_items
  FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_order_items_check();
DROP TRIGGER IF EXISTS "30_totals_after_insert" ON data.order_items;
CREATE TRIGGER "30_totals_after_insert" AFTER INSERT ON data.order_items
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_order_items_totals();
DROP TRIGGER IF EXISTS "30_totals_after_update" ON data.order_items;
CREATE TRIGGER "30_totals_after_update" AFTER UPDATE ON data.order_items
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_order_items_totals();
DROP TRIGGER IF EXISTS "30_totals_after_delete" ON data.order_items;
CREATE TRIGGER "30_totals_after_delete" AFTER DELETE ON data.order_items
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_order_items_totals();
DROP TRIGGER IF EXISTS "20_check_api_write" ON data.predicted_orders;
CREATE TRIGGER "20_check_api_write" BEFORE UPDATE ON data.predicted_orders
  FOR EACH ROW WHEN (app.in_api_role()) EXECUTE FUNCTION app.tg_predicted_orders_check();
DROP TRIGGER IF EXISTS "30_log_decisions" ON data.predicted_orders;
CREATE TRIGGER "30_log_decisions" AFTER UPDATE ON data.predicted_orders
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION app.tg_predicted_orders_log();
