-- The two references of data.invoice_items, enforced once per statement instead of once per row
-- (migration 0006_set_based_keys dropped the foreign keys these triggers stand in for):
--   invoice_items.order_id   -> orders.id    ON DELETE CASCADE
--   invoice_items.product_id -> products.id  (NO ACTION; NULL for a non-product line)
--
-- Why: PostgreSQL checks a foreign key with one query and one row lock per inserted row. On a
-- 1M-line upload that was two thirds of the invoice_items insert, the job's largest step
-- (EXPLAIN ANALYZE on 202k rows: order_id 1.45 s, product_id 1.32 s, the rest of the insert
-- 1.0 s). The owner cannot switch those checks off for a load (only a superuser can), and
-- dropping and re-adding the constraints takes the locks readers waited for. A statement-level
-- trigger sees all the statement's rows at once (a transition table) and checks them with one
-- join per parent table.
--
-- What stays the same as with the foreign keys: the rules (an invoice line's order exists, its
-- product exists or is NULL; deleting an order deletes its lines; a referenced product cannot
-- be deleted; a referenced id cannot change; TRUNCATE ... CASCADE of a parent takes the lines); the errors
-- (SQLSTATE 23503 foreign_key_violation, the constraint's old name, PostgreSQL's own message
-- and detail); the locks (the parents of new lines are locked FOR KEY SHARE, as the foreign key
-- did: a concurrent delete of one waits for the inserting transaction, then sees its lines and
-- refuses or cascades). The functions run as the tables' owner, as foreign-key checks do, so row
-- level security does not hide a parent or a line from them.
-- Not the same: a parent deleted under REPEATABLE READ or SERIALIZABLE does not see lines
-- committed after its snapshot (a foreign key re-checks with a newer one); the application
-- writes at READ COMMITTED, where the check runs on a fresh snapshot after the row locks.

