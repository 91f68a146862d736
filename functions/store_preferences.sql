-- Store preferences that act (data.store_preferences, edited through /api/store_preferences):
--   auto_approve_predictions  a store's new predictions are approved as they are made, the
--                             decision recorded as automatic (no person behind it);
--   credit_limit              an order that would take the store past it is refused on submit.
-- Both are triggers on the tables, so they hold whoever writes: the upload pipeline, POST
-- /api/rpc/predict, a script, psql. (preferred_delivery_day is read by the predictions.)

-- Approves the pending predictions a statement on data.predicted_orders made (inserted, or
-- recomputed in place: pending before and after) for stores set to auto-approve. A prediction
-- a person has decided on (say, moved back to pending from approved) is left alone, then and
-- at later recomputes: that person's word stands. The approval is an UPDATE, so the decision history (30_log_decisions) records
-- it, marked automatic through mangalm.decision_automatic. Security definer: the caller that
-- recomputes predictions may not be allowed to decide on them, and the preference is the
-- store's, not the caller's.
CREATE FUNCTION app.tg_predicted_orders_auto_approve() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_ids uuid[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT array_agg(n.id) INTO v_ids
    FROM new_rows n JOIN data.store_preferences sp ON sp.store_id = n.store_id AND sp.auto_approve_predictions
    WHERE n.status = 'pending';
  ELSE
    SELECT array_agg(n.id) INTO v_ids
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    JOIN data.store_preferences sp ON sp.store_id = n.store_id AND sp.auto_approve_predictions
    WHERE n.status = 'pending' AND o.status = 'pending'
      AND NOT EXISTS (SELECT FROM data.prediction_decisions d WHERE d.prediction_id = n.id AND NOT d.automatic);
  END IF;
  IF v_ids IS NULL THEN
    RETURN NULL;
  END IF;
  PERFORM set_config('mangalm.decision_automatic', 'on', true);
  PERFORM set_config('mangalm.decision_reason', 'approved automatically: the store''s preference auto_approve_predictions', true);
  UPDATE data.predicted_orders p SET status = 'approved', decided_by = NULL, decided_at = now()
  WHERE p.id = ANY (v_ids) AND p.status = 'pending';
  PERFORM set_config('mangalm.decision_reason', '', true);
  PERFORM set_config('mangalm.decision_automatic', '', true);
  RETURN NULL;
END
$$;

-- What a store owes and has on order, apart from the order p_except_order: unpaid invoices
-- (the export's Balance of its non-void invoices that are not paid or closed; exports without
-- a Balance column count nothing here) and open orders (submitted or confirmed: placed and
-- not yet invoiced nor cancelled; drafts are not commitments yet).
CREATE FUNCTION app.store_credit_used(p_store_id text, p_except_order bigint DEFAULT NULL)
RETURNS TABLE (open_orders numeric, open_order_count integer, unpaid_invoices numeric)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
  SELECT
    (SELECT coalesce(sum(o.total_amount), 0) FROM data.orders o
     WHERE o.store_id = p_store_id AND o.source <> 'invoice' AND o.status IN ('submitted', 'confirmed')
       AND o.id IS DISTINCT FROM p_except_order),
    (SELECT count(*)::integer FROM data.orders o
     WHERE o.store_id = p_store_id AND o.source <> 'invoice' AND o.status IN ('submitted', 'confirmed')
       AND o.id IS DISTINCT FROM p_except_order),
    (SELECT round(coalesce(sum(b.balance), 0), 2)
     FROM (SELECT (SELECT max(m.balance) FROM data.mangalam_invoices m
                   WHERE m.invoice_number = o.invoice_number COLLATE "C") AS balance
           FROM app.sales o
           WHERE o.store_id = p_store_id
             AND lower(coalesce(o.invoice_status, '')) NOT IN ('paid', 'closed', 'void')) b
     WHERE b.balance > 0)
$$;

-- Refuses (409) to submit an order that would take its store past its credit limit:
-- this order + open orders + unpaid invoices > credit_limit, with the amounts in the message.
-- Submits of one store take turns (a transaction-level advisory lock), so two orders submitted
-- at once cannot each fit under the limit alone and pass it together. Security definer: a rep
-- may not see every order of the store, but all of them count.
CREATE FUNCTION app.tg_orders_credit_limit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_limit numeric;
  v_used record;
  v_total numeric;
  v_cur text := coalesce(NEW.currency_code || ' ', '');
BEGIN
  IF NEW.source = 'invoice' OR (TG_OP = 'UPDATE' AND OLD.status = 'submitted') THEN
    RETURN NEW;
  END IF;
  SELECT sp.credit_limit INTO v_limit FROM data.store_preferences sp WHERE sp.store_id = NEW.store_id;
  IF v_limit IS NULL THEN
    RETURN NEW;
  END IF;
  PERFORM pg_advisory_xact_lock(app.lock_class('credit_limit'), hashtext(NEW.store_id));
  SELECT * INTO v_used FROM app.store_credit_used(NEW.store_id, NEW.id);
  v_total := NEW.total_amount + v_used.open_orders + v_used.unpaid_invoices;
  IF v_total > v_limit THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409',
      MESSAGE = format('order %s (%s%s) would take store %s to %s%s, over its credit limit of %s%s',
                       NEW.id, v_cur, NEW.total_amount, NEW.store_id, v_cur, v_total, v_cur, v_limit),
      DETAIL = format('this order %s + open orders %s (%s submitted or confirmed) + unpaid invoices %s = %s > credit limit %s',
                      NEW.total_amount, v_used.open_orders, v_used.open_order_count, v_used.unpaid_invoices,
                      v_total, v_limit),
      HINT = format('remove lines worth at least %s%s, or ask a manager to raise the store''s credit_limit',
                    v_cur, v_total - v_limit);
  END IF;
  RETURN NEW;
END
$$;

-- (Re)create the triggers: the app schema they call is re-built on every migrate.
-- 40_: after 30_log_decisions in name order (AFTER triggers fire by name), so a recomputed
-- prediction's own update is logged first; the approval then logs pending -> approved.
DROP TRIGGER IF EXISTS "40_auto_approve_inserted" ON data.predicted_orders;
CREATE TRIGGER "40_auto_approve_inserted" AFTER INSERT ON data.predicted_orders
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION app.tg_predicted_orders_auto_approve();
DROP TRIGGER IF EXISTS "40_auto_approve_recomputed" ON data.predicted_orders;
CREATE TRIGGER "40_auto_approve_recomputed" AFTER UPDATE ON data.predicted_orders
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION app.tg_predicted_orders_auto_approve();
-- 25_: after 20_check_api_write has checked that the caller may submit at all. Only rows
-- becoming 'submitted' call it (invoices from the pipeline never do).
DROP TRIGGER IF EXISTS "25_credit_limit" ON data.orders;
CREATE TRIGGER "25_credit_limit" BEFORE INSERT OR UPDATE OF status ON data.orders
  FOR EACH ROW WHEN (NEW.status = 'submitted') EXECUTE FUNCTION app.tg_orders_credit_limit();
