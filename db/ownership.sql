-- Every object of the application belongs to mangalm_owner: no superuser, no login. Its
-- security-definer functions then run with exactly the owner's rights (its tables, temporary
-- tables, advisory locks, pg_notify: db/grants.sql), never a superuser's, so a flaw in one of
-- them cannot reach COPY ... PROGRAM or the server's files.
--
-- Migrations run as the administrator (the cluster's superuser, or DATABASE_URL's role) and
-- create what they create as that role; this file, applied on every migrate before the
-- grants (so every grant is the owner's), hands everything in the application's schemas over. It is idempotent and catches objects of
-- earlier releases and of a restored backup alike. Indexes, TOAST tables, table row types and
-- sequences owned by a column follow their table and are skipped.
DO $$
DECLARE
  v_owner oid := 'mangalm_owner'::regrole;
  v_schemas oid[] := ARRAY(SELECT oid FROM pg_namespace
                           WHERE nspname IN ('data', 'staging', 'app', 'api', 'pgrst_guard'));
  r record;
BEGIN
  FOR r IN SELECT oid::regnamespace AS name FROM pg_namespace
           WHERE oid = ANY (v_schemas) AND nspowner <> v_owner LOOP
    EXECUTE format('ALTER SCHEMA %s OWNER TO mangalm_owner', r.name);
  END LOOP;

  FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
           WHERE c.relnamespace = ANY (v_schemas) AND c.relowner <> v_owner
             AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
             AND NOT (c.relkind = 'S' AND EXISTS (
               SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                 AND d.deptype IN ('a', 'i'))) LOOP
    EXECUTE format('ALTER %s %s OWNER TO mangalm_owner',
                   CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                  WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                   r.name);
  END LOOP;

  FOR r IN SELECT p.oid::regprocedure AS name, p.prokind FROM pg_proc p
           WHERE p.pronamespace = ANY (v_schemas) AND p.proowner <> v_owner LOOP
    EXECUTE format('ALTER %s %s OWNER TO mangalm_owner',
                   CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
                   r.name);
  END LOOP;

  FOR r IN SELECT t.oid::regtype AS name FROM pg_type t
           WHERE t.typnamespace = ANY (v_schemas) AND t.typowner <> v_owner AND t.typcategory <> 'A'
             AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c') LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO mangalm_owner', r.name);
  END LOOP;
END
$$;
