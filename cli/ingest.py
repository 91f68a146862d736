"""mangalm load / jobs / rejects: invoice-line exports into the database, and what became of them."""
from __future__ import annotations

import csv
import io
import json
import sys
import time
from pathlib import Path

import click
import psycopg

from gateway import loader, logs, worker
from gateway.db import connect
from gateway.spreadsheet import neutralize

from .common import friendly_errors, settings

def rejects_csv(rows, out) -> int:
    """Write rejected lines as CSV (line, column, reason, raw line), neutralised; returns how many."""
    writer = csv.writer(out)
    writer.writerow(["line", "column", "reason", "raw_line"])
    n = 0
    for line_no, column, reason, raw in rows:
        writer.writerow([line_no, neutralize(column), neutralize(reason), neutralize(raw)])
        n += 1
    return n


class _Progress:
    """Bytes and lines per second on stderr, redrawn at most 5 times a second; silent when
    stderr is not a terminal or with --quiet."""

    def __init__(self, name: str, enabled: bool):
        self.name = name
        self.enabled = enabled
        self.started = time.monotonic()
        self.last = 0.0
        self.drawn = False

    def __call__(self, done: int, total: int | None, lines: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2 and (total is None or done < total):
            return
        self.last = now
        elapsed = max(now - self.started, 1e-6)
        mb = done / 1e6
        pct = f" {100 * done / total:5.1f} %" if total else ""
        of = f" / {total / 1e6:,.1f}" if total else ""
        click.echo(f"\r  {self.name}: {mb:,.1f}{of} MB{pct}  {lines:,} lines  "
                   f"{lines / elapsed:,.0f} lines/s  {mb / elapsed:,.1f} MB/s ", err=True, nl=False)
        self.drawn = True

    def done(self) -> None:
        if self.drawn:
            click.echo("", err=True)


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _summary(path: str, row: dict, received: loader.Received) -> dict:
    """The job as `--json` prints it, with its phases: receive (the file streamed in with COPY,
    measured here), job (its transaction in the database) and, within the job, refresh (the
    analytics recomputed for the touched stores; null when none ran, as in a dry run)."""
    seconds = round((row.get("processing_ms") or 0) / 1000, 3)
    timings = row.get("timings") or {}
    refresh = timings.get("refresh")
    return {"file": path, "job_id": row["id"], "status": row["status"], "dry_run": row["dry_run"],
            "lines": row["lines"], "loaded": row["loaded"], "rejected": row["rejected"],
            "new_stores": row["new_stores"], "new_products": row["new_products"], "seconds": seconds,
            "receive_seconds": round(received.seconds, 3),
            "job_seconds": seconds if row.get("processing_ms") is not None else None,
            "refresh_seconds": round(refresh / 1000, 3) if isinstance(refresh, (int, float)) else None,
            "message": row["message"] or row["last_error"] or "", "skipped_lines": row["skipped_lines"]}


@click.command("load")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--wait", is_flag=True,
              help="Return when the job has ended; processes it here when no worker is running.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object per file (the last line of stdout) for scripts.")
@click.option("--dry-run", is_flag=True,
              help="Check the file the same way and report, but write no data (implies --wait).")
@click.option("--encoding", default="utf-8", show_default=True,
              help="Encoding of the file (utf-8 with or without BOM, cp1252, latin-1, utf-16, ...).")
@click.option("--date-order", type=click.Choice(["dmy", "mdy"]), default="dmy", show_default=True,
              help="How to read dates like 03/04/2024: day first (dmy) or month first (mdy). ISO dates always work.")
@click.option("--map", "map_file", type=click.Path(exists=True, dir_okay=False),
              help="Header map: JSON {\"their header\": \"our header\"} or CSV lines `their header,our header`.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary (errors only).")
