"""mangalm load / jobs / rejects against a test database (DATABASE_URL)."""
from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from cli.ingest import neutralize
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
