"""mangalm load / jobs / rejects against a test database (DATABASE_URL)."""
from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from gateway import logs
from gateway.spreadsheet import neutralize
from cli.main import cli
from ingest_helpers import FIXTURES, rows


@pytest.fixture
def run(db_url):
    def invoke(*args):
        runner = CliRunner()
        return runner.invoke(cli, list(args), env={"DATABASE_URL": db_url}, catch_exceptions=False)
    return invoke


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_load_wait_json_prints_the_job_as_the_last_line(run):
    result = run("load", str(FIXTURES / "special_lines.csv"), "--wait", "--json")
    assert result.exit_code == 0, result.output
    job = last_json(result.stdout)
    assert {"job_id", "status", "lines", "loaded", "rejected", "seconds", "message", "new_stores",
            "new_products"} <= set(job)
    assert (job["status"], job["lines"], job["loaded"], job["rejected"]) == ("succeeded", 6, 6, 0)
    assert isinstance(job["seconds"], float) and job["seconds"] > 0


def test_load_prints_a_summary(run):
    result = run("load", str(FIXTURES / "bad_number.csv"), "--wait")
    assert result.exit_code == 0, result.output
    assert "2 lines, 1 loaded, 1 rejected" in result.stdout
    assert "mangalm rejects" in result.stdout
    # The job ran in this process, but its event lines are the service log's, not this output.
    assert "PROCESSING_COMPLETE" not in result.output and "BULK_UPLOAD_START" not in result.output


def test_job_events_are_json_lines_that_a_command_can_quiet(capsys):
    logs.log_event("BULK_UPLOAD_START", job_id=7, lines=2)
    with logs.quiet_events():
        logs.log_event("PROCESSING_COMPLETE", job_id=7)
    logs.log_event("PROCESSING_FAILED", job_id=8)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["event"], e["job_id"]) for e in lines] == [("BULK_UPLOAD_START", 7), ("PROCESSING_FAILED", 8)]
    assert lines[0]["lines"] == 2 and lines[0]["ts"].endswith("+00:00")


def test_a_refused_file_exits_non_zero_with_the_reason_on_stderr(run, conn):
    before = rows(conn, "SELECT count(*) AS n FROM data.upload_jobs")[0]["n"]
    result = run("load", str(FIXTURES / "missing_quantity.csv"), "--wait", "--json")
    assert result.exit_code != 0
    assert "missing required column: Quantity" in result.stderr
    assert last_json(result.stdout)["status"] == "refused"
    assert rows(conn, "SELECT count(*) AS n FROM data.upload_jobs")[0]["n"] == before


def test_several_files_one_refused(run):
    result = run("load", str(FIXTURES / "missing_quantity.csv"), str(FIXTURES / "twins.csv"), "--wait", "--json")
    assert result.exit_code == 1
    jobs = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [j["status"] for j in jobs] == ["refused", "succeeded"]


def test_options_encoding_date_order_and_map(run, conn):
    result = run("load", str(FIXTURES / "latin1.csv"), "--encoding", "latin-1", "--wait", "--json")
    assert last_json(result.stdout)["loaded"] == 1
    result = run("load", str(FIXTURES / "slashed_dates.csv"), "--date-order", "mdy", "--wait", "--json")
    assert (last_json(result.stdout)["loaded"], last_json(result.stdout)["rejected"]) == (1, 1)
    result = run("load", str(FIXTURES / "mapped.csv"), "--map", str(FIXTURES / "map.json"), "--wait", "--json")
    assert last_json(result.stdout)["loaded"] == 1


def test_dry_run(run, conn):
    result = run("load", str(FIXTURES / "void.csv"), "--dry-run", "--json")
    job = last_json(result.stdout)
    assert (job["status"], job["dry_run"], job["loaded"]) == ("succeeded", True, 3)
    assert rows(conn, "SELECT count(*) AS n FROM data.orders WHERE invoice_number LIKE 'FX-V-%'")[0]["n"] == 0