@friendly_errors
def load(files, wait, as_json, dry_run, encoding, date_order, map_file, quiet):
    """Load invoice-line CSV exports (Zoho Books layout, or mapped) into the database.

    Each file (CSV, or CSV compressed with gzip: FILE.csv.gz) becomes an upload job: it is
    streamed into PostgreSQL with COPY, unpacked on the way for gzip, then validated
    and loaded into every table in one transaction. Lines that cannot be loaded are kept as
    rejects with their line number and reason (see `mangalm rejects JOB`); loading the same
    file again changes nothing, and a corrected invoice replaces its earlier lines.

    \b
    Examples:
      mangalm load export.csv --wait
      mangalm load export.csv.gz --wait --json
      mangalm load march.csv --date-order mdy --map headers.json --dry-run
    """
    s = settings()
    user_map = loader.read_map_file(map_file) if map_file else None
    url = s.app_url
    connect(s).close()  # a clear error now if the database is not reachable
    wait = wait or dry_run
    show = not quiet and not as_json
    failures = 0
    for path in files:
        progress = _Progress(Path(path).name, show and sys.stderr.isatty())
        opts = loader.LoadOptions(encoding=encoding, date_order=date_order, user_map=user_map,
                                  dry_run=dry_run, source="cli", progress=progress)
        try:
            received = loader.load_file(url, path, opts)
        except psycopg.Error as e:
            progress.done()
            failures += 1
            message = (f"the database connection was lost while the file was being received "
                       f"({_first_line(e)}); nothing was loaded: load the file again")
            if worker.is_disk_full(e):  # not a lost connection: say what it is
                message = worker.describe_error(e)
            click.echo(f"Error: {path}: {message}", err=True)
            if as_json:
                click.echo(json.dumps({"file": path, "job_id": None, "status": "failed", "lines": 0, "loaded": 0,
                                       "rejected": 0, "seconds": 0, "message": message}))
            continue
        except loader.LoadRefused as e:
            progress.done()
            failures += 1
            click.echo(f"Error: {path}: {e}", err=True)
            if as_json:
                click.echo(json.dumps({"file": path, "job_id": None, "status": "refused", "lines": 0,
                                       "loaded": 0, "rejected": 0, "seconds": 0, "message": str(e)}))
            continue
        progress.done()
        if not wait:
            result = {"file": path, "job_id": received.job_id, "status": "queued", "lines": received.lines,
                      "loaded": None, "rejected": None, "seconds": None, "new_stores": None, "new_products": None,
                      "receive_seconds": round(received.seconds, 3), "job_seconds": None, "refresh_seconds": None,
                      "message": f"queued as job {received.job_id}; a worker (`mangalm up`) processes it"}
            if as_json:
                click.echo(json.dumps(result))
            elif not quiet:
                click.echo(f"{path}: {received.lines:,} lines received in {received.seconds:.1f} s; "
                           f"queued as job {received.job_id} (follow it with `mangalm jobs`).")
            continue
        if show:
            click.echo(f"  {Path(path).name}: processing {received.lines:,} lines in the database ...", err=True)
        try:
            with logs.quiet_events():  # the job's lines are for the service's log, not this output
                row = worker.process_job(s, received.job_id)
        except psycopg.Error as e:
            failures += 1
            message = (f"the database connection was lost while job {received.job_id} was processed "
                       f"({_first_line(e)}); nothing of it was written. It is retried by the next worker "
                       "(`mangalm up`), or load the file again")
            click.echo(f"Error: {path}: {message}", err=True)
            if as_json:
                click.echo(json.dumps({"file": path, "job_id": received.job_id, "status": "failed",
                                       "lines": received.lines, "loaded": 0, "rejected": 0, "seconds": 0,
                                       "message": message}))
            continue
        result = _summary(path, row, received)
        if row["status"] != "succeeded":
            failures += 1
        if as_json:
            click.echo(json.dumps(result, default=str))
        elif not quiet:
            if row["status"] == "succeeded":
                lead = "dry run (nothing written): " if row["dry_run"] else ""
                click.echo(f"{path}: {lead}{row['lines']:,} lines, {row['loaded']:,} loaded, {row['rejected']:,} "
                           f"rejected; {row['new_stores']:,} new stores, {row['new_products']:,} new products; "
                           f"{result['seconds']:.2f} s in the database (job {row['id']}).")
                if row["rejected"]:
                    click.echo(f"  See the rejected lines with: mangalm rejects {row['id']}")
                if received.skipped:
                    click.echo(f"  {received.skipped:,} blank or preamble line(s) skipped.")
            else:
                click.echo(f"Error: {path}: job {row['id']} {row['status']}: {row['last_error']}", err=True)
    if failures:
        sys.exit(1)


@click.command("jobs")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many jobs to list.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (for scripts).")
@friendly_errors
def jobs(limit, as_json):
    """List recent upload jobs: status, lines, loaded, rejected, time in the database."""
    # Read through api.upload_jobs, like the dashboard: grants and row-level security decide.
    with connect(settings()) as conn:
        cur = conn.execute(
            "SELECT id, status, filename, dry_run, lines, loaded, rejected, new_stores, new_products, attempts, "
            "processing_ms, created_at, coalesce(message, last_error) FROM api.upload_jobs ORDER BY id DESC LIMIT %s",
            (limit,))
        rows = cur.fetchall()
    keys = ["job_id", "status", "file", "dry_run", "lines", "loaded", "rejected", "new_stores", "new_products",
            "attempts", "processing_ms", "created_at", "message"]
    if as_json:
        click.echo(json.dumps([dict(zip(keys, r)) for r in rows], default=str))
        return
    if not rows:
        click.echo("No upload jobs yet; load a file with `mangalm load FILE --wait`.")
        return
    click.echo(f"{'job':>5}  {'status':<10} {'lines':>9} {'loaded':>9} {'rejected':>8} {'db s':>6}  {'when':<16}  file")
    for r in rows:
        def num(v):
            return f"{v:,}" if v is not None else "-"
        secs = f"{r[10] / 1000:.2f}" if r[10] is not None else "-"
        status = r[1] + (" (dry)" if r[3] else "")
        click.echo(f"{r[0]:>5}  {status:<10} {num(r[4]):>9} {num(r[5]):>9} {num(r[6]):>8} {secs:>6}  "
                   f"{r[11]:%Y-%m-%d %H:%M}  {r[2] or ''}")


@click.command("rejects")
@click.argument("job", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              show_default=True, help="CSV file to write ('-' for standard output).")
@friendly_errors
def rejects(job, output):
    """Write the rejected lines of upload job JOB as CSV: line, column, reason, raw line.

    Cells that a spreadsheet would run as a formula (starting with = + - @) are written with a
    leading apostrophe, so opening the file is safe.
    """
    # Through the api views, like every other reader: grants and row-level security decide.
    with connect(settings()) as conn:
        if conn.execute("SELECT 1 FROM api.upload_jobs WHERE id = %s", (job,)).fetchone() is None:
            raise click.ClickException(f"there is no upload job {job}; list them with `mangalm jobs`")
        rows = conn.execute("SELECT line_no, column_name, reason, raw_line FROM api.upload_rejects "
                            "WHERE job_id = %s ORDER BY line_no, id", (job,)).fetchall()
    if output == "-":
        buf = io.StringIO(newline="")
        rejects_csv(rows, buf)
        click.echo(buf.getvalue(), nl=False)
    else:
        with open(output, "w", encoding="utf-8", newline="") as f:
            n = rejects_csv(rows, f)
        click.echo(f"wrote {n:,} rejected line(s) to {output}", err=True)
