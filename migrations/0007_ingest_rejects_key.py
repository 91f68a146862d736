"""Set-based key for rejected lines: the foreign key of data.upload_rejects (job_id ->
upload_jobs, ON DELETE CASCADE) gives way to statement-level triggers that enforce the same rule
once per statement instead of once per row (functions/set_based_keys.sql, built by the same
migrate run, as every stateless file).

A job writes all its rejected lines in one statement; the foreign key checked each with a query
and a row lock of the same job: ~0.3 s for the 115,524 rejects of the real export. The index
the rule needs stays: upload_rejects_job_id_idx (job_id, line_no) serves the jobs' side."""
from yoyo import step

__depends__ = {"0006_set_based_keys"}

steps = [
    step("ALTER TABLE data.upload_rejects DROP CONSTRAINT upload_rejects_job_id_fkey",
         "ALTER TABLE data.upload_rejects ADD CONSTRAINT upload_rejects_job_id_fkey"
         " FOREIGN KEY (job_id) REFERENCES data.upload_jobs (id) ON DELETE CASCADE"),
    step("COMMENT ON COLUMN data.upload_rejects.job_id IS"
         " 'The upload job (data.upload_jobs id); checked per statement by a trigger, and the rejects go with their job'",
         "COMMENT ON COLUMN data.upload_rejects.job_id IS NULL"),
]