def test_without_wait_the_job_is_queued_for_a_worker(run, db_url):
    result = run("load", str(FIXTURES / "bom.csv"), "--json")
    job = last_json(result.stdout)
    assert job["status"] == "queued"
    from gateway import worker
    with worker.connect(db_url) as conn:
        assert worker.drain(conn, "test") >= 1
        status = conn.execute("SELECT status FROM data.upload_jobs WHERE id = %s", (job["job_id"],)).fetchone()[0]
    assert status == "succeeded"


def test_jobs_lists_recent_jobs(run):
    run("load", str(FIXTURES / "twins.csv"), "--wait", "--quiet")
    result = run("jobs", "--json")
    jobs = json.loads(result.stdout)
    assert jobs and jobs[0]["file"] == "twins.csv" and jobs[0]["status"] == "succeeded"
    table = run("jobs")
    assert "twins.csv" in table.stdout and "succeeded" in table.stdout


def test_rejects_writes_a_csv_with_formulas_neutralised(run, tmp_path):
    text = ("Invoice Date,Invoice Number,Customer ID,Item Name,Quantity,Item Price\n"
            "=1+1,FX-CLI-1,C,Thing,1,10\n"
            "@x,FX-CLI-2,C,Thing,1,10\n"
            "2024-08-01,FX-CLI-3,C,Thing,-x,10\n")
    path = tmp_path / "formulas.csv"
    path.write_text(text)
    job = last_json(run("load", str(path), "--wait", "--json").stdout)
    assert job["rejected"] == 3
    out = tmp_path / "rejects.csv"
    result = run("rejects", str(job["job_id"]), "-o", str(out))
    assert result.exit_code == 0
    table = list(csv.reader(io.StringIO(out.read_text())))
    assert table[0] == ["line", "column", "reason", "raw_line"]
    assert [r[3][:3] for r in table[1:]] == ["'=1", "'@x", "202"]
    assert table[3][1] == "Quantity" and table[3][2] == 'Quantity: "-x" is not a number'
    stdout = run("rejects", str(job["job_id"])).stdout
    assert stdout.startswith("line,column,reason,raw_line")
    assert run("rejects", "999999").exit_code != 0


@pytest.mark.parametrize("cell,safe", [("=SUM(A1)", "'=SUM(A1)"), ("+1", "'+1"), ("-2", "'-2"), ("@A", "'@A"),
                                       ("\tx", "'\tx"), ("plain", "plain"), (None, "")])
def test_neutralize(cell, safe):
    assert neutralize(cell) == safe


GZ_HEAD = "Invoice Date,Invoice Number,Customer ID,Customer Name,Item Name,Quantity,Item Price,Item Tax %\n"


def gz_lines(tag: str, n: int) -> str:
    return GZ_HEAD + "".join(f"2024-09-{1 + i % 28:02d},{tag}-{i // 4},{tag}-C{i % 7},Gzip Store {i % 7},"
                             f"Item {i % 13},{1 + i % 5},{10 + i % 3},5\n" for i in range(n))


