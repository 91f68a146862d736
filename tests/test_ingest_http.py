"""POST /uploads through nginx and the Python service into the real pipeline: 202 with the job,
its status (read from PostgREST: /api/upload_jobs), the rejects as a safe CSV, 413 over the
limit, 401 without a token, 403 for reps."""
from __future__ import annotations

import csv
import io
import os
import time
import uuid

import httpx
import pytest

# The upload limit of the test stack's service (read from its environment when it starts,
# which is after every test module was imported). 8 MB: far above any other test's upload.
LIMIT = 8 * 1024 * 1024
os.environ.setdefault("MANGALM_UPLOAD_MAX_BYTES", str(LIMIT))

HEAD = "Invoice Date,Invoice Number,Customer ID,Customer Name,Item Name,Quantity,Item Price\n"


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def jobs(base: str, token: str, **params) -> list[dict]:
    """Upload jobs as PostgREST serves them (api.upload_jobs), newest first."""
    r = httpx.get(f"{base}/api/upload_jobs", params={"order": "id.desc", **params}, headers=auth(token), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def wait_for(base: str, token: str, job_id: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [job] = jobs(base, token, id=f"eq.{job_id}")
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    pytest.fail(f"upload job {job_id} did not end in {timeout} s")


@pytest.fixture(scope="module")
def manager(token_for):
    return token_for("manager")


@pytest.fixture
def tag():
    return "H" + uuid.uuid4().hex[:8].upper()


def test_a_manager_uploads_a_csv_and_follows_the_job(gateway_url, manager, tag):
    body = HEAD + "".join(f"2024-07-0{d},{tag}-{d},{tag}-C,Web Store,Item {d},{d},10\n" for d in range(1, 6))
    r = httpx.post(f"{gateway_url}/uploads", params={"filename": "web.csv"}, content=body.encode(),
                   headers={**auth(manager), "Content-Type": "text/csv"}, timeout=60)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running", "succeeded") and job["lines"] == 5 and job["filename"] == "web.csv"
    assert r.headers["location"] == f"/api/upload_jobs?id=eq.{job['id']}" == job["links"]["self"]
    done = wait_for(gateway_url, manager, job["id"])
    assert (done["status"], done["loaded"], done["rejected"], done["new_stores"]) == ("succeeded", 5, 0, 1), done["last_error"]
    assert job["id"] in [j["id"] for j in jobs(gateway_url, manager)]


def test_an_admin_may_upload_multipart(gateway_url, token_for, tag):
    body = HEAD + f"2024-07-10,{tag}-1,{tag}-C,Form Store,Item,1,10\n"
    r = httpx.post(f"{gateway_url}/uploads", files={"file": ("form.csv", body.encode(), "text/csv")},
                   data={"note": "ignored"}, headers=auth(token_for("admin")), timeout=60)
    assert r.status_code == 202, r.text
    done = wait_for(gateway_url, token_for("admin"), r.json()["id"])
    assert (done["status"], done["loaded"], done["filename"]) == ("succeeded", 1, "form.csv")


def test_rejects_csv_neutralises_formulas(gateway_url, manager, tag):
    body = (HEAD
            + f"=1+2,{tag}-1,{tag}-C,Bad Store,Item,1,10\n"
            + f"+2024-07-11,{tag}-2,{tag}-C,Bad Store,Item,1,10\n"
            + f"-1,{tag}-3,{tag}-C,Bad Store,Item,1,10\n"
            + f"@SUM(1),{tag}-4,{tag}-C,Bad Store,Item,1,10\n"
            + f"2024-07-11,{tag}-5,{tag}-C,Good Store,Item,1,10\n")
    r = httpx.post(f"{gateway_url}/uploads", content=body.encode(), headers={**auth(manager), "Content-Type": "text/csv"},
                   timeout=60)
    assert r.status_code == 202, r.text
    done = wait_for(gateway_url, manager, r.json()["id"])
    assert (done["loaded"], done["rejected"]) == (1, 4)
    got = httpx.get(f"{gateway_url}/uploads/{done['id']}/rejects.csv", headers=auth(manager), timeout=30)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(got.text)))
    assert table[0] == ["line", "column", "reason", "raw_line"]
    assert [row[0] for row in table[1:]] == ["2", "3", "4", "5"]
    for row in table[1:]:
        assert row[1] == "Invoice Date"
        assert row[3][0] == "'" and row[3][1] in "=+-@"       # the raw line starts with the formula, neutralised


def test_a_refused_file_answers_422_with_the_reason(gateway_url, manager):
    r = httpx.post(f"{gateway_url}/uploads", content=b"Invoice Date,Customer ID\n2024-01-01,C\n",
                   headers={**auth(manager), "Content-Type": "text/csv"}, timeout=60)
    assert r.status_code == 422
    assert "missing required column" in r.json()["message"] and "Invoice Number" in r.json()["message"]


