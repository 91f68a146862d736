-- Every advisory lock the application takes, named in one place. A lock is a pair of integers:
-- the class (what is locked, below) and the key (which one: a job id, the hash of an e-mail or
-- a store id; 0 for a lock of a whole step). Only the owner's functions take them: no API role,
-- no login may (db/grants.sql), so nobody can hold the pipeline up from a psql session.
--   upload_job    a job being written or processed; held by the loader's or the worker's
--                 session, so a job whose process died is free again (app.claim_job)
--   ingest        the write phase of jobs, one at a time (transaction)
--   login         one e-mail's login attempts, one after the other (transaction)
--   credit_limit  submits of one store, one after the other (transaction)
--   refresh       the analytics refresh, one at a time (transaction)
--   upselling     association rules and upselling, one writer at a time (transaction): a refresh
--                 takes it after refresh; `mangalm predict` runs them beside the predictions
CREATE FUNCTION app.lock_class(p_name text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  v_class integer := CASE p_name WHEN 'upload_job' THEN 745100 WHEN 'ingest' THEN 745101 WHEN 'login' THEN 745102
                                 WHEN 'credit_limit' THEN 745103 WHEN 'refresh' THEN 745104
                                 WHEN 'upselling' THEN 745105 END;
BEGIN
  IF v_class IS NULL THEN  -- (a NULL class would lock nothing, silently)
    RAISE EXCEPTION 'no advisory lock class is named %', p_name;
  END IF;
  RETURN v_class;
END
$$;
