-- The stores the requesting sales rep may see, as a set: policies use
-- `store_id IN (SELECT app.rep_store_ids())`, a hash semi-join computed once per query,
-- instead of a per-row function call over 100k orders.
CREATE FUNCTION app.rep_store_ids() RETURNS SETOF text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
  SELECT a.store_id FROM data.store_assignments a WHERE a.user_id = app.current_user_id()
  UNION
  SELECT s.id FROM data.stores s
  WHERE s.sales_person IS NOT NULL AND s.sales_person = app.current_sales_person()
$$;
