-- PostgREST embeds one view's rows in another's through foreign keys. The keys checked by
-- triggers instead (app.set_based_keys(), functions/set_based_keys.sql: invoice lines, rejected
-- lines, the analytics' derived rows) are declared to it as "computed relationships", made here
-- from that same list, so a key that becomes set-based keeps embedding as before:
--   api.<parent>(api.<child>) ROWS 1   the row's parent (to-one), e.g. /api/invoice_items?select=*,orders(*)
--   api.<child>(api.<parent>)          the parent's rows (to-many), e.g. /api/orders?select=*,invoice_items(*)
-- for every key whose child and parent both have an api view, unless the child names that
-- parent twice (an association rule's two products: the view carries their names instead).
-- Invoker rights: the caller's grants and row-level security decide what embeds. Who may call
-- them is in db/grants.sql.
CREATE FUNCTION app.api_relationships() RETURNS TABLE (child text, col text, parent text)
LANGUAGE sql STABLE AS $$
  SELECT k.child, k.col, k.parent FROM app.set_based_keys() k
  WHERE to_regclass(format('api.%I', k.child)) IS NOT NULL AND to_regclass(format('api.%I', k.parent)) IS NOT NULL
    AND (SELECT count(*) FROM app.set_based_keys() o WHERE o.child = k.child AND o.parent = k.parent) = 1
$$;

DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM app.api_relationships() LOOP
    EXECUTE format('CREATE FUNCTION api.%1$I(api.%2$I) RETURNS SETOF api.%1$I ROWS 100 LANGUAGE sql STABLE
                      AS $f$ SELECT * FROM api.%1$I WHERE %3$I = $1.id $f$', r.child, r.parent, r.col);
    EXECUTE format('CREATE FUNCTION api.%2$I(api.%1$I) RETURNS SETOF api.%2$I ROWS 1 LANGUAGE sql STABLE
                      AS $f$ SELECT * FROM api.%2$I WHERE id = $1.%3$I $f$', r.child, r.parent, r.col);
  END LOOP;
END
$$;
