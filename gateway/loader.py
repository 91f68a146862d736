"""CSV → COPY: stream an invoice-line export into its job's staging table, in constant memory.

The loader reads the file once, in 1 MiB chunks, and feeds PostgreSQL's COPY (CSV format) with
each record prefixed by its line number and its position within its invoice. It never builds
the file in memory: a batch of ~4 MB is in flight per COPY stream, and it is kept only so that
a batch COPY refuses can be sent again the careful way.

Why the work is split like this (measured on a 2-core machine, 1M lines of the 41-column
export, raw COPY into an unlogged all-text table ≈ 6.5 s):
- PostgreSQL's COPY parses CSV fields faster than Python can (csv.reader costs ~11 µs a line,
  a whole-line regular expression ~19 µs), so clean records pass through untouched and COPY
  splits them. Python only looks at each physical line with C-speed byte operations (~1-2 µs):
  quote parity (a quoted field may hold line breaks), the field count, and blanks next to a
  delimiter. Those run on the second core while the server parses.
- Trimming happens here, not in SQL: btrim() on 37 text columns cost ~4-5 s per million lines
  in PostgreSQL (it walks multibyte characters), while a line with no blank next to a
  delimiter (nearly all of them) needs no trimming at all.
- A record COPY could not take (wrong field count, NUL byte, bytes invalid in the encoding,
  a quote left open) must not sink the file. Such records are recognised here and staged as
  rejects (line number, raw text, reason) in the same table; a batch the server still refuses
  is re-sent after checking every record of it one by one.
- Typing and every rule about values (dates, numbers, required fields) stay in SQL
  (app.process_bulk_upload_complete), where they are set-based and in one place.

Gzip: a file that starts with gzip's magic bytes (`export.csv.gz`, or an HTTP body sent with
Content-Encoding: gzip) is unpacked while it is read, at most 1 MiB of output per step, so memory
stays constant; a damaged or cut-off stream refuses the upload and the job is abandoned (nothing
of it is loaded). Byte counts, the upload limit and the SHA-256 are of the bytes as received.

Header mapping: case-, space- and punctuation-insensitive, with aliases (InvoiceNo, CustomerID,
UnitPrice, Description, ...) and an optional user map (--map). A file missing a required
column is refused (LoadRefused) before anything is written.
"""
from __future__ import annotations

import codecs
import collections
import concurrent.futures
import csv
import hashlib
import io
import json
import os
import queue
import re
import threading
import time
import unicodedata
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import psycopg

from .config import ROOT

# ---------------------------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------------------------

def export_fields() -> list[tuple[str, str, str]]:
    """The export's columns as (field, kind, header), in mangalam_invoices order: read from the
    one list in functions/ingest.sql (app.ingest_fields(), whose comment says why it lives
    there), so the loader maps headers without a database and never disagrees with it."""
    text = (ROOT / "functions" / "ingest.sql").read_text(encoding="utf-8")
    parts = text.split("$fields$")
    if len(parts) != 3:
        raise RuntimeError(f"{ROOT / 'functions' / 'ingest.sql'} must hold the export's column list "
                           "once, as the literal of app.ingest_fields()")
    return [(f, k, h) for f, k, h in json.loads(parts[1])]


EXPORT_FIELDS = export_fields()
# field -> the export's header
FIELDS: list[tuple[str, str]] = [(f, h) for f, _, h in EXPORT_FIELDS]
DISPLAY = dict(FIELDS)

# Other names exports use for the same columns (normalised: see normalize_header). A name that
# can mean two columns lists both; it takes the first one the file does not have already
# ("Description" is the item name in exports without Item Name, else the item description).
ALIASES: dict[str, tuple[str, ...]] = {
    "invoiceno": ("invoice_number",), "invoicenum": ("invoice_number",), "invno": ("invoice_number",),
    "invoice": ("invoice_number",), "billno": ("invoice_number",), "billnumber": ("invoice_number",),
    "vouchernumber": ("invoice_number",), "voucherno": ("invoice_number",),
    "date": ("invoice_date",), "invdate": ("invoice_date",), "billdate": ("invoice_date",),
    "invoicedated": ("invoice_date",),
    "status": ("invoice_status",),
    "customerid": ("customer_id",), "custid": ("customer_id",), "customercode": ("customer_id",),
    "customerno": ("customer_id",), "customernumber": ("customer_id",), "storeid": ("customer_id",),
    "customer": ("customer_name",), "customername": ("customer_name",), "storename": ("customer_name",),
    "partyname": ("customer_name",), "party": ("customer_name",), "clientname": ("customer_name",),
    "duedate": ("due_date",),
    "purchaseorder": ("purchase_order",), "purchaseorderno": ("purchase_order",), "pono": ("purchase_order",),
    "ponumber": ("purchase_order",),
    "salesorder": ("sales_order_number",), "salesorderno": ("sales_order_number",),
    "sonumber": ("sales_order_number",), "sono": ("sales_order_number",),
    "productid": ("product_id",), "itemid": ("product_id",),
    "itemname": ("item_name",), "item": ("item_name",), "productname": ("item_name",),
    "product": ("item_name",), "description": ("item_name", "item_desc"),
    "sku": ("sku",), "stockcode": ("sku",), "itemcode": ("sku",), "productcode": ("sku",),
    "category": ("category_name",), "categoryname": ("category_name",),
    "itemdesc": ("item_desc",), "itemdescription": ("item_desc",), "productdescription": ("item_desc",),
    "qty": ("quantity",), "quantity": ("quantity",), "quantityordered": ("quantity",), "units": ("quantity",),
    "usageunit": ("usage_unit",), "unit": ("usage_unit",), "uom": ("usage_unit",),
    "itemprice": ("item_price",), "unitprice": ("item_price",), "price": ("item_price",),
    "rate": ("item_price",), "itemrate": ("item_price",), "sellingprice": ("item_price",),
    "discountpct": ("discount",), "discountpercent": ("discount",), "discountpercentage": ("discount",),
    "discountamount": ("discount_amount",),
    "itemtotal": ("item_total",), "linetotal": ("item_total",), "amount": ("item_total",),
    "lineamount": ("item_total",),
    "subtotal": ("subtotal",), "invoicetotal": ("total",), "total": ("total",),
    "itemtaxpct": ("item_tax_pct",), "taxpct": ("item_tax_pct",), "taxrate": ("item_tax_pct",),
    "gstpct": ("item_tax_pct",), "gstrate": ("item_tax_pct",),
    "itemtaxamount": ("item_tax_amount",), "taxamount": ("item_tax_amount",), "itemtax": ("item_tax_amount",),
    "hsnsac": ("hsn_sac",), "hsn": ("hsn_sac",), "hsncode": ("hsn_sac",), "sac": ("hsn_sac",),
    "currency": ("currency_code",), "currencycode": ("currency_code",),
    "warehouse": ("warehouse_name",), "warehousename": ("warehouse_name",),
    "salesperson": ("sales_person",), "salesrep": ("sales_person",), "salesman": ("sales_person",),
    "city": ("billing_city",), "state": ("billing_state",), "country": ("billing_country",),
    "pincode": ("billing_code",), "postalcode": ("billing_code",), "zipcode": ("billing_code",),
    "zip": ("billing_code",), "billingzip": ("billing_code",), "billingpincode": ("billing_code",),
    "shippingzip": ("shipping_code",), "shippingpincode": ("shipping_code",),
    "terms": ("payment_terms",), "paymentterms": ("payment_terms",),
    "note": ("notes",), "notes": ("notes",), "remarks": ("notes",), "comments": ("notes",),
}

