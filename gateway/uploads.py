"""POST /uploads (and GET /uploads/{id}/rejects.csv, the spreadsheet-safe download).

A manager or admin posts a CSV export, as the raw body (text/csv) or as a multipart form (the
first file part); it is streamed through the same loader `mangalm load` uses (gateway/loader.py)
straight into the job's staging table while it arrives, so memory stays constant whatever the
file size. The answer is 202 with the job; a worker (gateway/worker.py, in this service)
processes it, and GET /api/upload_jobs?id=eq.N (PostgREST) tells how it went. An upload larger
than MANGALM_UPLOAD_MAX_BYTES (default 1 GiB, counted as sent: compressed for gzip) is refused
with 413. A gzip body (Content-Encoding: gzip, or a gzip file such as `export.csv.gz`) is
unpacked while it streams in, a block at a time.

Add `?wait=true` to answer only once the job has ended (200), e.g. for scripts.

Reading jobs and rejected lines is PostgREST's (api.upload_jobs, api.upload_rejects: row-level
security decides who sees what). The one read kept here is the CSV of a job's rejected lines,
because every CSV we write neutralises formula cells (gateway.spreadsheet.neutralize) and
PostgREST's text/csv output would not: it reads api.upload_rejects as the caller (their role
and claims, inside a transaction), so the database, not this file, decides who may read it.
"""
from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import queue
import threading
import uuid

import psycopg
from psycopg import sql as psql
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import loader, worker
from .auth import authenticate
from .http_errors import HttpError, json_errors
from .db import aconnect
from .logs import log_event
from .spreadsheet import neutralize

UPLOAD_ROLES = ("manager", "admin")
DEFAULT_MAX_BYTES = 1 << 30


def max_bytes() -> int:
    value = os.environ.get("MANGALM_UPLOAD_MAX_BYTES", "")
    try:
        return int(value) if value else DEFAULT_MAX_BYTES
    except ValueError:
        return DEFAULT_MAX_BYTES


async def _uploader(request: Request) -> dict:
    # Who may upload is still decided here, before the body streams in: the pipeline's
    # functions (app.begin_upload, ...) run as the service's login and know no caller yet.
    # Reading what was uploaded is the database's decision (_as_caller below).
    claims = await authenticate(request)
    if claims.get("role") not in UPLOAD_ROLES:
        raise HttpError(403, "FORBIDDEN", "only managers and admins may upload",
                        hint="log in as a manager or an admin")
    return claims


def _job_json(row: dict) -> dict:
    out = {k: (v.isoformat() if hasattr(v, "isoformat") else str(v) if isinstance(v, uuid.UUID) else v)
           for k, v in row.items()}
    out["seconds"] = round((row.get("processing_ms") or 0) / 1000, 3) if row.get("processing_ms") is not None else None
    out["job_id"] = row["id"]
    out["links"] = {"self": _job_url(row["id"]), "rejects": f"/uploads/{row['id']}/rejects.csv"}
    return out


def _job_url(job_id: int) -> str:
    return f"/api/upload_jobs?id=eq.{job_id}"


@contextlib.asynccontextmanager
async def _as_caller(settings, claims: dict):
    """A transaction that runs as the token's role with its claims, as PostgREST would: the
    grants and row-level security of the api views decide what it reads. It logs in as
    PostgREST does, as `authenticator`, the one login allowed to become an API role (the
    application's own login may not)."""
    async with await aconnect(settings, url=settings.authenticator_url) as conn:
        async with conn.transaction():
            await conn.execute(psql.SQL("SET LOCAL ROLE {}").format(psql.Identifier(claims["role"])))
            public = {k: v for k, v in claims.items() if not k.startswith("_")}
            await conn.execute("SELECT set_config('request.jwt.claims', %s, true)", (json.dumps(public),))
            yield conn


async def _fetch_job(settings, claims: dict, job_id: int) -> dict | None:
    async with _as_caller(settings, claims) as conn:
        cur = await conn.execute("SELECT * FROM api.upload_jobs WHERE id = %s", (job_id,))
        row = await cur.fetchone()
        if row is None:
            return None
        return dict(zip([c.name for c in cur.description], row))