def test_a_gzip_file_loads_like_the_plain_one_with_phase_timings(run, conn, db_url, tmp_path):
    import gzip

    text = gz_lines("FX-GZ", 40_000)
    half = text.index("\n", len(text) // 2) + 1
    path = tmp_path / "export.csv.gz"
    # Two gzip members (as `cat a.gz b.gz` makes), both highly compressible: one block of input
    # unpacks to many blocks of output.
    path.write_bytes(gzip.compress(text[:half].encode()) + gzip.compress(text[half:].encode()))
    assert path.stat().st_size < len(text) / 5
    job = last_json(run("load", str(path), "--wait", "--json").stdout)
    assert (job["status"], job["lines"], job["loaded"], job["rejected"]) == ("succeeded", 40_000, 40_000, 0)
    assert rows(conn, "SELECT count(*) AS n FROM data.mangalam_invoices WHERE invoice_number LIKE 'FX-GZ-%'")[0]["n"] == 40_000
    # The job's phases: receive (COPY), the job in the database, and the analytics refresh inside it.
    assert job["receive_seconds"] > 0 and job["job_seconds"] > 0
    assert isinstance(job["refresh_seconds"], float) and 0 <= job["refresh_seconds"] <= job["job_seconds"]
    dry = last_json(run("load", str(path), "--dry-run", "--json").stdout)
    assert dry["loaded"] == 40_000 and dry["refresh_seconds"] is None and dry["job_seconds"] > 0
    queued = last_json(run("load", str(FIXTURES / "twins.csv"), "--json").stdout)
    assert queued["status"] == "queued" and queued["receive_seconds"] > 0 and queued["job_seconds"] is None
    from gateway import worker
    with worker.connect(db_url) as wconn:
        worker.drain(wconn, "test")


@pytest.mark.parametrize("damage", ["cut", "flipped"])
def test_a_damaged_gzip_file_is_refused_and_nothing_is_loaded(run, conn, tmp_path, damage):
    import gzip

    tag = f"FX-GZBAD-{damage.upper()}"
    data = bytearray(gzip.compress(gz_lines(tag, 20_000).encode(), compresslevel=1))
    if damage == "cut":
        data = data[: len(data) * 2 // 3]
    else:
        for i in range(len(data) // 2, len(data) // 2 + 64):
            data[i] ^= 0x5A
    path = tmp_path / f"{damage}.csv.gz"
    path.write_bytes(bytes(data))
    before = rows(conn, "SELECT count(*) AS n FROM data.upload_jobs WHERE status <> 'failed'")[0]["n"]
    result = run("load", str(path), "--wait", "--json")
    assert result.exit_code != 0
    assert "not valid gzip" in result.stderr and "gzip -t" in result.stderr
    assert last_json(result.stdout)["status"] in ("refused", "failed")
    assert rows(conn, "SELECT count(*) AS n FROM data.mangalam_invoices WHERE invoice_number LIKE %s", tag + "-%")[0]["n"] == 0
    assert rows(conn, "SELECT count(*) AS n FROM data.upload_jobs WHERE status <> 'failed'")[0]["n"] == before
    staged = rows(conn, "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'staging'")[0]["n"]
    assert staged == 0


def test_a_percent_sign_in_a_header_rejects_only_the_bad_line(run, conn, tmp_path):
    """The export's own `Item Tax %` column: a value that is no number rejects its line, naming
    the column, like any other number column (and a `%` in a date column's header too)."""
    text = ("Invoice Date %,Invoice Number,Customer ID,Item Name,Quantity,Item Price,Item Tax %\n"
            "2024-08-01,FX-PCT-1,FX-PCT-C,Thing,1,10,12\n"
            "2024-08-01,FX-PCT-2,FX-PCT-C,Thing,1,10,abc%s\n"
            "2024-08-01,FX-PCT-3,FX-PCT-C,Thing,1,10,18 %\n"
            "2024-02-30,FX-PCT-4,FX-PCT-C,Thing,1,10,5\n")
    path = tmp_path / "pct.csv"
    path.write_text(text)
    result = run("load", str(path), "--wait", "--json", "--map", str(write_map(tmp_path)))
    job = last_json(result.stdout)
    assert (job["status"], job["lines"], job["loaded"], job["rejected"]) == ("succeeded", 4, 2, 2), job
    got = rows(conn, "SELECT line_no, column_name, reason FROM data.upload_rejects WHERE job_id = %s ORDER BY line_no",
               job["job_id"])
    assert got[0] == {"line_no": 3, "column_name": "Item Tax %", "reason": 'Item Tax %: "abc%s" is not a number'}
    assert got[1]["line_no"] == 5 and got[1]["column_name"] == "Invoice Date %"
    assert got[1]["reason"].startswith('Invoice Date %: "2024-02-30" is not a valid date')
    taxes = rows(conn, "SELECT invoice_number, item_tax_pct FROM data.mangalam_invoices "
                       "WHERE invoice_number LIKE 'FX-PCT-%%' ORDER BY 1")
    assert [(t["invoice_number"], float(t["item_tax_pct"])) for t in taxes] == [("FX-PCT-1", 12.0), ("FX-PCT-3", 18.0)]


def write_map(tmp_path):
    path = tmp_path / "pct-map.json"
    path.write_text(json.dumps({"Invoice Date %": "Invoice Date"}))
    return path