# Required: each entry is satisfied by any one of its fields.
REQUIRED: list[tuple[tuple[str, ...], str]] = [
    (("invoice_number", "invoice_id"), "Invoice Number (or Invoice ID)"),
    (("invoice_date",), "Invoice Date"),
    (("customer_id", "customer_name"), "Customer ID (or Customer Name)"),
    (("product_id", "sku", "item_name"), "Item Name (or Product ID, or SKU)"),
    (("quantity",), "Quantity"),
    (("item_price", "item_total"), "Item Price (or Item Total)"),
]


def normalize_header(header: str) -> str:
    """'Invoice No.' → 'invoiceno', 'Item Tax %' → 'itemtaxpct', 'HSN/SAC' → 'hsnsac'."""
    h = unicodedata.normalize("NFKC", header).strip().lower()
    h = h.replace("%", "pct").replace("#", "number")
    return re.sub(r"[\W_]+", "", h)


_CANONICAL = {normalize_header(display): name for name, display in FIELDS}
_CANONICAL.update({normalize_header(name): name for name, _ in FIELDS})


def _user_target(target: str) -> str | None:
    """The field a --map entry names ('Invoice Number', 'invoice_number', an alias), or None
    when it means "keep as an extra column"."""
    key = normalize_header(target)
    if key in ("", "extra", "ignore", "keep"):
        return None
    if key in _CANONICAL:
        return _CANONICAL[key]
    if key in ALIASES:
        return ALIASES[key][0]
    raise LoadRefused(f"the map names {target!r}, which is not a column Mangalm knows; "
                      f"use one of: {', '.join(d for _, d in FIELDS)}")


@dataclass
class HeaderMap:
    headers: list[str]
    fields: dict[str, int]                      # field -> 0-based column index
    extra: list[tuple[str, int]]                # (header, 0-based index) kept in `extra`
    missing: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        """The job's `columns` (staging columns are 1-based: c1..cn)."""
        return {"headers": self.headers, "fields": {f: i + 1 for f, i in self.fields.items()},
                "extra": [{"header": h, "col": i + 1} for h, i in self.extra]}


def map_headers(headers: list[str], user_map: dict[str, str] | None = None) -> HeaderMap:
    """Which column of the file is which field. Exact names first, then the user's map, then
    aliases; a column matching nothing (or a field already taken) is kept as an extra."""
    user = {normalize_header(k): v for k, v in (user_map or {}).items()}
    fields: dict[str, int] = {}
    assigned: dict[int, str | None] = {}
    keys = [normalize_header(h) for h in headers]
    for i, key in enumerate(keys):               # 1. the user's map wins
        if key in user:
            target = _user_target(user[key])
            assigned[i] = target
            if target is not None and target not in fields:
                fields[target] = i
    for i, key in enumerate(keys):               # 2. the export's own names
        if i not in assigned and key in _CANONICAL and _CANONICAL[key] not in fields:
            fields[_CANONICAL[key]] = i
            assigned[i] = _CANONICAL[key]
    for i, key in enumerate(keys):               # 3. aliases
        if i in assigned:
            continue
        for target in ALIASES.get(key, ()):
            if target not in fields:
                fields[target] = i
                assigned[i] = target
                break
    extra, seen = [], set()
    for i, h in enumerate(headers):
        if assigned.get(i) is None:
            name = h.strip() or f"column {i + 1}"
            base, n = name, 2
            while name in seen:                  # duplicate header names stay distinct
                name, n = f"{base} ({n})", n + 1
            seen.add(name)
            extra.append((name, i))
    missing = [label for options, label in REQUIRED if not any(f in fields for f in options)]
    return HeaderMap(headers=[h.strip() for h in headers], fields=fields, extra=extra, missing=missing)