class _Pipe(io.RawIOBase):
    """A file the loader reads in its thread while the request body arrives in the event loop."""

    def __init__(self):
        self.chunks: queue.Queue = queue.Queue(maxsize=32)
        self.pending = b""
        self.closed_for_writing = False
        self.failed: BaseException | None = None

    def readable(self) -> bool:
        return True

    def put(self, chunk, stop: threading.Event) -> bool:
        """Hand a chunk over (None: the end; an exception: abort); False when the loader stopped."""
        while not stop.is_set():
            try:
                self.chunks.put(chunk, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def read(self, n: int = -1) -> bytes:
        while not self.pending:
            chunk = self.chunks.get()
            if chunk is None:
                self.chunks.put(None)   # stay at the end for later reads
                return b""
            if isinstance(chunk, BaseException):
                raise chunk             # the upload went wrong: the loader abandons the job
            self.pending = chunk
        if n is None or n < 0 or n >= len(self.pending):
            data, self.pending = self.pending, b""
        else:
            data, self.pending = self.pending[:n], self.pending[n:]
        return data


class _FirstFilePart:
    """Streams the first file part of a multipart body into a pipe (python-multipart's parser)."""

    def __init__(self, boundary: bytes, sink):
        from python_multipart import MultipartParser

        self.sink = sink
        self.headers: dict[bytes, bytes] = {}
        self.field = b""
        self.value = b""
        self.in_file = False
        self.done = False
        self.filename: str | None = None
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_header_field": self._hfield, "on_header_value": self._hvalue,
            "on_header_end": self._hend, "on_headers_finished": self._headers_done,
            "on_part_data": self._data, "on_part_end": self._end})

    def _begin(self):
        self.headers = {}
        self.in_file = False

    def _hfield(self, data, start, end):
        self.field += data[start:end]

    def _hvalue(self, data, start, end):
        self.value += data[start:end]

    def _hend(self):
        self.headers[self.field.lower()] = self.value
        self.field, self.value = b"", b""

    def _headers_done(self):
        from python_multipart.multipart import parse_options_header

        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        if not self.done and b"filename" in params:
            self.in_file = True
            self.filename = params[b"filename"].decode("utf-8", "replace")

    def _data(self, data, start, end):
        if self.in_file:
            self.sink(bytes(data[start:end]))

    def _end(self):
        if self.in_file:
            self.in_file = False
            self.done = True

    def write(self, chunk: bytes) -> None:
        self.parser.write(chunk)