def test_over_the_limit_is_413(gateway_url, manager, tag):
    line = f"2024-07-12,{tag}-1,{tag}-C,Big Store,{'x' * 200},1,10\n".encode()
    body = HEAD.encode() + line * (LIMIT // len(line) + 10)

    def chunked():                      # no Content-Length: counted while it streams in
        for i in range(0, len(body), 1 << 20):
            yield body[i:i + (1 << 20)]

    before = jobs(gateway_url, manager, limit=1)
    r = httpx.post(f"{gateway_url}/uploads", content=chunked(), headers={**auth(manager), "Content-Type": "text/csv"},
                   timeout=120)
    assert r.status_code == 413, r.text[:300]
    assert "limit" in r.json()["message"]
    # The half-received upload is failed, never processed.
    last = jobs(gateway_url, manager, limit=1)[0]
    if not before or last["id"] != before[0]["id"]:
        assert last["status"] == "failed" and "limit" in last["last_error"]
    # A declared length over the limit is refused before the body is read.
    r = httpx.post(f"{gateway_url}/uploads", content=body, timeout=120,
                   headers={**auth(manager), "Content-Type": "text/csv"})
    assert r.status_code == 413


def test_without_a_token_401_and_for_a_rep_403(gateway_url, token_for):
    body = (HEAD + "2024-07-13,NOPE-1,C,S,I,1,1\n").encode()
    r = httpx.post(f"{gateway_url}/uploads", content=body, headers={"Content-Type": "text/csv"}, timeout=30)
    assert r.status_code == 401
    rep = token_for("sales_rep")
    r = httpx.post(f"{gateway_url}/uploads", content=body, headers={**auth(rep), "Content-Type": "text/csv"}, timeout=30)
    assert r.status_code == 403
    assert httpx.get(f"{gateway_url}/uploads/1/rejects.csv", timeout=30).status_code == 401


def test_an_unknown_job_is_404_and_the_old_read_routes_are_gone(gateway_url, manager):
    assert jobs(gateway_url, manager, id="eq.987654321") == []
    assert httpx.get(f"{gateway_url}/uploads/987654321/rejects.csv", headers=auth(manager), timeout=30).status_code == 404
    # Jobs are read from PostgREST only; the service keeps POST /uploads and the CSV download.
    assert httpx.get(f"{gateway_url}/uploads/1", headers=auth(manager), timeout=30).status_code == 404
    assert httpx.get(f"{gateway_url}/uploads", headers=auth(manager), timeout=30).status_code == 405


def test_gzip_bodies_are_unpacked_while_they_stream_in(gateway_url, manager, tag):
    import gzip

    body = HEAD + "".join(f"2024-07-{1 + d % 28:02d},{tag}-{d // 3},{tag}-C,Gzip Store,Item {d % 9},{1 + d % 4},10\n"
                          for d in range(3000))
    packed = gzip.compress(body.encode())
    # Content-Encoding: gzip on a raw body
    r = httpx.post(f"{gateway_url}/uploads", params={"filename": "sent.csv", "wait": "true"}, content=packed,
                   headers={**auth(manager), "Content-Type": "text/csv", "Content-Encoding": "gzip"}, timeout=120)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["lines"], r.json()["loaded"]) == ("succeeded", 3000, 3000)
    assert r.json()["bytes"] == len(packed)          # counted (and limited) as sent
    # a .gz file in a multipart form: recognised by its bytes
    r = httpx.post(f"{gateway_url}/uploads", files={"file": ("export.csv.gz", packed, "application/gzip")},
                   params={"wait": "true"}, headers=auth(manager), timeout=120)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["loaded"], r.json()["filename"]) == ("succeeded", 3000, "export.csv.gz")


def test_a_damaged_gzip_body_is_422_and_loads_nothing(gateway_url, manager, tag):
    import gzip

    body = HEAD + "".join(f"2024-07-{1 + d % 28:02d},{tag}-{d},{tag}-C,Bad Gzip,Item,1,10\n" for d in range(20000))
    packed = gzip.compress(body.encode(), compresslevel=1)
    cut = packed[: len(packed) * 3 // 4]
    r = httpx.post(f"{gateway_url}/uploads", content=cut, timeout=120,
                   headers={**auth(manager), "Content-Type": "text/csv", "Content-Encoding": "gzip"})
    assert r.status_code == 422, r.text
    assert "not valid gzip" in r.json()["message"]
    last = jobs(gateway_url, manager, limit=1)[0]
    assert last["status"] == "failed" and "gzip" in last["last_error"]
    # Content-Encoding: gzip on a body that is not gzip, and an encoding the service cannot unpack
    r = httpx.post(f"{gateway_url}/uploads", content=body.encode(), timeout=60,
                   headers={**auth(manager), "Content-Type": "text/csv", "Content-Encoding": "gzip"})
    assert r.status_code == 422 and "not gzip" in r.json()["message"]
    r = httpx.post(f"{gateway_url}/uploads", content=body.encode(), timeout=60,
                   headers={**auth(manager), "Content-Type": "text/csv", "Content-Encoding": "br"})
    assert r.status_code == 415
