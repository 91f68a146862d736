-- Upload jobs are a queue that is a table: workers claim with FOR UPDATE SKIP LOCKED,
-- failed jobs are retried with exponential backoff, finished jobs are kept.
CREATE TABLE data.upload_jobs (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('receiving', 'queued', 'running', 'succeeded', 'failed')),
  filename      text,
  options       jsonb NOT NULL DEFAULT '{}',
  dry_run       boolean NOT NULL DEFAULT false,
  created_by    uuid REFERENCES data.users (id) ON DELETE SET NULL,
  bytes         bigint,
  lines         integer,
  loaded        integer,
  rejected      integer,
  new_stores    integer,
  new_products  integer,
  attempts      integer NOT NULL DEFAULT 0,
  max_attempts  integer NOT NULL DEFAULT 3,
  run_after     timestamptz NOT NULL DEFAULT now(),
  last_error    text,
  locked_by     text,
  started_at    timestamptz,
  finished_at   timestamptz,
  processing_ms integer,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
-- What a worker looks for: runnable jobs, oldest first.
CREATE INDEX upload_jobs_runnable_idx ON data.upload_jobs (run_after) WHERE status = 'queued';
CREATE INDEX upload_jobs_created_by_idx ON data.upload_jobs (created_by);

-- Every line that could not be loaded, with its line number, raw text and a reason.
CREATE TABLE data.upload_rejects (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id      bigint NOT NULL REFERENCES data.upload_jobs (id) ON DELETE CASCADE,
  line_no     integer NOT NULL,
  raw_line    text,
  reason      text NOT NULL,
  column_name text
);
CREATE INDEX upload_rejects_job_id_idx ON data.upload_rejects (job_id, line_no);
