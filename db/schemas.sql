-- Private data lives in `data`, private functions in `app`, per-job staging tables in
-- `staging`; only `api` is exposed by PostgREST (views and functions over the private tables).
-- `app` and `api` hold no data: gateway/migrate.py drops and re-creates them on every migrate.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE SCHEMA data;
CREATE SCHEMA staging;

COMMENT ON SCHEMA data IS 'Private tables of Mangalm; clients read them through the api schema';
COMMENT ON SCHEMA staging IS 'Per-upload-job staging tables (unlogged, dropped when the job ends)';

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
