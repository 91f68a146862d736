-- References enforced once per statement instead of once per row (migrations 0006_set_based_keys
-- and 0007_ingest_rejects_key dropped the foreign keys these triggers stand in for):
--   orders.store_id          -> stores.id       ON DELETE CASCADE (migration 0009_orders_store_key)
--   invoice_items.order_id   -> orders.id       ON DELETE CASCADE
--   invoice_items.product_id -> products.id     (NO ACTION; NULL for a non-product line)
--   upload_rejects.job_id    -> upload_jobs.id  ON DELETE CASCADE
--   and the analytics' derived rows (migration 0008_derived_keys), all ON DELETE CASCADE:
--   predicted_order_items.predicted_order_id -> predicted_orders.id, .product_id -> products.id,
--   upselling_recommendations.store_id -> stores.id, .product_id -> products.id,
--   product_associations.antecedent_id and .consequent_id -> products.id
--
-- Why: PostgreSQL checks a foreign key with one query and one row lock per inserted row. On a
-- 1M-line upload that was two thirds of the invoice_items insert, the job's largest step
-- (EXPLAIN ANALYZE on 202k rows: order_id 1.45 s, product_id 1.32 s, the rest of the insert
-- 1.0 s). The owner cannot switch those checks off for a load (only a superuser can), and
-- dropping and re-adding the constraints takes the locks readers waited for. A statement-level
-- trigger sees all the statement's rows at once (a transition table) and checks them with one
-- join per parent table. A job writes all its rejected lines in one statement too, and the
-- foreign key checked each of them against the same job: ~0.3 s of the real export's 1.3 s of
-- validation (115,524 rejects; the job with and without the constraint, back to back). Every
-- analytics refresh rewrites its derived rows by the thousand (the real export: ~59,000 ranked
-- basket lines, ~26,000 upselling suggestions), each checked against two parents.
--
-- What stays the same as with the foreign keys: the rules (a line's parent exists or the key is
-- NULL; deleting an order or a job deletes its lines or rejects; a referenced product cannot
-- be deleted; a referenced id cannot change; TRUNCATE ... CASCADE of a parent takes the lines); the errors
-- (SQLSTATE 23503 foreign_key_violation, the constraint's old name, PostgreSQL's own message
-- and detail); the locks (the parents of new lines are locked FOR KEY SHARE, as the foreign key
-- did: a concurrent delete of one waits for the inserting transaction, then sees its lines and
-- refuses or cascades). The functions run as the tables' owner, as foreign-key checks do, so row
-- level security does not hide a parent or a line from them.
-- Not the same: a parent deleted under REPEATABLE READ or SERIALIZABLE does not see lines
-- committed after its snapshot (a foreign key re-checks with a newer one); the application
-- writes at READ COMMITTED, where the check runs on a fresh snapshot after the row locks.

-- Every set-based key, one row each: the child table and column, the parent table (its key is
-- id), the old constraint's name, and whether deleting a parent deletes its children (CASCADE)
-- or is refused while they exist (NO ACTION). The triggers below are made from this list.
CREATE FUNCTION app.set_based_keys() RETURNS TABLE (child text, col text, parent text, fk text, cascade boolean)
LANGUAGE sql IMMUTABLE AS $$
  VALUES ('orders', 'store_id', 'stores', 'orders_store_id_fkey', true),
         ('invoice_items', 'order_id', 'orders', 'invoice_items_order_id_fkey', true),
         ('invoice_items', 'product_id', 'products', 'invoice_items_product_id_fkey', false),
         ('upload_rejects', 'job_id', 'upload_jobs', 'upload_rejects_job_id_fkey', true),
         ('predicted_order_items', 'predicted_order_id', 'predicted_orders',
          'predicted_order_items_predicted_order_id_fkey', true),
         ('predicted_order_items', 'product_id', 'products', 'predicted_order_items_product_id_fkey', true),
         ('upselling_recommendations', 'store_id', 'stores', 'upselling_recommendations_store_id_fkey', true),
         ('upselling_recommendations', 'product_id', 'products', 'upselling_recommendations_product_id_fkey', true),
         ('product_associations', 'antecedent_id', 'products', 'product_associations_antecedent_id_fkey', true),
         ('product_associations', 'consequent_id', 'products', 'product_associations_consequent_id_fkey', true)
$$;

-- Child side (AFTER INSERT and AFTER UPDATE of a child, once per statement): lock the distinct
-- parents the new rows name, FOR KEY SHARE; fewer locked than named means one is missing: name
-- it as the foreign key would have.
CREATE FUNCTION app.tg_check_parents() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
  r record;
  v_named bigint;
  v_locked bigint;
  v_missing text;