@json_errors
async def create_upload(request: Request) -> Response:
    claims = await _uploader(request)
    settings = request.app.state.settings
    limit = max_bytes()
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise HttpError(413, "TOO_LARGE", f"the upload is {int(length):,} bytes; the limit is {limit:,} bytes",
                        hint="split the file, or raise MANGALM_UPLOAD_MAX_BYTES")
    params = request.query_params
    content_type = request.headers.get("content-type", "")
    multipart = content_type.startswith("multipart/form-data")
    filename = params.get("filename") or request.headers.get("x-filename")
    try:
        created_by = str(uuid.UUID(str(claims.get("sub")))) if claims.get("sub") else None
    except ValueError:
        created_by = None
    opts = loader.LoadOptions(
        encoding=params.get("encoding", "utf-8"),
        date_order="mdy" if params.get("date_order") == "mdy" else "dmy",
        dry_run=params.get("dry_run", "").lower() in ("1", "true", "yes"),
        source="http", filename=filename, created_by=created_by, streams=1, max_bytes=limit)
    # A gzip body (Content-Encoding: gzip) is unpacked by the loader while it streams in; a
    # `.gz` file is recognised by its first bytes whatever the header says.
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        opts.compression = "gzip"
    elif encoding not in ("", "identity"):
        raise HttpError(415, "UNSUPPORTED_ENCODING", f"Content-Encoding {encoding} is not supported",
                        hint="send the file as it is, or compressed with gzip (Content-Encoding: gzip)")
    if params.get("map"):
        import json
        try:
            opts.user_map = json.loads(params["map"])
        except ValueError:
            raise HttpError(400, "BAD_MAP", "the map parameter must be a JSON object {\"their header\": \"our header\"}")

    pipe = _Pipe()
    stop = threading.Event()
    loop = asyncio.get_running_loop()

    def run_loader():
        try:
            return loader.load_stream(settings.app_url, pipe, opts)
        finally:
            stop.set()

    task = loop.run_in_executor(None, run_loader)
    part = None
    if multipart:
        from python_multipart.multipart import parse_options_header

        _, ct_params = parse_options_header(content_type)
        boundary = ct_params.get(b"boundary")
        if not boundary:
            raise HttpError(400, "BAD_MULTIPART", "the multipart body has no boundary")
        buffered: list[bytes] = []
        part = _FirstFilePart(boundary, buffered.append)
    received = 0
    too_large = False
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                too_large = True
                break
            if part is not None:
                part.write(chunk)
                chunks, buffered[:] = list(buffered), []
                if opts.filename is None and part.filename:
                    opts.filename = part.filename
            else:
                chunks = [chunk] if chunk else []
            for c in chunks:
                if not await loop.run_in_executor(None, pipe.put, c, stop):
                    break
            if stop.is_set():
                break
    except Exception as e:  # noqa: BLE001 - the client went away mid-body
        await loop.run_in_executor(None, pipe.put, loader.LoadRefused(f"the upload was interrupted: {e}"), stop)
        raise
    finally:
        end = loader.TooLarge(f"the upload is larger than the limit of {limit:,} bytes "
                              "(MANGALM_UPLOAD_MAX_BYTES)") if too_large else None
        await loop.run_in_executor(None, pipe.put, end, stop)
    try:
        result = await task
    except loader.TooLarge as e:
        raise HttpError(413, "TOO_LARGE", str(e), hint="split the file, or raise MANGALM_UPLOAD_MAX_BYTES") from None
    except loader.LoadRefused as e:
        raise HttpError(422, "FILE_REFUSED", str(e)) from None
    except Exception as e:
        # A full disk is not "the database is not reachable" (json_errors'
        # 503 for OperationalError): 507 Insufficient Storage, in words.
        if worker.is_disk_full(e):
            raise HttpError(507, "DISK_FULL", worker.describe_error(e),
                            hint="free disk space on the database server, then upload the file again") from None
        raise
    log_event("BULK_UPLOAD_RECEIVED", job_id=result.job_id, bytes=result.bytes, lines=result.lines,
              user=claims.get("sub"))
    if params.get("wait", "").lower() in ("1", "true", "yes"):
        await loop.run_in_executor(None, worker.process_job, settings, result.job_id)
        row = await _fetch_job(settings, claims, result.job_id)
        return JSONResponse(_job_json(row), status_code=200)
    row = await _fetch_job(settings, claims, result.job_id)
    return JSONResponse(_job_json(row), status_code=202, headers={"Location": _job_url(result.job_id)})


def _job_id(request: Request) -> int:
    try:
        return int(request.path_params["job_id"])
    except (KeyError, ValueError):
        raise HttpError(404, "NOT_FOUND", "no such upload job") from None


@json_errors
async def get_rejects(request: Request) -> Response:
    claims = await authenticate(request)
    job_id = _job_id(request)
    try:
        async with _as_caller(request.app.state.settings, claims) as conn:
            if await (await conn.execute("SELECT 1 FROM api.upload_jobs WHERE id = %s", (job_id,))).fetchone() is None:
                raise HttpError(404, "NOT_FOUND", "no such upload job")
            cur = await conn.execute("SELECT line_no, column_name, reason, raw_line FROM api.upload_rejects "
                                     "WHERE job_id = %s ORDER BY line_no, id", (job_id,))
            rows = await cur.fetchall()
    except psycopg.errors.InsufficientPrivilege:
        raise HttpError(403, "FORBIDDEN", "your role may not read upload jobs",
                        hint="log in as a manager or an admin") from None
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(["line", "column", "reason", "raw_line"])
    for line_no, column, reason, raw in rows:
        writer.writerow([line_no, neutralize(column), neutralize(reason), neutralize(raw)])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="upload-{job_id}-rejects.csv"'})


ROUTES = [
    Route("/uploads", create_upload, methods=["POST"]),
    Route("/uploads/{job_id}/rejects.csv", get_rejects, methods=["GET"]),
]