def read_map_file(path: str | os.PathLike) -> dict[str, str]:
    """A header map: JSON {"their header": "our header"} or CSV lines `their header,our header`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise LoadRefused(f"cannot read the map file {p}: {e.strerror}") from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise LoadRefused(f"the map file {p} is not valid JSON: {e}") from None
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise LoadRefused(f"the map file {p} must map header names to header names (strings)")
        return data
    result = {}
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) != 2:
            raise LoadRefused(f"line {n} of the map file {p} must be `their header,our header`")
        if n == 1 and normalize_header(row[0]) in ("theirheader", "from", "source") :
            continue
        result[row[0].strip()] = row[1].strip()
    return result


# ---------------------------------------------------------------------------------------------
# Errors and results
# ---------------------------------------------------------------------------------------------

class LoadRefused(ValueError):
    """The file is refused before anything is written; the message says why and what to do."""


@dataclass
class LoadOptions:
    encoding: str = "utf-8"
    date_order: str = "dmy"
    user_map: dict[str, str] | None = None
    dry_run: bool = False
    source: str = "cli"
    filename: str | None = None
    created_by: str | None = None
    # Parallel COPY streams: two use both cores of a small machine (measured 1.5-1.8x).
    streams: int = 2
    batch_bytes: int = 4 << 20
    # Called now and then with (bytes read, total bytes or None, records so far).
    progress: Callable[[int, int | None, int], None] | None = None
    # Refuses the upload once more than this many bytes arrived (HTTP limit); None: no limit.
    max_bytes: int | None = None
    # "gzip": the input must be gzip (HTTP Content-Encoding: gzip); None: gzip is recognised by
    # its magic bytes, whatever the file is called (a `.csv.gz` that a browser already
    # unpacked is read as the plain CSV it is).
    compression: str | None = None


@dataclass
class Received:
    """What the loader staged: the job (now queued) and the counts it saw."""
    job_id: int
    lines: int
    bytes: int
    skipped: int
    rejected_by_loader: int
    seconds: float
    delimiter: str
    encoding: str
    columns: dict


class TooLarge(LoadRefused):
    """More bytes than the configured limit arrived."""


# ---------------------------------------------------------------------------------------------
# Reading: bytes → physical lines (UTF-8), with BOM, encodings and invalid bytes handled
# ---------------------------------------------------------------------------------------------

CHUNK = 1 << 20
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# A line spanning more physical lines or bytes than this is taken to be an unclosed quote.
MAX_RECORD_LINES = 500
MAX_RECORD_BYTES = 4 << 20
MAX_RAW_REJECT = 100_000


def _encoding_hint(enc: str) -> str:
    other = "cp1252" if enc.replace("-", "").lower() in ("utf8", "utf8sig") else "utf-8"
    return f"if the file was saved in another encoding, load it with --encoding (for example --encoding {other})"


GZIP_MAGIC = b"\x1f\x8b"


class _Gunzip:
    """A gzip stream unpacked a block at a time: each read returns at most CHUNK bytes of
    output, so memory stays constant however well the file compresses (a 1 MB block of a
    bomb never becomes 1 GB in memory). Files of several gzip members (`cat a.gz b.gz`) are
    read as one. A damaged or cut-off stream raises LoadRefused; the loader then abandons the
    job, so nothing of the file is kept."""

    def __init__(self, read_raw: Callable[[], bytes], first: bytes):
        self.read_raw = read_raw
        self.inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self.input = first                       # compressed bytes not handed to zlib yet
        self.compressed = 0                      # compressed bytes handed to zlib so far

    def _refuse(self, what: str) -> LoadRefused:
        return LoadRefused(f"the file is not valid gzip ({what}, near compressed byte {self.compressed:,}); nothing "
                           "of it was loaded. Check it with `gzip -t FILE`, then export or compress it again")

    def read(self) -> bytes:
        while True:
            data = self.inflate.unconsumed_tail or self.input
            self.input = b""
            if not data:
                data = self.read_raw()
                if not data:
                    if not self.inflate.eof:
                        raise self._refuse("it ends before the end of its compressed data: cut off?")
                    return b""
            if self.inflate.eof:                 # the next member of a multi-member file
                self.inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            before = len(data)
            try:
                out = self.inflate.decompress(data, CHUNK)
            except zlib.error as e:
                raise self._refuse(str(e).replace("Error -3 while decompressing data: ", "")) from None
            self.compressed += before - len(self.inflate.unconsumed_tail)
            if self.inflate.eof:
                self.input = self.inflate.unused_data
            if out:
                return out


class _Digest:
    """SHA-256 of the bytes as received, computed on a thread of its own. hashlib releases the
    GIL for buffers this size, so the digest (~0.4 s of the loader's ~4.3 s of CPU on the 1M
    generated file) runs beside the block scans instead of between them. Updates run in order
    on one worker; at most DEPTH blocks wait for it (memory stays constant). The worker thread
    ends when hexdigest() shuts it down, or with the object on a failed upload."""

    DEPTH = 8

    def __init__(self):
        self._sha = hashlib.sha256()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        self._pending: collections.deque = collections.deque()

    def update(self, data: bytes) -> None:
        if not data:
            return
        self._pending.append(self._pool.submit(self._sha.update, data))
        if len(self._pending) > self.DEPTH:
            self._pending.popleft().result()

    def hexdigest(self) -> str:
        while self._pending:
            self._pending.popleft().result()
        self._pool.shutdown()
        return self._sha.hexdigest()


class _Source:
    """The file as UTF-8 physical lines, in blocks. Yields (first line number, lines, bad) where
    bad maps a line's index in the block to the reason it could not be read."""

    def __init__(self, raw: BinaryIO, encoding: str, max_bytes: int | None, compression: str | None = None):
        self.raw = raw
        self.max_bytes = max_bytes
        self.bytes = 0                           # bytes as received (compressed, for a gzip file)
        self.sha = _Digest()                     # of the bytes as received
        try:
            self.codec = codecs.lookup(encoding).name
        except LookupError:
            raise LoadRefused(f"unknown encoding {encoding!r}; use a name such as utf-8, cp1252, latin-1 or utf-16") from None
        self.label = encoding
        first = self._read_raw()
        self.gzip = first.startswith(GZIP_MAGIC)
        if compression == "gzip" and not self.gzip:
            raise LoadRefused("the upload is declared gzip-compressed (Content-Encoding: gzip) but is not gzip data "
                              "(it does not start with the bytes 1f 8b); send it uncompressed without that header, "
                              "or compress it with gzip")
        if self.gzip:
            self._read = _Gunzip(self._read_raw, first).read
            first = self._read()
        else:
            self._read = self._read_raw
        for bom, name in BOMS:
            if first.startswith(bom):
                # A byte-order mark decides: UTF-8 with BOM is plain UTF-8 minus the mark.
                first = first[len(bom):] if name == "utf-8-sig" else first
                self.codec = "utf-8" if name == "utf-8-sig" else codecs.lookup(name).name
                self.label = name
                break
        self.pending = first
        # Encodings where ',' '"' and '\n' are not the ASCII bytes (UTF-16/32) are decoded as a
        # stream first; the rest are split on b'\n' and transcoded a block at a time.
        self.ascii_compatible = '\n,;|\t"'.encode(self.codec, "replace") == b'\n,;|\t"'
        self.decoder = None if self.ascii_compatible else codecs.getincrementaldecoder(self.codec)("strict")

    def _read_raw(self) -> bytes:
        data = self.raw.read(CHUNK)
        self.bytes += len(data)
        if self.max_bytes is not None and self.bytes > self.max_bytes:
            raise TooLarge(f"the upload is larger than the limit of {self.max_bytes} bytes "
                           "(MANGALM_UPLOAD_MAX_BYTES)")
        self.sha.update(data)
        return data

    def _chunks(self) -> Iterator[bytes]:
        data = self.pending
        self.pending = b""
        while data:
            if self.decoder is not None:
                try:
                    data = self.decoder.decode(data).encode("utf-8")
                except UnicodeDecodeError as e:
                    raise LoadRefused(f"the file is not valid {self.label} near byte {self.bytes - CHUNK + e.start}; "
                                      f"{_encoding_hint(self.label)}") from None
            yield data
            data = self._read()
        if self.decoder is not None:
            try:
                tail = self.decoder.decode(b"", final=True).encode("utf-8")
            except UnicodeDecodeError:
                raise LoadRefused(f"the file ends in the middle of a {self.label} character; "
                                  f"{_encoding_hint(self.label)}") from None
            if tail:
                yield tail

    def blocks(self) -> Iterator[tuple[bytes | None, list[bytes] | None, dict[int, tuple[str, str]]]]:
        """Blocks of complete lines: (block, None, {}) when every line is valid UTF-8 without NUL
        (block = the lines joined by b'\\n', CRLF made LF), else (None, lines, bad) where bad maps
        a line's index to (reason, raw text for the report)."""
        transcode = self.ascii_compatible and self.codec != "utf-8"
        rest = b""
        for chunk in self._chunks():
            data = rest + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                if len(rest) > MAX_RECORD_BYTES * 4:
                    raise LoadRefused("the file has a line longer than 16 MB; is it a CSV export?")
                continue
            block, rest = data[:cut], data[cut + 1:]
            yield self._block(block, transcode)
        if rest:
            yield self._block(rest, transcode)

    def _block(self, block: bytes, transcode: bool):
        # Fast path: the whole block is valid (one C call); only if not, line by line.
        try:
            if transcode:
                block = block.decode(self.codec).encode("utf-8")
            elif self.decoder is None and not block.isascii():   # (ASCII is UTF-8: a faster scan)
                block.decode("utf-8")
            ok = b"\x00" not in block
        except UnicodeDecodeError:
            ok = False
        if ok:
            if block[-1:] == b"\r":
                block = block[:-1]               # the CR of the line the block was cut after
            if b"\r" in block:
                block = _crlf_to_lf(block)
            return block, None, {}
        lines = block.split(b"\n")
        bad: dict[int, tuple[str, str]] = {}
        codec = self.codec if transcode else "utf-8"
        for i, line in enumerate(lines):
            if transcode:
                try:
                    lines[i] = line = line.decode(codec).encode("utf-8")
                except UnicodeDecodeError as e:
                    bad[i] = (f"is not valid {self.label}: byte 0x{line[e.start]:02X} at position {e.start + 1}; "
                              f"{_encoding_hint(self.label)}", line.decode(codec, "backslashreplace"))
                    continue
            else:
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as e:
                    bad[i] = (f"is not valid {self.label}: byte 0x{line[e.start]:02X} at position {e.start + 1}; "
                              f"{_encoding_hint(self.label)}", line.decode("utf-8", "backslashreplace"))
                    continue
            if b"\x00" in line:
                bad[i] = ("contains a NUL byte (shown as \\x00); a text export never does: check the file and its "
                          "encoding (--encoding utf-16 for a UTF-16 file without byte-order mark)",
                          line.decode("utf-8", "backslashreplace").replace("\x00", "\\x00"))
        return None, lines, bad


