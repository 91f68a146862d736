-- Limits the analyst login (psql, BI tools) cannot lift.
--
-- Its role defaults (read-only transactions, a 30 s statement timeout: db/roles.sql) are only
-- defaults: a session may SET them back. What it can actually do is decided by privileges
-- (SELECT on the api views; no advisory locks, pg_notify or temporary tables: db/grants.sql)
-- and by this: the jobs worker calls app.end_overlong_analyst_statements on every pass of its
-- loop, which ends any analyst statement (or transaction left open) running longer than
-- data.settings 'analyst.max_statement_seconds' (default 300). Nothing an analyst holds can
-- block a job (a job takes no lock an open SELECT conflicts with), so this guards the server's
-- cores and its vacuum horizon, not the pipeline.

-- Ends (pg_terminate_backend) the analyst sessions whose statement or open transaction is older
-- than the limit; returns how many. The caller needs pg_signal_backend and pg_read_all_stats
-- (mangalm_app has both: db/roles.sql).
CREATE FUNCTION app.end_overlong_analyst_statements() RETURNS integer
LANGUAGE sql VOLATILE SET search_path = pg_catalog AS $$
  SELECT count(*) FILTER (WHERE pg_terminate_backend(a.pid))::integer
  FROM pg_stat_activity a
  WHERE a.usename = 'analyst' AND a.datname = current_database() AND a.state <> 'idle'
    AND least(a.query_start, a.xact_start)
        < now() - make_interval(secs => app.integer_setting('analyst.max_statement_seconds', 300))
$$;
