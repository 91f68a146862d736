-- Upload jobs are a queue that is a table: workers claim with FOR UPDATE SKIP LOCKED,
-- failed jobs are retried with exponential backoff, finished jobs are kept.
--
-- Life of a job: 'receiving' (the loader streams the file into staging.upload_<id> with COPY)
-- -> 'queued' -> 'running' (a worker holds it; see functions/jobs.sql) -> 'succeeded', or back
-- to 'queued' with a later run_after after a failure, until max_attempts, then 'failed'.
CREATE TABLE data.upload_jobs (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('receiving', 'queued', 'running', 'succeeded', 'failed')),
  filename      text,
  -- encoding, date_order, delimiter, map: what the loader was told and what it detected.
  options       jsonb NOT NULL DEFAULT '{}',
  dry_run       boolean NOT NULL DEFAULT false,
  -- Where the upload came from: cli, http, demo, bench, test.
  source        text NOT NULL DEFAULT 'cli',
  created_by    uuid REFERENCES data.users (id) ON DELETE SET NULL,
  -- The file's header and how each column is read: {"headers": [...], "fields":
  -- {"invoice_date": 1, ...}, "extra": [{"header": "Route", "col": 42}]} (col = staging column c<n>).
  columns       jsonb NOT NULL DEFAULT '{}',
  staging_table text,
  bytes         bigint,
  -- Data lines of the file (records; a quoted field may span physical lines). Always
  -- lines = loaded + rejected once the job has succeeded.
  lines         integer,
  loaded        integer,
  rejected      integer,
  new_stores    integer,
  new_products  integer,
  -- Blank lines and lines before the header: not data, counted for the report only.
  skipped_lines integer NOT NULL DEFAULT 0,
  sha256        text,
  attempts      integer NOT NULL DEFAULT 0,
  max_attempts  integer NOT NULL DEFAULT 3,
  run_after     timestamptz NOT NULL DEFAULT now(),
  last_error    text,
  locked_by     text,
  message       text,
  -- Milliseconds per phase of the processing, and which path (bulk or incremental) ran.
  timings       jsonb NOT NULL DEFAULT '{}',
  received_at   timestamptz,
  started_at    timestamptz,
  finished_at   timestamptz,
  processing_ms integer,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
-- What a worker looks for: runnable jobs, oldest first.
CREATE INDEX upload_jobs_runnable_idx ON data.upload_jobs (run_after) WHERE status = 'queued';
-- Jobs a worker holds, or held when it died (see app.claim_job).
CREATE INDEX upload_jobs_running_idx ON data.upload_jobs (id) WHERE status IN ('running', 'receiving');
CREATE INDEX upload_jobs_created_by_idx ON data.upload_jobs (created_by);
CREATE INDEX upload_jobs_sha256_idx ON data.upload_jobs (sha256) WHERE status = 'succeeded';

-- Every line that could not be loaded, with its line number, raw text and a reason.
CREATE TABLE data.upload_rejects (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id      bigint NOT NULL REFERENCES data.upload_jobs (id) ON DELETE CASCADE,
  -- The physical line of the file where the record starts (the header is line 1).
  line_no     integer NOT NULL,
  raw_line    text,
  reason      text NOT NULL,
  -- The file's header of the column at fault, when one column is.
  column_name text
);
CREATE INDEX upload_rejects_job_id_idx ON data.upload_rejects (job_id, line_no);