def _crlf_to_lf(block: bytes) -> bytes:
    """block.replace(b"\\r\\n", b"\\n"), 2-3x faster for a CRLF file (~0.8 against ~2 ms per MB:
    replace() searches the two-byte pattern twice, once to count and once to copy): split on the
    CR byte alone, and when every CR is followed by a line break, join the pieces without them.
    A block with a stray CR takes replace()."""
    pieces = block.split(b"\r")
    if b"".join([p[:1] for p in pieces[1:]]) == b"\n" * (len(pieces) - 1):
        return b"".join(pieces)
    return block.replace(b"\r\n", b"\n")


# ---------------------------------------------------------------------------------------------
# Records: physical lines → CSV records → COPY lines
# ---------------------------------------------------------------------------------------------

def _sniff_delimiter(line: str) -> str:
    """The delimiter of a header line: the most frequent of , ; tab | outside quotes."""
    outside = "".join(line.split('"')[0::2])
    counts = {d: outside.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] > 0 else ","


def _open_quote(text: str, delim: str) -> bool:
    """True when `text` ends inside a quoted field (CSV rules: a quote opens a field only at its
    start; inside, "" is a quote). Only lines with an odd number of quotes get here."""
    in_quote = False
    at_start = True
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if in_quote:
            if c == '"':
                if i + 1 < n and text[i + 1] == '"':
                    i += 1
                else:
                    in_quote = False
        elif c == '"' and at_start:
            in_quote = True
        at_start = c == delim and not in_quote
        i += 1
    return in_quote


