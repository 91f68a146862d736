-- The upload queue: data.upload_jobs is the queue (a queue that is a table).
--
-- Who holds a job is told by a session-level advisory lock on (upload_job, job id), not by a
-- column: the loader holds it while it streams the file in, the worker from the claim until
-- the job is done. A process that dies loses its locks with its connection, so a 'running'
-- (or 'receiving') job whose lock is free belongs to nobody: the next claim picks it up again
-- (or gives it up after max_attempts). The processing itself runs in one transaction
-- (app.process_bulk_upload_complete), so a job whose worker died left no trace but its attempt.

-- Take the next runnable job (or the one named): oldest queued job whose run_after has come,
-- else a job whose worker died. Returns no row when there is nothing to do. The caller's
-- session then holds the job's lock; app.fail_job or app.release_job ends that.
-- Jobs that write data are applied in the order they were created (job id): a job waits while
-- an earlier one is still receiving, queued (also waiting for a retry) or running, so the later
-- upload of an invoice always wins, whichever worker starts first. Dry runs write nothing and
-- neither wait nor make others wait.
CREATE FUNCTION app.claim_job(p_worker text, p_job bigint DEFAULT NULL) RETURNS SETOF data.upload_jobs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_id bigint;
  r record;
BEGIN
  SELECT j.id INTO v_id FROM data.upload_jobs j
  WHERE j.status = 'queued' AND j.run_after <= now() AND (p_job IS NULL OR j.id = p_job)
    AND (j.dry_run OR NOT EXISTS (SELECT FROM data.upload_jobs e
                                  WHERE e.id < j.id AND NOT e.dry_run
                                    AND e.status IN ('receiving', 'queued', 'running')))
  ORDER BY j.id
  LIMIT 1
  FOR UPDATE OF j SKIP LOCKED;
  IF v_id IS NOT NULL AND NOT pg_try_advisory_lock(app.lock_class('upload_job'), v_id::integer) THEN
    v_id := NULL;  -- its loader or previous worker still holds it: not ours yet
  END IF;
  IF v_id IS NULL THEN
    -- Orphans: 'running' jobs whose worker is gone. A live worker holds the row lock (while
    -- processing) and the advisory lock (always), so SKIP LOCKED and the try-lock pass only
    -- jobs nobody holds. There are at most a handful of running jobs: this loop is over jobs,
    -- not data.
    FOR r IN SELECT id, attempts, max_attempts FROM data.upload_jobs
             WHERE status = 'running' AND (p_job IS NULL OR id = p_job)
             ORDER BY id FOR UPDATE SKIP LOCKED LOOP
      CONTINUE WHEN NOT pg_try_advisory_lock(app.lock_class('upload_job'), r.id::integer);
      IF r.attempts >= r.max_attempts THEN
        PERFORM app.fail_job(r.id, 'the worker processing this job stopped (killed or crashed) '
                             || r.attempts || ' times; giving up');
        CONTINUE;
      END IF;
      v_id := r.id;
      EXIT;
    END LOOP;
  END IF;
  IF v_id IS NULL THEN
    RETURN;
  END IF;
  RETURN QUERY
    UPDATE data.upload_jobs
    SET status = 'running', attempts = attempts + 1, locked_by = p_worker, started_at = now(), finished_at = NULL
    WHERE id = v_id
    RETURNING *;
  PERFORM app.publish_event('upload_progress', jsonb_build_object('job_id', v_id,
    'phase', 'processing', 'lines', (SELECT lines FROM data.upload_jobs WHERE id = v_id), 'percent', 0));
END
$$;

-- Record a failed attempt: the job goes back to the queue with exponential backoff
-- (2 s x 2^attempts; data.settings 'ingest_retry_base_seconds' changes the 2 s), or fails for
-- good after max_attempts (its staging table is dropped then). Releases the job's lock.
CREATE FUNCTION app.fail_job(p_job bigint, p_error text) RETURNS data.upload_jobs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  j data.upload_jobs;
  v_base numeric := coalesce((SELECT (value #>> '{}')::numeric FROM data.settings
                              WHERE key = 'ingest_retry_base_seconds'), 2);
BEGIN
  UPDATE data.upload_jobs
  SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
      run_after = now() + power(2, attempts) * make_interval(secs => v_base),
      last_error = left(p_error, 4000), locked_by = NULL,
      finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
      message = CASE WHEN attempts >= max_attempts
                     THEN format('failed after %s attempts: %s', attempts, left(p_error, 500))
                     ELSE format('attempt %s of %s failed, retrying: %s', attempts, max_attempts, left(p_error, 500)) END
  WHERE id = p_job
  RETURNING * INTO j;
  IF j.status = 'failed' THEN
    IF j.staging_table IS NOT NULL THEN
      EXECUTE format('DROP TABLE IF EXISTS staging.%I', j.staging_table);
    END IF;
    PERFORM app.publish_event('upload_finished', jsonb_build_object('job_id', p_job, 'status', 'failed',
      'lines', j.lines, 'loaded', 0, 'rejected', 0, 'new_stores', 0, 'new_products', 0, 'error', left(p_error, 500)));
  ELSE
    PERFORM pg_notify('mangalm_jobs', p_job::text);
  END IF;
  PERFORM app.release_job(p_job);
  RETURN j;
END
$$;

-- Let go of a job's lock (if this session holds it); true when it did. Workers call it once
-- the job's processing transaction has committed.
CREATE FUNCTION app.release_job(p_job bigint) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT CASE WHEN EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
                                  AND classid = app.lock_class('upload_job')::oid AND objid = p_job::integer::oid AND objsubid = 2)
              THEN pg_advisory_unlock(app.lock_class('upload_job'), p_job::integer) ELSE false END
$$;

-- Uploads whose loader went away mid-file (its connection ended without app.finish_upload):
-- failed, their staging tables dropped. Returns how many. Workers call it now and then.
CREATE FUNCTION app.expire_abandoned_uploads() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  r record;
  n integer := 0;
BEGIN
  FOR r IN SELECT id FROM data.upload_jobs WHERE status = 'receiving' ORDER BY id FOR UPDATE SKIP LOCKED LOOP
    CONTINUE WHEN NOT pg_try_advisory_lock(app.lock_class('upload_job'), r.id::integer);
    PERFORM app.abandon_upload(r.id, 'the upload was interrupted before the whole file arrived; upload it again');
    n := n + 1;
  END LOOP;
  RETURN n;
END
$$;