-- The parents as (column of invoice_items, parent table, the constraint's name): one list for
-- every trigger below.
CREATE FUNCTION app.invoice_item_parents() RETURNS TABLE (col text, parent text, fk text)
LANGUAGE sql IMMUTABLE AS $$
  VALUES ('order_id', 'orders', 'invoice_items_order_id_fkey'),
         ('product_id', 'products', 'invoice_items_product_id_fkey')
$$;

-- Child side (AFTER INSERT and AFTER UPDATE of invoice_items, once per statement): lock the
-- distinct parents the new rows name, FOR KEY SHARE; fewer locked than named means one is
-- missing: name it as the foreign key would have.
CREATE FUNCTION app.tg_invoice_items_check_parents() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
  r record;
  v_named bigint;
  v_locked bigint;
  v_missing text;
BEGIN
  FOR r IN SELECT * FROM app.invoice_item_parents() LOOP
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
        MESSAGE = format('insert or update on table "invoice_items" violates foreign key constraint "%s"', r.fk),
        DETAIL = format('Key (%s)=(%s) is not present in table "%s".', r.col, v_missing, r.parent),
        SCHEMA = 'data', TABLE = 'invoice_items', CONSTRAINT = r.fk;
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;

-- Parent side: ids of orders or products that are gone, after a DELETE statement (old_rows)
-- or a row's UPDATE of its id (the old id, unless another row took it in the same statement).
-- An order's lines go with it (CASCADE); a product or an order id still referenced is refused.
CREATE FUNCTION app.tg_invoice_items_parent_gone() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
  r record;
  v_gone text := 'SELECT id FROM old_rows';
  v_key text;
BEGIN
  IF TG_LEVEL = 'ROW' THEN
    v_gone := format('SELECT %L::%s', OLD.id, pg_typeof(OLD.id));
  END IF;
  SELECT * INTO r FROM app.invoice_item_parents() p WHERE p.parent = TG_TABLE_NAME;
  IF TG_OP = 'DELETE' AND r.parent = 'orders' THEN
    EXECUTE format('DELETE FROM data.invoice_items i WHERE i.order_id IN (%s)', v_gone);
    RETURN NULL;
  END IF;
  EXECUTE format('SELECT i.%1$I::text FROM data.invoice_items i WHERE i.%1$I IN (%2$s)
                    AND NOT EXISTS (SELECT FROM data.%3$I p WHERE p.id = i.%1$I) LIMIT 1', r.col, v_gone, r.parent)
    INTO v_key;
  IF v_key IS NOT NULL THEN
    RAISE foreign_key_violation USING
      MESSAGE = format('update or delete on table "%s" violates foreign key constraint "%s" on table "invoice_items"',
                       r.parent, r.fk),
      DETAIL = format('Key (id)=(%s) is still referenced from table "invoice_items".', v_key),
      SCHEMA = 'data', TABLE = r.parent, CONSTRAINT = r.fk;
  END IF;
  RETURN NULL;
END
$$;

-- TRUNCATE of an order or a product: the foreign key refused a TRUNCATE of the parent alone and,
-- with CASCADE, truncated the lines too. The other foreign keys on orders and products
-- (order_items, predicted_orders, product_associations, ...) still refuse the first, so what
-- reaches this trigger is a TRUNCATE ... CASCADE, or one that lists the lines too: they go.
CREATE FUNCTION app.tg_invoice_items_parent_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  IF EXISTS (SELECT FROM data.invoice_items) THEN
    TRUNCATE data.invoice_items;
  END IF;
  RETURN NULL;
END
$$;

-- (Re)create the triggers: the app schema they call is re-built on every migrate.
-- (A trigger with transition tables takes one event and no column list, hence one per event;
-- an id change is rare, so it is checked per row and only when the id is in the SET list.)
DROP TRIGGER IF EXISTS "40_parents_after_insert" ON data.invoice_items;
CREATE TRIGGER "40_parents_after_insert" AFTER INSERT ON data.invoice_items
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_invoice_items_check_parents();
DROP TRIGGER IF EXISTS "40_parents_after_update" ON data.invoice_items;
CREATE TRIGGER "40_parents_after_update" AFTER UPDATE ON data.invoice_items
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_invoice_items_check_parents();
DO $$
DECLARE
  t text;
BEGIN
  FOR t IN SELECT parent FROM app.invoice_item_parents() LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS "40_invoice_items_after_delete" ON data.%1$I;
      CREATE TRIGGER "40_invoice_items_after_delete" AFTER DELETE ON data.%1$I
        REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_invoice_items_parent_gone();
      DROP TRIGGER IF EXISTS "40_invoice_items_after_update_id" ON data.%1$I;
      CREATE TRIGGER "40_invoice_items_after_update_id" AFTER UPDATE OF id ON data.%1$I
        FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION app.tg_invoice_items_parent_gone();
      DROP TRIGGER IF EXISTS "40_invoice_items_after_truncate" ON data.%1$I;
      CREATE TRIGGER "40_invoice_items_after_truncate" AFTER TRUNCATE ON data.%1$I
        FOR EACH STATEMENT EXECUTE FUNCTION app.tg_invoice_items_parent_truncated();', t);
  END LOOP;
END
$$;

-- The job of an upload's rejected lines, enforced the same way (migration
-- 0007_ingest_rejects_key dropped the foreign key these triggers stand in for):
--   upload_rejects.job_id -> upload_jobs.id  ON DELETE CASCADE
-- Why: a job writes all its rejected lines in one statement, and the foreign key checked each
-- of them with a query and a row lock of the same job: ~0.3 s of the real export's 1.3 s of
-- validation (115,524 rejects; the job with and without the constraint, back to back). The
-- same rules, errors and locks as the invoice lines' above: a reject's job exists (locked FOR
-- KEY SHARE by the inserting statement), deleting a job deletes its rejects, a referenced job
-- id cannot change, and TRUNCATE of the jobs takes the rejects too.

-- Child side (AFTER INSERT and AFTER UPDATE of upload_rejects, once per statement).
CREATE FUNCTION app.tg_upload_rejects_check_job() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
  v_named bigint;
  v_locked bigint;
  v_missing text;
BEGIN
  WITH named AS MATERIALIZED (SELECT job_id AS id FROM new_rows WHERE job_id IS NOT NULL GROUP BY 1)
  SELECT (SELECT count(*) FROM named),
         (SELECT count(*) FROM (SELECT FROM data.upload_jobs p JOIN named n ON n.id = p.id FOR KEY SHARE OF p) l)
  INTO v_named, v_locked;
  IF v_locked < v_named THEN
    SELECT n.job_id::text INTO v_missing FROM new_rows n
    WHERE n.job_id IS NOT NULL AND NOT EXISTS (SELECT FROM data.upload_jobs p WHERE p.id = n.job_id) LIMIT 1;
    RAISE foreign_key_violation USING
      MESSAGE = 'insert or update on table "upload_rejects" violates foreign key constraint "upload_rejects_job_id_fkey"',
      DETAIL = format('Key (job_id)=(%s) is not present in table "upload_jobs".', v_missing),
      SCHEMA = 'data', TABLE = 'upload_rejects', CONSTRAINT = 'upload_rejects_job_id_fkey';
  END IF;
  RETURN NULL;
END
$$;

-- Parent side: a deleted job's rejects go with it (AFTER DELETE, once per statement).
CREATE FUNCTION app.tg_upload_jobs_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  DELETE FROM data.upload_rejects r USING old_rows o WHERE r.job_id = o.id;
  RETURN NULL;
END
$$;

-- A job's id that changed (per row, only when the id is set) while rejects still name it.
CREATE FUNCTION app.tg_upload_jobs_id_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  IF EXISTS (SELECT FROM data.upload_rejects r WHERE r.job_id = OLD.id)
     AND NOT EXISTS (SELECT FROM data.upload_jobs j WHERE j.id = OLD.id) THEN
    RAISE foreign_key_violation USING
      MESSAGE = 'update or delete on table "upload_jobs" violates foreign key constraint "upload_rejects_job_id_fkey" '
                'on table "upload_rejects"',
      DETAIL = format('Key (id)=(%s) is still referenced from table "upload_rejects".', OLD.id),
      SCHEMA = 'data', TABLE = 'upload_jobs', CONSTRAINT = 'upload_rejects_job_id_fkey';
  END IF;
  RETURN NULL;
END
$$;

-- TRUNCATE of the jobs takes their rejects (the foreign key asked for CASCADE or both tables;
-- no other table references the jobs, so the rejects are what it would have taken).
CREATE FUNCTION app.tg_upload_jobs_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  IF EXISTS (SELECT FROM data.upload_rejects) THEN
    TRUNCATE data.upload_rejects;
  END IF;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS "40_job_after_insert" ON data.upload_rejects;
CREATE TRIGGER "40_job_after_insert" AFTER INSERT ON data.upload_rejects
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_upload_rejects_check_job();
DROP TRIGGER IF EXISTS "40_job_after_update" ON data.upload_rejects;
CREATE TRIGGER "40_job_after_update" AFTER UPDATE ON data.upload_rejects
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_upload_rejects_check_job();
DROP TRIGGER IF EXISTS "40_upload_rejects_after_delete" ON data.upload_jobs;
CREATE TRIGGER "40_upload_rejects_after_delete" AFTER DELETE ON data.upload_jobs
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION app.tg_upload_jobs_deleted();
DROP TRIGGER IF EXISTS "40_upload_rejects_after_update_id" ON data.upload_jobs;
CREATE TRIGGER "40_upload_rejects_after_update_id" AFTER UPDATE OF id ON data.upload_jobs
  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION app.tg_upload_jobs_id_changed();
DROP TRIGGER IF EXISTS "40_upload_rejects_after_truncate" ON data.upload_jobs;
CREATE TRIGGER "40_upload_rejects_after_truncate" AFTER TRUNCATE ON data.upload_jobs
  FOR EACH STATEMENT EXECUTE FUNCTION app.tg_upload_jobs_truncated();