class _Recorder:
    """Turns CSV records into COPY lines: `line_no,pos,reject,c1,...,cn`."""

    def __init__(self, hmap: HeaderMap, delim: str):
        self.ncols = len(hmap.headers)
        self.delim = delim
        self.d = delim.encode()
        self.key_cols = [hmap.fields[f] for f in ("invoice_number", "invoice_id") if f in hmap.fields]
        self.kmax = max(self.key_cols) if self.key_cols else 0
        self.positions: dict[bytes, int] = {}
        # Blanks next to a delimiter, or just inside quotes: the record needs trimming, which
        # the slow path does. (Tab-separated files: a tab is the delimiter, not a blank.)
        self.pair1 = self.d + b" "
        self.pair2 = b" " + self.d
        # The block path looks for them with compiled patterns: re's search for a literal runs
        # ~1.7x faster than bytes' `in` for a two-byte needle of common bytes (measured
        # 0.50 against 0.84 ms per MB of the 1M generated file, which has no such pair, so
        # both searches read the whole block).
        pair1, pair2 = re.compile(re.escape(self.pair1)), re.compile(re.escape(self.pair2))
        self.find_pair1, self.find_pair2 = pair1.search, pair2.search
        self.split_pair1, self.split_pair2 = pair1.split, pair2.split
        self.blanks = (b" ",) if self.d == b"\t" else (b" ", b"\t")
        # Byte tables for the quote checks: 1 where the character is ordinary (not a delimiter,
        # line break or quote), a blank, not a quote.
        ordinary = bytearray(b"\x01" * 256)
        for c in (self.d[0], 10, 34):
            ordinary[c] = 0
        self.t_ordinary = bytes(ordinary)
        blank = bytearray(256)
        for c in self.blanks:
            blank[c[0]] = 1
        self.t_blank = bytes(blank)
        not_quote = bytearray(b"\x01" * 256)
        not_quote[34] = 0
        self.t_not_quote = bytes(not_quote)
        self.rejects = 0
        self.lock = threading.Lock()
        self.empty_tail = self.d * (self.ncols - 1)

    def _quote_edges(self, segs: list[bytes]) -> tuple[bytes, bytes]:
        """One byte per quote of a block (segs = block.split(b'"')): the character before it
        and the one after it ('"' where the segment between two quotes is empty, a line break
        at the block's two ends)."""
        before = b"".join([x[-1:] or b'"' for x in segs[:-1]])   # '"': the segment is empty
        after = b"".join([x[:1] or b'"' for x in segs[1:]])
        if not segs[0]:
            before = b"\n" + before[1:]         # the block starts with a quote
        if not segs[-1]:
            after = after[:-1] + b"\n"          # the block ends with a quote
        return before, after

    def _quotes_clean(self, before: bytes, after: bytes) -> bool:
        """Every quote of a block sits where RFC 4180 puts it: next to a delimiter, a line break
        or another quote (12" pipe is read differently by different CSV readers: the line path
        decides). Checked for all quotes at once: bytes turned into bit masks and ANDed (C
        speed, no loop per quote)."""
        big = int.from_bytes
        return not big(before.translate(self.t_ordinary), "big") & big(after.translate(self.t_ordinary), "big")

    def _blank_inside_quotes(self, before: bytes, after: bytes) -> bool:
        """Some quoted value starts or ends with a blank (it needs trimming). Quote j opens a
        value when j is even and closes one when j is odd; a doubled quote ("") is a pair
        whose outer segment is empty."""
        big = int.from_bytes
        pairs = len(before) // 2
        even = big(b"\x01\x00" * pairs, "big")
        odd = even >> 8
        return bool(even & big(after.translate(self.t_blank), "big") & big(before.translate(self.t_not_quote), "big")
                    or odd & big(before.translate(self.t_blank), "big") & big(after.translate(self.t_not_quote), "big"))

    def block(self, first_no: int, block: bytes) -> tuple[list[bytes], int, int] | None:
        """The fastest path: a whole block of lines checked at once with a few C-speed passes
        (quotes balanced on every line and next to delimiters, no blank next to a delimiter or
        inside a quote, no tab or stray CR), then one short loop for the prefixes. Returns
        (COPY lines, blank lines skipped, physical lines read), or None when some line needs a
        closer look."""
        d = self.d
        quoted = b'"' in block
        segs = None
        if quoted:
            segs = block.split(b'"')
            # An odd number of quotes on a line makes some quoted segment run over a line
            # break (or past the block's end: the parity of the whole block).
            if not len(segs) & 1 or b"\n" in b'"'.join(segs[1::2]):
                return None
            before, after = self._quote_edges(segs)
            if not self._quotes_clean(before, after):
                return None
            outside = b"".join(segs[0::2])
            blank_inside = self._blank_inside_quotes(before, after)
        else:
            outside = block
            blank_inside = False
        # Tabs and stray CRs: the line path decides.
        if b"\r" in block or (d != b"\t" and b"\t" in block):
            return None
        # Blanks next to a delimiter outside quotes, and just inside a quoted value's quotes,
        # are trimmed here for the whole block (split and join, C speed; a short loop over the
        # quoted values); blanks at a line's start or end by the loop below, which strips each
        # line (no quoted value spans a line here, so a line starts and ends outside quotes).
        # The real export has a blank after the item name on 104,156 of its 500,805 lines
        # ("MIRROR, " quoted on 1,827), so nearly every block used to go through the line path
        # and csv.reader: receive took 2.1 s against 0.5 s of raw COPY. (Stripping each line,
        # ~0.05 µs, costs less than looking for a blank next to a line break: the outside text
        # with line breaks made delimiters, ~0.35 ms per MB, was searched for that.)
        if blank_inside or self.find_pair1(outside) is not None or self.find_pair2(outside) is not None:
            lines = self._trim(segs if quoted else [block])
        else:
            lines = block.split(b"\n")
        out = []
        append = out.append
        positions = self.positions
        get = positions.get
        key_cols = self.key_cols
        k0 = key_cols[0] if key_cols else None
        k_alt = key_cols[1] if len(key_cols) > 1 else None
        k1 = self.kmax + 1
        skipped = 0
        n = first_no - 1
        # An invoice's lines follow one another and share their first k1 fields (date, invoice
        # ID, number): a line that starts with the same k1 fields as the line before, up to the
        # k1-th delimiter, has the same key and no quote among them, so it is the next
        # position of the same invoice (one startswith instead of a split, ~0.3 µs a line).
        # The run's count goes back to `positions` before anything else reads it.
        head = None                              # the first k1 fields of the run's first line
        run_key = None
        run_pos = 0
        for line in lines:
            n += 1
            line = line.strip(b" ")
            if k0 is None:
                if not line.strip(b" \t,;|"):
                    skipped += 1
                else:
                    append(b"%d%s%s%s%s\n" % (n, d, d, d, line))
                continue
            if head is not None:
                if line.startswith(head):
                    run_pos += 1
                    append(b"%d%s%d%s%s%s\n" % (n, d, run_pos, d, d, line))
                    continue
                positions[run_key] = run_pos
                head = None
            parts = line.split(d, k1)
            if quoted and len(parts) > k1 and line.find(b'"', 0, len(line) - len(parts[-1])) >= 0:
                slow = self.slow(n, line)        # a quoted invoice number: parse it properly
                if slow:
                    append(slow)
                else:
                    skipped += 1
                continue
            key = parts[k0] if len(parts) > k0 else None
            if not key and k_alt is not None and len(parts) > k_alt:
                key = parts[k_alt]
            if key:
                pos = get(key, 0) + 1
                positions[key] = pos
                append(b"%d%s%d%s%s%s\n" % (n, d, pos, d, d, line))
                if len(parts) > k1:
                    head = line[:len(line) - len(parts[-1])]
                    run_key = key
                    run_pos = pos
            elif not line.strip(b" \t,;|"):
                skipped += 1                     # blank lines are not data lines
            else:
                append(b"%d%s%s%s%s\n" % (n, d, d, d, line))
        if head is not None:
            positions[run_key] = run_pos
        return out, skipped, len(lines)

    def _trim(self, segs: list[bytes]) -> list[bytes]:
        """The block's lines (segs: the block split on its quotes, so segs[0::2] lie outside
        quotes) with every value trimmed as the line path trims it, but for the blanks at a
        line's start and end, which the caller strips: the blanks next to a delimiter go,
        and so do the blanks after a value's opening quote and before its closing one. The
        quotes passed _quotes_clean, so no blank outside quotes touches a quote; a doubled
        quote ("") is a pair around an empty outside segment and neither opens nor closes a
        value. (The blank is a space: a block with a tab that is not the delimiter took the
        line path.)
        With the caller's strip, this removes each run of blanks outside quotes that touches
        a delimiter, a line break or the block's ends, whatever the order. The runs next to a
        delimiter are split out of all the outside text at once (the outside segments joined
        by NUL, which a block on this path never holds, so no run crosses a quoted value;
        per outside segment, four searches each, this took ~4.5 against ~2.5 ms per MB of the
        real export)."""
        segs = list(segs)
        last = len(segs) - 1
        d = self.d
        outside = b"\x00".join(segs[0::2])
        parts = self.split_pair2(outside)           # (re's split: its search is the faster one)
        if len(parts) > 1:
            outside = d.join([p.rstrip(b" ") for p in parts[:-1]] + [parts[-1]])
        parts = self.split_pair1(outside)
        if len(parts) > 1:
            outside = d.join([parts[0]] + [p.lstrip(b" ") for p in parts[1:]])
        if last:
            segs[0::2] = outside.split(b"\x00")
            for i in range(1, last, 2):
                if i == 1 or segs[i - 1]:
                    segs[i] = segs[i].lstrip(b" ")          # after an opening quote
                if i + 1 == last or segs[i + 1]:
                    segs[i] = segs[i].rstrip(b" ")          # before a closing quote
            outside = b'"'.join(segs)
        return outside.split(b"\n")

    def _pos(self, key: bytes | None) -> bytes:
        """The record's position within its invoice (1, 2, ...), counted in file order."""
        if not key:
            return b""
        n = self.positions.get(key, 0) + 1
        self.positions[key] = n
        return b"%d" % n

    def record(self, line_no: int, rec: bytes, segs: list[bytes] | None = None) -> bytes:
        """The fast path: a clean record passes through untouched (COPY splits it). `segs` is
        rec.split(b'"') when the caller has it. Every test here is a C-speed byte operation:
        measured ~1 µs per test on a 420-byte line, so there are as few as possible. The field
        count is left to COPY: a batch it refuses is re-checked record by record."""
        d = self.d
        if segs is None:
            segs = rec.split(b'"')
        n = len(segs)
        if n > 1:
            # Quotes: each must sit next to a delimiter, a line end or another quote (12" pipe
            # is read differently by different CSV readers: the slow path decides), and a value
            # must not start or end with a blank just inside its quotes.
            prev = segs[0]
            for i in range(1, n):
                cur = segs[i]
                left = prev[-1:]
                right = cur[:1]
                if left and right and left != d and right != d and left != b"\n" and right != b"\n":
                    return self.slow(line_no, rec)
                if i & 1:                        # cur is inside quotes
                    if (right == b" " or right == b"\t") and (i == 1 or prev):
                        return self.slow(line_no, rec)       # opening quote, then a blank
                    if cur[-1:] in self.blanks and (segs[i + 1] or i + 1 == n - 1):
                        return self.slow(line_no, rec)       # a blank, then the closing quote
                prev = cur
            outside = b"".join(segs[0::2])
        else:
            outside = rec
        if self.pair1 in outside or self.pair2 in outside or b"\t" in rec:
            return self.slow(line_no, rec)       # a blank next to a delimiter, or a tab
        if rec[:1] == b" " or rec[-1:] == b" ":
            return self.slow(line_no, rec)
        key = None
        if self.key_cols:
            parts = rec.split(d, self.kmax + 1)
            if n > 1 and len(parts) > self.kmax + 1 and b'"' in rec[:len(rec) - len(parts[-1])]:
                return self.slow(line_no, rec)   # a quoted invoice number: parse it properly
            for k in self.key_cols:
                if k < len(parts) and parts[k]:
                    key = parts[k]
                    break
        if key:
            pos = self.positions.get(key, 0) + 1
            self.positions[key] = pos
            return b"%d%s%d%s%s%s\n" % (line_no, d, pos, d, d, rec)
        return b"%d%s%s%s%s\n" % (line_no, d, d, d, rec)

    def slow(self, line_no: int, rec: bytes, pos: bytes | None = None) -> bytes:
        """The slow path: parse with Python's csv (strict), trim, check the field count and
        write canonical CSV (every value quoted), or a reject. `pos` keeps a position already
        given (when the writers re-check a refused batch)."""
        text = rec.decode("utf-8")
        try:
            fields = next(csv.reader([text], delimiter=self.delim, strict=True))
        except csv.Error as e:
            if "unexpected end of data" in str(e):
                return self.reject(line_no, 'a quoted field is not closed (a " is missing)', text)
            return self.reject(line_no, f"is not valid CSV ({e}); a quote inside a value must be doubled "
                                        '("") and the value quoted', text)
        except StopIteration:
            fields = []
        fields = [f.strip(" \t\r\n") for f in fields]
        if len(fields) > self.ncols and not any(fields[self.ncols:]):
            del fields[self.ncols:]              # trailing empty cells (spreadsheets add them)
        if len(fields) != self.ncols:
            if not any(fields):
                return b""                       # a line of empty cells is not a data line
            return self.reject(line_no, f"has {len(fields)} fields but the header has {self.ncols}; a value "
                                        f"containing {self.delim!r} must be quoted", text)
        if pos is None:
            key = None
            for k in self.key_cols:
                if fields[k]:
                    key = fields[k].encode()
                    break
            pos = self._pos(key)
        body = self.delim.join('"' + f.replace('"', '""') + '"' if f else "" for f in fields)
        return b"%d%s%s%s%s%s\n" % (line_no, self.d, pos, self.d, self.d, body.encode())

    def reject(self, line_no: int, reason: str, raw: str) -> bytes:
        """A staged reject: the reason in `reject`, the raw text in c1."""
        with self.lock:
            self.rejects += 1
        if len(raw) > MAX_RAW_REJECT:
            raw = raw[:MAX_RAW_REJECT] + f"... ({len(raw)} characters in all)"
        reason = f"the line {reason}"
        raw = raw.rstrip("\r")
        d = self.delim
        line = f'{line_no}{d}{d}"{reason.replace(chr(34), chr(34) * 2)}"{d}"{raw.replace(chr(34), chr(34) * 2)}"'
        return line.encode() + self.empty_tail + b"\n"