BEGIN
  FOR r IN SELECT * FROM app.set_based_keys() k WHERE k.child = TG_TABLE_NAME LOOP
    EXECUTE format($q$
      WITH named AS MATERIALIZED (SELECT %1$I AS id FROM new_rows WHERE %1$I IS NOT NULL GROUP BY 1)
      SELECT (SELECT count(*) FROM named),
             (SELECT count(*) FROM (SELECT FROM data.%2$I p JOIN named n ON n.id = p.id FOR KEY SHARE OF p) l)
      $q$, r.col, r.parent) INTO v_named, v_locked;
    IF v_locked < v_named THEN
      EXECUTE format('SELECT n.%1$I::text FROM new_rows n WHERE n.%1$I IS NOT NULL
                        AND NOT EXISTS (SELECT FROM data.%2$I p WHERE p.id = n.%1$I) LIMIT 1', r.col, r.parent)
        INTO v_missing;
      RAISE foreign_key_violation USING
        MESSAGE = format('insert or update on table "%s" violates foreign key constraint "%s"', r.child, r.fk),
        DETAIL = format('Key (%s)=(%s) is not present in table "%s".', r.col, v_missing, r.parent),
        SCHEMA = 'data', TABLE = r.child, CONSTRAINT = r.fk;
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;

-- Parent side: ids of parents that are gone, after a DELETE statement (old_rows) or a row's
-- UPDATE of its id (the old id, unless another row took it in the same statement). Children
-- of a deleted parent go with it (CASCADE) or refuse the delete; a referenced id cannot change.
CREATE FUNCTION app.tg_parent_gone() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
  r record;
  v_gone text := 'SELECT id FROM old_rows';
  v_key text;
BEGIN
  IF TG_LEVEL = 'ROW' THEN
    v_gone := format('SELECT %L::%s', OLD.id, pg_typeof(OLD.id));
  END IF;
  FOR r IN SELECT * FROM app.set_based_keys() k WHERE k.parent = TG_TABLE_NAME LOOP
    IF TG_OP = 'DELETE' AND r.cascade THEN
      EXECUTE format('DELETE FROM data.%I c WHERE c.%I IN (%s)', r.child, r.col, v_gone);
      CONTINUE;
    END IF;
    EXECUTE format('SELECT c.%1$I::text FROM data.%4$I c WHERE c.%1$I IN (%2$s)
                      AND NOT EXISTS (SELECT FROM data.%3$I p WHERE p.id = c.%1$I) LIMIT 1',
                   r.col, v_gone, r.parent, r.child)
      INTO v_key;
    IF v_key IS NOT NULL THEN
      RAISE foreign_key_violation USING
        MESSAGE = format('update or delete on table "%s" violates foreign key constraint "%s" on table "%s"',
                         r.parent, r.fk, r.child),
        DETAIL = format('Key (id)=(%s) is still referenced from table "%s".', v_key, r.child),
        SCHEMA = 'data', TABLE = r.parent, CONSTRAINT = r.fk;
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;

-- TRUNCATE of a parent: the foreign key refused a TRUNCATE of the parent alone and, with
-- CASCADE, truncated the children too. Foreign keys still stand on most parents (order_items
-- and predicted_orders.order_id on orders, order_items on products, predicted_orders and more
-- on stores, prediction_decisions on predicted_orders) and refuse the first, so what reaches
-- this trigger there is a TRUNCATE ... CASCADE, or one that lists the children too: they go.
-- A child that foreign keys reference in turn (orders: order_items, predicted_orders) is
-- emptied by DELETE, so those keys cascade or refuse as they would have: a TRUNCATE of it
-- from here cannot reach tables the outer TRUNCATE ... CASCADE is still truncating. Nothing
-- else references upload_jobs, so a TRUNCATE of the jobs alone takes their rejects.
CREATE FUNCTION app.tg_parent_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
  v_child text;
  v_any boolean;
BEGIN
  FOR v_child IN SELECT DISTINCT k.child FROM app.set_based_keys() k WHERE k.parent = TG_TABLE_NAME LOOP
    EXECUTE format('SELECT EXISTS (SELECT FROM data.%I)', v_child) INTO v_any;
    IF v_any THEN
      IF EXISTS (SELECT FROM pg_constraint c WHERE c.confrelid = format('data.%I', v_child)::regclass
                   AND c.contype = 'f') THEN
        EXECUTE format('DELETE FROM data.%I', v_child);
      ELSE
        EXECUTE format('TRUNCATE data.%I', v_child);
      END IF;
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;

-- (Re)create the triggers: the app schema they call is re-built on every migrate.
-- (A trigger with transition tables takes one event and no column list, hence one per event;
-- an id change is rare, so it is checked per row and only when the id is in the SET list.)
DO $$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT DISTINCT child FROM app.set_based_keys() LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS "40_parents_after_insert" ON data.%1$I;
      CREATE TRIGGER "40_parents_after_insert" AFTER INSERT ON data.%1$I
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_check_parents();
      DROP TRIGGER IF EXISTS "40_parents_after_update" ON data.%1$I;
      CREATE TRIGGER "40_parents_after_update" AFTER UPDATE ON data.%1$I
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_check_parents();', t);
  END LOOP;
  FOR t IN SELECT DISTINCT parent FROM app.set_based_keys() LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS "40_children_after_delete" ON data.%1$I;
      CREATE TRIGGER "40_children_after_delete" AFTER DELETE ON data.%1$I
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_parent_gone();
      DROP TRIGGER IF EXISTS "40_children_after_update_id" ON data.%1$I;
      CREATE TRIGGER "40_children_after_update_id" AFTER UPDATE OF id ON data.%1$I
        FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION app.tg_parent_gone();
      DROP TRIGGER IF EXISTS "40_children_after_truncate" ON data.%1$I;
      CREATE TRIGGER "40_children_after_truncate" AFTER TRUNCATE ON data.%1$I
        FOR EACH STATEMENT EXECUTE FUNCTION app.tg_parent_truncated();', t);
  END LOOP;
END
$$;
