-- Least privilege: who owns what, which logins are superusers, and what the analyst (and any
-- other login) can no longer do to the rest of the system. db/roles.sql, db/grants.sql,
-- db/ownership.sql.
BEGIN;
SELECT plan(29);

-- Nobody the application logs in as is a superuser; the owner cannot log in --------------------
SELECT is((SELECT count(*)::integer FROM pg_roles
           WHERE rolname IN ('mangalm_owner', 'mangalm_app', 'authenticator', 'analyst') AND rolsuper), 0,
          'no application role is a superuser');
SELECT ok(NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'mangalm_owner'), 'the owner cannot log in');
SELECT ok(NOT pg_has_role('mangalm_app', 'mangalm_owner', 'MEMBER'), 'the application is not the owner');
SELECT ok(NOT pg_has_role('mangalm_app', 'pg_execute_server_program', 'MEMBER')
          AND NOT pg_has_role('mangalm_app', 'pg_read_server_files', 'MEMBER')
          AND NOT pg_has_role('mangalm_app', 'pg_write_server_files', 'MEMBER'),
          'the application can neither run programs nor read or write the server''s files');

-- Everything of the application belongs to mangalm_owner --------------------------------------
SELECT is((SELECT count(*)::integer FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname IN ('data', 'staging', 'app', 'api') AND c.relkind IN ('r', 'p', 'v', 'm')
             AND c.relowner <> 'mangalm_owner'::regrole), 0,
          'every table and view is owned by mangalm_owner');
SELECT is((SELECT count(*)::integer FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname IN ('app', 'api', 'pgrst_guard') AND p.proowner <> 'mangalm_owner'::regrole), 0,
          'every function is owned by mangalm_owner');
SELECT is((SELECT count(*)::integer FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner
           WHERE p.prosecdef AND r.rolsuper AND p.pronamespace NOT IN
             (SELECT oid FROM pg_namespace WHERE nspname IN ('pg_catalog', 'information_schema'))), 0,
          'no security-definer function runs as a superuser');
SELECT is((SELECT count(*)::integer FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname IN ('app', 'api') AND p.prosecdef
             AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')), 0,
          'every security-definer function pins its search_path');
SELECT is((SELECT count(*)::integer FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relowner = 'mangalm_app'::regrole), 0, 'the application owns nothing');

-- What the application may do: the pipeline's entry points, not its inner steps ----------------
SELECT ok(has_function_privilege('mangalm_app', 'app.process_bulk_upload_complete(bigint)', 'EXECUTE')
          AND has_function_privilege('mangalm_app', 'app.begin_upload(text, jsonb, integer, jsonb, boolean, text, uuid)', 'EXECUTE')
          AND has_function_privilege('mangalm_app', 'app.claim_job(text, bigint)', 'EXECUTE'),
          'the application runs the pipeline''s entry points');
SELECT ok(NOT has_function_privilege('mangalm_app', 'app.refresh_derived(text[], text, date, date, boolean)', 'EXECUTE')
          AND NOT has_function_privilege('mangalm_app', 'app.ingest_parse(data.upload_jobs)', 'EXECUTE'),
          'the application cannot call the pipeline''s inner steps');
SELECT ok(NOT has_column_privilege('mangalm_app', 'data.users', 'password_hash', 'SELECT'),
          'the application cannot read password hashes');
SELECT ok(NOT has_table_privilege('mangalm_app', 'data.orders', 'INSERT,UPDATE,DELETE,TRUNCATE'),
          'the application writes tables only through the functions');

-- Locks, notifications and temporary tables are the owner's alone ------------------------------
SELECT is((SELECT count(*)::integer FROM pg_proc
           WHERE pronamespace = 'pg_catalog'::regnamespace AND proname LIKE 'pg\_%advisory\_%'
             AND has_function_privilege('analyst', oid, 'EXECUTE')), 0,
          'the analyst can take no advisory lock');
SELECT is((SELECT count(*)::integer FROM pg_proc
           WHERE pronamespace = 'pg_catalog'::regnamespace AND proname LIKE 'pg\_%advisory\_%'
             AND (has_function_privilege('sales_rep', oid, 'EXECUTE')
                  OR has_function_privilege('authenticator', oid, 'EXECUTE')
                  OR has_function_privilege('mangalm_app', oid, 'EXECUTE'))), 0,
          'neither the API roles nor the application take advisory locks themselves');
SELECT ok(NOT has_function_privilege('analyst', 'pg_notify(text, text)', 'EXECUTE')
          AND NOT has_function_privilege('admin', 'pg_notify(text, text)', 'EXECUTE'),
          'pg_notify is not for the analyst or the API roles');
SELECT ok(NOT has_database_privilege('analyst', current_database(), 'TEMPORARY')
          AND NOT has_database_privilege('manager', current_database(), 'TEMPORARY'),
          'the analyst and the API roles create no temporary tables');
SELECT ok(has_database_privilege('mangalm_owner', current_database(), 'TEMPORARY'),
          'the owner''s functions still use temporary tables');
SELECT is((SELECT rolconnlimit FROM pg_roles WHERE rolname = 'analyst'), 8, 'the analyst has a connection limit');

-- Tried as the analyst: what it cannot lift ---------------------------------------------------
-- (the pipeline's lock classes read here: the analyst may not even call app.lock_class)
SELECT is(ARRAY[app.lock_class('ingest'), app.lock_class('upload_job')], ARRAY[745101, 745100],
          'the lock classes tried below');
SELECT throws_ok($$SELECT app.lock_class('nonesuch')$$, 'P0001', 'no advisory lock class is named nonesuch',
                 'an unknown lock class is an error, not a NULL that would lock nothing');
SET LOCAL ROLE analyst;
SELECT throws_ok('SELECT pg_advisory_lock(745101, 0)', '42501', NULL,
                 'the analyst cannot hold the ingest lock');
SELECT throws_ok('SELECT pg_try_advisory_lock(745100, 1)', '42501', NULL,
                 'nor a job''s lock');
SELECT throws_ok('SELECT pg_advisory_xact_lock_shared(1)', '42501', NULL,
                 'nor any other advisory lock');
SELECT throws_ok($$SELECT pg_notify('mangalm_events', '{"type": "upload_finished"}')$$, '42501', NULL,
                 'the analyst cannot call pg_notify');
SELECT throws_ok('CREATE TEMP TABLE analyst_scratch (x int)', '42501', NULL,
                 'the analyst cannot create temporary tables');
-- This transaction is read-write, like a session that has SET its read-only default off.
SELECT throws_ok($$INSERT INTO api.settings (key, value) VALUES ('x', '1')$$, '42501', NULL,
                 'lifting read-only mode gives the analyst no write');
SELECT throws_ok('SELECT * FROM data.users', '42501', NULL, 'the analyst cannot even name a private table');
SELECT lives_ok('SELECT count(*) FROM api.stores', 'the analyst still reads the api views');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