UNCLOSED = 'has a quoted field that is not closed (a " is missing)'


class _Assembler:
    """Physical lines → records. A record is one line, or several when a quoted field holds
    line breaks (found by quote parity). A quote that never closes (within 500 lines or 4 MB,
    or before an unreadable line or the end of the file) rejects only the line it opened on;
    the lines after it are read again as records of their own."""

    def __init__(self, recorder: _Recorder, emit: Callable[[bytes], None]):
        self.recorder = recorder
        self.delim = recorder.delim
        self.emit = emit
        self.pending: list[tuple[int, bytes]] | None = None
        self.pending_bytes = 0
        self.skipped = 0
        self.blank_starts = (b"", b" ", b"\t", b",", b";", b"|")

    def feed(self, n: int, line: bytes, bad: tuple[str, str] | None) -> None:
        if line[-1:] == b"\r":
            line = line[:-1]
        if self.pending is not None:
            if bad is not None:
                self._give_up()
                self.feed(n, line, bad)
                return
            self.pending.append((n, line))
            self.pending_bytes += len(line)
            if line.count(b'"') & 1:
                start = self.pending[0][0]
                rec = b"\n".join(l for _, l in self.pending)
                self.pending = None
                self.emit(self.recorder.record(start, rec))
            elif len(self.pending) > MAX_RECORD_LINES or self.pending_bytes > MAX_RECORD_BYTES:
                self._give_up()
            return
        if bad is not None:
            self.emit(self.recorder.reject(n, bad[0], bad[1]))
            return
        if line[:1] in self.blank_starts and not line.strip(b" \t,;|"):
            self.skipped += 1                    # blank lines are not data lines
            return
        segs = line.split(b'"')
        if not len(segs) & 1:                    # an odd number of quotes
            if _open_quote(line.decode("utf-8"), self.delim):
                self.pending = [(n, line)]
                self.pending_bytes = len(line)
                return
            self.emit(self.recorder.slow(n, line))
            return
        self.emit(self.recorder.record(n, line, segs))

    def _give_up(self) -> None:
        assert self.pending is not None
        (n0, first), rest = self.pending[0], self.pending[1:]
        self.pending = None
        self.emit(self.recorder.reject(n0, UNCLOSED, first.decode("utf-8", "backslashreplace")))
        for n, line in rest:
            self.feed(n, line, None)

    def finish(self) -> None:
        while self.pending is not None:
            self._give_up()


# ---------------------------------------------------------------------------------------------
# COPY streams
# ---------------------------------------------------------------------------------------------

class _Writers:
    """N threads, each with its own connection and COPY per batch, fed through a small queue
    (so at most ~2N batches are in memory). A batch the server refuses is checked record by
    record and sent again; records it still refuses become rejects with the server's reason."""

    def __init__(self, url: str, table: str, ncols: int, delim: str, recorder: _Recorder, streams: int):
        cols = ", ".join(f"c{i}" for i in range(1, ncols + 1))
        delim_sql = "E'\\t'" if delim == "\t" else f"'{delim}'"
        self.sql = (f"COPY staging.{table} (line_no, pos, reject, {cols}) FROM STDIN "
                    f"(FORMAT csv, DELIMITER {delim_sql}, FORCE_NULL ({cols}))")
        self.url = url
        self.recorder = recorder
        self.queue: queue.Queue = queue.Queue(maxsize=max(1, streams))
        self.error: BaseException | None = None
        self.threads = [threading.Thread(target=self._run, name=f"copy-{i}", daemon=True) for i in range(streams)]
        for t in self.threads:
            t.start()

    def put(self, batch: list[bytes]) -> None:
        while True:
            if self.error is not None:
                raise self.error
            try:
                self.queue.put(batch, timeout=0.5)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        for _ in self.threads:
            self.put(None)  # type: ignore[arg-type]
        for t in self.threads:
            t.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                while True:
                    batch = self.queue.get()
                    if batch is None:
                        return
                    if self.error is None:
                        self._send(conn, batch)
        except BaseException as e:  # noqa: BLE001 - handed to the reading thread
            self.error = e
            # keep draining so the reader is never stuck on a full queue
            while True:
                try:
                    if self.queue.get(timeout=1) is None:
                        return
                except queue.Empty:
                    return

    def _copy(self, conn: psycopg.Connection, lines: list[bytes]) -> None:
        with conn.transaction():
            with conn.cursor().copy(self.sql) as copy:
                copy.write(b"".join(lines))

    def _send(self, conn: psycopg.Connection, batch: list[bytes]) -> None:
        try:
            self._copy(conn, batch)
            return
        except psycopg.errors.QueryCanceled:
            raise
        except psycopg.DataError:
            pass
        # Careful: every record through the slow path (strict checks), then once more.
        careful = []
        d = self.recorder.d
        for line in batch:
            line_no_b, pos, reject, rec = line.rstrip(b"\n").split(d, 3)
            if reject:
                careful.append(line)
                continue
            out = self.recorder.slow(int(line_no_b), rec, pos)
            if out:
                careful.append(out)
        try:
            self._copy(conn, careful)
            return
        except psycopg.DataError:
            pass
        # Last resort: one record at a time; what the server refuses is rejected with its reason.
        for line in careful:
            try:
                self._copy(conn, [line])
            except psycopg.DataError as e:
                line_no_b, _, _, rec = line.rstrip(b"\n").split(d, 3)
                reason = (e.diag.message_primary or str(e)).strip()
                self._copy(conn, [self.recorder.reject(int(line_no_b), f"could not be read by the database: {reason}",
                                                       rec.decode("utf-8", "backslashreplace"))])


# ---------------------------------------------------------------------------------------------
# The load
# ---------------------------------------------------------------------------------------------

class _HeaderFinder:
    """The header: the first non-blank line (after an optional `sep=;` line) whose columns
    include the required ones; up to 10 lines of preamble before it are skipped."""

    def __init__(self, user_map: dict[str, str] | None):
        self.user_map = user_map
        self.forced: str | None = None
        self.skipped = 0
        self.first: tuple[list[str], HeaderMap] | None = None
        self.found: tuple[list[str], HeaderMap, str] | None = None

    @property
    def gave_up(self) -> bool:
        return self.skipped > 10

    def offer(self, n: int, line: bytes, bad: tuple[str, str] | None) -> bool:
        """Look at physical line n; True once the header is found."""
        line = line.rstrip(b"\r")
        if bad is not None:
            if self.first is None:
                raise LoadRefused(f"the header (line {n}) {bad[0]}")
            self.skipped += 1
            return False
        if not line.strip(b" \t,;|"):
            self.skipped += 1
            return False
        if line.lower().startswith(b"sep=") and len(line) <= 6:
            self.forced = line[4:5].decode() or ","
            self.skipped += 1
            return False
        text = line.decode("utf-8")
        delim = self.forced or _sniff_delimiter(text)
        try:
            fields = [f.strip() for f in next(csv.reader([text], delimiter=delim))]
        except (csv.Error, StopIteration):
            fields = []
        candidate = map_headers(fields, self.user_map)
        if not candidate.missing:
            self.found = (fields, candidate, delim)
            return True
        if self.first is None:
            self.first = (fields, candidate)
        self.skipped += 1
        return False

    def result(self) -> tuple[list[str], HeaderMap, str]:
        if self.found is not None:
            return self.found
        if self.first is None:
            raise LoadRefused("the file is empty: it has no header line and no data")
        fields, candidate = self.first
        found = ", ".join(repr(h) for h in fields[:60]) or "(none)"
        plural = "s" if len(candidate.missing) > 1 else ""
        raise LoadRefused(f"missing required column{plural}: {'; '.join(candidate.missing)}. Headers found: {found}. "
                          "Rename the columns in the file, or map them with --map FILE (JSON {\"their header\": "
                          "\"our header\"} or CSV lines `their header,our header`).")


def load_stream(url: str, raw: BinaryIO, opts: LoadOptions, total_bytes: int | None = None) -> Received:
    """Stream one file into a new upload job; returns once it is staged and queued.

    Raises LoadRefused when the file cannot be loaded at all; then nothing was written."""
    started = time.monotonic()
    src = _Source(raw, opts.encoding, opts.max_bytes, opts.compression)
    blocks = src.blocks()
    finder = _HeaderFinder(opts.user_map)
    n = 0
    leftover: list[tuple[int, bytes, tuple[str, str] | None]] = []
    for block, lines, bad in blocks:
        if lines is None:
            lines = block.split(b"\n")
        for i, line in enumerate(lines):
            n += 1
            if finder.offer(n, line, bad.get(i)):
                leftover = [(n + j, rest, bad.get(i + j)) for j, rest in enumerate(lines[i + 1:], 1)]
                n += len(leftover)
                break
            if finder.gave_up:
                break
        if finder.found is not None or finder.gave_up:
            break
    headers, hmap, delim = finder.result()
    ncols = len(headers)
    recorder = _Recorder(hmap, delim)
    columns = hmap.as_json()
    options = {"encoding": src.label, "date_order": opts.date_order, "delimiter": delim}
    if opts.user_map:
        options["map"] = opts.user_map

    control = psycopg.connect(url, autocommit=True)
    try:
        job_id = control.execute(
            "SELECT app.begin_upload(%s::text, %s::jsonb, %s::int, %s::jsonb, %s::boolean, %s::text, %s::uuid)",
            (opts.filename, json.dumps(columns), ncols, json.dumps(options), opts.dry_run, opts.source,
             opts.created_by)).fetchone()[0]
        try:
            writers = _Writers(url, f"upload_{job_id}", ncols, delim, recorder, max(1, opts.streams))
            batch: list[bytes] = []
            size = 0
            records = 0
            skipped = finder.skipped

            def emit(out: bytes) -> None:
                nonlocal size, records
                if out:
                    batch.append(out)
                    size += len(out)
                    records += 1

            assembler = _Assembler(recorder, emit)
            feed = assembler.feed
            for item in leftover:
                feed(*item)
            last_report = time.monotonic()
            for block, lines, bad in blocks:
                if block is not None:
                    fast = recorder.block(n + 1, block) if assembler.pending is None else None
                    if fast is not None:
                        out, blank, count = fast
                        batch.extend(out)
                        size += len(block)
                        records += len(out)
                        skipped += blank
                        n += count
                    else:
                        for line in block.split(b"\n"):
                            n += 1
                            feed(n, line, None)
                else:
                    for i, line in enumerate(lines):
                        n += 1
                        feed(n, line, bad.get(i))
                if size >= opts.batch_bytes:
                    writers.put(batch)
                    batch, size = [], 0
                    now = time.monotonic()
                    if now - last_report >= 0.5:
                        last_report = now
                        if opts.progress:
                            opts.progress(src.bytes, total_bytes, records)
                        percent = 100.0 * src.bytes / total_bytes if total_bytes else 0.0
                        control.execute("SELECT app.report_upload_progress(%s::bigint, %s::int, %s::bigint, %s::numeric)",
                                        (job_id, records, src.bytes, min(percent, 99.9)))
            assembler.finish()
            skipped += assembler.skipped
            if batch:
                writers.put(batch)
            writers.close()
            if opts.progress:
                opts.progress(src.bytes, total_bytes, records)
            # (how many lines the loader itself rejected: none lets the job skip a check pass)
            options["loader_rejects"] = recorder.rejects
            control.execute("SELECT app.finish_upload(%s::bigint, %s::int, %s::bigint, %s::int, %s::text, %s::jsonb)",
                            (job_id, records, src.bytes, skipped, src.sha.hexdigest(), json.dumps(options)))
        except BaseException as e:
            message = str(e) if isinstance(e, LoadRefused) else f"the upload failed while receiving: {e}"
            if isinstance(e, psycopg.Error):
                from .worker import describe_error  # a full disk said in words
                message = f"the upload failed while receiving: {describe_error(e)}"
            try:
                control.execute("SELECT app.abandon_upload(%s::bigint, %s::text)", (job_id, message[:2000]))
            except psycopg.Error:
                pass
            raise
    finally:
        control.close()
    return Received(job_id=job_id, lines=records, bytes=src.bytes, skipped=skipped,
                    rejected_by_loader=recorder.rejects, seconds=time.monotonic() - started,
                    delimiter=delim, encoding=src.label, columns=columns)


def load_file(url: str, path: str | os.PathLike, opts: LoadOptions) -> Received:
    """Stream the file at `path` into a new upload job (see load_stream)."""
    p = Path(path)
    try:
        f = open(p, "rb")
    except OSError as e:
        raise LoadRefused(f"cannot read {p}: {e.strerror}") from None
    with f:
        if opts.filename is None:
            opts.filename = p.name
        return load_stream(url, f, opts, total_bytes=os.fstat(f.fileno()).st_size)
