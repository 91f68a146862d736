"""The loader's reading of CSV, without a database: header mapping, delimiters, and that what it
hands to COPY means exactly the fields of the file, whichever of its paths a line takes."""
from __future__ import annotations

import csv
import io
import random

import pytest

from gateway import loader


def test_normalize_header():
    assert loader.normalize_header(" Invoice No. ") == "invoiceno"
    assert loader.normalize_header("Item Tax %") == "itemtaxpct"
    assert loader.normalize_header("HSN/SAC") == "hsnsac"
    assert loader.normalize_header("customer_id") == "customerid"


def test_map_headers_exact_alias_and_extra():
    m = loader.map_headers(["InvoiceNo", "InvoiceDate", "CustomerID", "Description", "Quantity", "UnitPrice",
                            "StockCode", "Country", "Route", "Route"])
    assert m.fields["invoice_number"] == 0 and m.fields["invoice_date"] == 1 and m.fields["customer_id"] == 2
    assert m.fields["item_name"] == 3 and m.fields["item_price"] == 5 and m.fields["sku"] == 6
    assert m.fields["billing_country"] == 7
    assert m.extra == [("Route", 8), ("Route (2)", 9)]
    assert m.missing == []


def test_description_is_the_item_description_when_there_is_an_item_name():
    m = loader.map_headers(["Invoice Number", "Invoice Date", "Customer Name", "Item Name", "Description",
                            "Quantity", "Item Total"])
    assert m.fields["item_name"] == 3 and m.fields["item_desc"] == 4


def test_missing_columns_are_named():
    m = loader.map_headers(["Invoice Date", "Customer ID", "Item Name"])
    assert m.missing == ["Invoice Number (or Invoice ID)", "Quantity", "Item Price (or Item Total)"]


def test_user_map_wins_and_can_keep_a_column_as_extra():
    m = loader.map_headers(["Bill", "When", "Who", "What", "Qty", "Rate", "Status"],
                           {"Bill": "Invoice Number", "When": "invoice_date", "Who": "Customer Name",
                            "What": "Item Name", "Status": "extra"})
    assert m.missing == [] and ("Status", 6) in m.extra
    with pytest.raises(loader.LoadRefused, match="not a column"):
        loader.map_headers(["A"], {"A": "Colour"})


@pytest.mark.parametrize("line,delim", [("a,b,c", ","), ("a;b;c", ";"), ("a\tb\tc", "\t"), ("a|b|c", "|"),
                                        ('"x;y",b,c', ",")])
def test_delimiter_is_sniffed(line, delim):
    assert loader._sniff_delimiter(line) == delim


# --- what COPY receives ------------------------------------------------------------------------

class _Capture:
    """Stands in for the COPY writers and the control connection: keeps the COPY lines."""
    lines: list[bytes] = []

    def __init__(self, *args, **kwargs):
        pass

    def put(self, batch):
        _Capture.lines.extend(batch)

    def close(self):
        pass


class _Conn:
    def execute(self, *args, **kwargs):
        return self

    def fetchone(self):
        return (1,)

    def close(self):
        pass


@pytest.fixture
def offline(monkeypatch):
    _Capture.lines = []
    monkeypatch.setattr(loader, "_Writers", _Capture)
    monkeypatch.setattr(loader.psycopg, "connect", lambda *a, **k: _Conn())
    return _Capture


def copy_rows(lines: list[bytes], ncols: int) -> list[tuple]:
    """Parse COPY lines the way COPY (FORMAT csv) does: line_no, pos, reject, c1..cn."""
    out = []
    for line in lines:
        row = next(csv.reader([line.decode()[:-1]]))
        assert len(row) == ncols + 3, line
        out.append((int(row[0]), row[1], row[2], row[3:]))
    return out


HEADER = ["Invoice Date", "Invoice Number", "Customer Name", "Item Name", "Quantity", "Item Price", "Notes"]
PIECES = ["plain", "with, comma", 'say "hi"', "two\nlines", "  padded  ", "\tTab", "12\" pipe", "", "₹ 5",
          "Ünïcödé", "'; DROP", "=1+1", "a,\"b\",c", " ", "x" * 300]


def random_rows(n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        inv = f"INV-{rng.randrange(40)}"
        rows.append(["2024-01-01", inv, rng.choice(PIECES), rng.choice(PIECES), str(rng.randrange(9)),
                     rng.choice(PIECES), rng.choice(PIECES)])
    return rows


def as_csv(header, rows, lineterminator="\r\n") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=lineterminator)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


@pytest.mark.parametrize("seed,eol", [(1, "\r\n"), (2, "\n"), (3, "\r\n")])
def test_copy_gets_exactly_the_fields_trimmed(offline, seed, eol):
    rows = random_rows(3000, seed)
    data = as_csv(HEADER, rows, eol)
    received = loader.load_stream("x", io.BytesIO(data), loader.LoadOptions(batch_bytes=1 << 14))
    assert received.lines == len(rows) and received.rejected_by_loader == 0
    got = copy_rows(offline.lines, len(HEADER))
    got.sort()
    assert [g[3] for g in got] == [[f.strip(" \t\r\n") for f in r] for r in rows]
    # line numbers are physical lines: a record with a line break inside takes two
    expected, n = [], 2
    for r in rows:
        expected.append(n)
        n += 1 + sum(f.count("\n") for f in r)
    assert [g[0] for g in got] == expected
    # positions count each invoice's lines in file order
    seen: dict[str, int] = {}
    for g, r in zip(got, rows):
        seen[r[1]] = seen.get(r[1], 0) + 1
        assert int(g[1]) == seen[r[1]]


def test_the_block_path_and_the_line_path_agree(offline, monkeypatch):
    rows = [["2024-01-01", f"INV-{i % 7}", "Store", f"Item {i}", str(i), "10", "note, with comma"] for i in range(2000)]
    data = as_csv(HEADER, rows)
    loader.load_stream("x", io.BytesIO(data), loader.LoadOptions())
    fast = list(offline.lines)
    assert fast, "nothing staged"
    offline.lines = []
    monkeypatch.setattr(loader._Recorder, "block", lambda self, first, block: None)
    loader.load_stream("x", io.BytesIO(data), loader.LoadOptions())
    assert offline.lines == fast


def load_on_the_block_path(data: bytes, monkeypatch) -> "loader.Received":
    """Loads data in 4 KiB blocks (many after the header's) and checks that every one of them
    took the block path, none the line path."""
    monkeypatch.setattr(loader, "CHUNK", 4096)
    taken = []
    block = loader._Recorder.block
    monkeypatch.setattr(loader._Recorder, "block",
                        lambda self, first, b: taken.append(block(self, first, b)) or taken[-1])
    received = loader.load_stream("x", io.BytesIO(data), loader.LoadOptions())
    assert taken and all(t is not None for t in taken), "a block left the block path"
    return received


def test_an_invoices_lines_in_a_row_count_positions_as_the_line_path_does(offline, monkeypatch):
    # The block path gives a line that starts with the same fields as the line before, up to
    # the invoice number, the next position without reading its key again. Runs here are broken
    # by another invoice, by the same invoice under another date (same key, other first
    # fields), by a quoted invoice number and by a line too short to hold one; an invoice seen
    # before goes on counting where it stopped, across blocks.
    rows = []
    for i in range(3000):
        inv = f"INV-{(i // 5) % 40}"
        date = "2024-01-02" if i % 17 == 0 else "2024-01-01"
        if i % 101 == 0:
            rows.append(f'{date},"{inv}",Store,Item {i},{i},10,note')
        elif i % 211 == 0:
            rows.append(f"{date},{inv}")
        else:
            rows.append(f"{date},{inv},Store,Item {i},{i},10,note")
    data = (",".join(HEADER) + "\n" + "\n".join(rows) + "\n").encode()
    load_on_the_block_path(data, monkeypatch)
    fast = list(offline.lines)
    positions = [int(l.split(b",")[1] or 0) for l in fast]
    assert max(positions) > 5                                  # invoices seen again go on counting
    offline.lines = []
    monkeypatch.setattr(loader._Recorder, "block", lambda self, first, b: None)
    loader.load_stream("x", io.BytesIO(data), loader.LoadOptions())
    assert offline.lines == fast


@pytest.mark.parametrize("block", [b"a,b\r\nc,d\r\ne", b"a\r\n\r\nb\r\n", b"a\rb\r\nc", b"a\r\r\nb", b"\r\na\r",
                                   b"\r", b"\r\n", b"no cr", b"", b"a\n\rb"])
def test_crlf_made_lf_as_replace_does(block):
    # The faster CRLF -> LF is replace() exactly, stray CRs (kept for the line path) included.
    assert loader._crlf_to_lf(block) == block.replace(b"\r\n", b"\n")


@pytest.mark.parametrize("stray", [False, True])
def test_a_crlf_file_stages_what_replace_made_of_it(offline, monkeypatch, stray):
    # Every block ends with the CR of the line it was cut after (taken off before the CRLFs are
    # made LF); a stray CR inside a line stays, and sends its block to the line path.
    rows = [["2024-01-01", f"INV-{i % 13}", "Store", f"Item {i}", str(i), "10", "note, with comma"]
            for i in range(3000)]
    if stray:
        rows[1500][3] = "Item\rwith a CR"
    data = as_csv(HEADER, rows, "\r\n")
    monkeypatch.setattr(loader, "CHUNK", 4096)                # many blocks after the header's
    staged = []
    for crlf_to_lf in (loader._crlf_to_lf, lambda block: block.replace(b"\r\n", b"\n")):
        monkeypatch.setattr(loader, "_crlf_to_lf", crlf_to_lf)
        offline.lines = []
        received = loader.load_stream("x", io.BytesIO(data), loader.LoadOptions())
        assert received.lines == 3000 and received.rejected_by_loader == 0
        staged.append(list(offline.lines))
    assert staged[0] == staged[1]                             # the COPY lines, byte for byte
    assert not any(line.endswith(b"\r\n") for line in staged[0])
    assert [b"Item\rwith a CR" in line for line in staged[0]].count(True) == (1 if stray else 0)


@pytest.mark.parametrize("quoted", [False, True])
def test_blanks_next_to_delimiters_are_trimmed_on_the_block_path(offline, monkeypatch, quoted):
    # Like the real export (a blank after the item name on one line in five): such blocks are
    # trimmed whole, and stage exactly what the line path (csv.reader, then strip) stages.
    rows = []
    for i in range(3000):
        name = ["Mug ", " Mug", "  Mug  Big ", "Mug"][i % 4]
        # quoted: blanks just inside the quotes, doubled quotes (""), a blank-only value
        note = (['"MIRROR, "', '" 7"" FRAME "', '"a ""  "', '"  "', '""'][i % 5] if quoted and i % 3 == 0
                else "note" + (" " if i % 5 == 0 else ""))
        rows.append(f"{' ' if i % 7 == 0 else ''}2024-01-01,INV-{i % 11} , Store,{name},{i} ,10,{note}")
        if i % 500 == 0:
            rows.append("  ,  , ")                    # a line of blanks and delimiters: not a data line
    data = (",".join(HEADER) + "\n" + "\n".join(rows) + "\n").encode()
    received = load_on_the_block_path(data, monkeypatch)
    assert received.lines == 3000 and received.skipped == 6
    fast = copy_rows(offline.lines, len(HEADER))
    expected = [[f.strip(" ") for f in r] for r in csv.reader(io.StringIO("\n".join(rows)))
                if any(f.strip() for f in r)]
    assert [g[3] for g in fast] == expected
    offline.lines = []
    monkeypatch.setattr(loader._Recorder, "block", lambda self, first, b: None)
    loader.load_stream("x", io.BytesIO(data), loader.LoadOptions())
    assert copy_rows(offline.lines, len(HEADER)) == fast      # line numbers and positions too


def test_bad_records_become_staged_rejects(offline):
    data = (b"Invoice Date,Invoice Number,Customer Name,Item Name,Quantity,Item Price\n"
            b"2024-01-01,A,S,I,1,1\n"
            b"2024-01-01,A,S,I,1\n"                       # a field too few: COPY refuses it (below)
            b'2024-01-01,A,"S,I,1,1\n'                    # a quote never closed
            b"2024-01-01,A,S\xff,I,1,1\n"                 # not UTF-8
            b"2024-01-01,A,S\x00,I,1,1\n"                 # a NUL byte
            b"2024-01-01,A,S,I,2,1\n")
    received = loader.load_stream("x", io.BytesIO(data), loader.LoadOptions())
    assert received.lines == 6 and received.rejected_by_loader == 3
    by_line = {int(l.split(b",", 1)[0]): l for l in offline.lines}
    assert set(by_line) == {2, 3, 4, 5, 6, 7}
    rejects = {n: copy_rows([by_line[n]], 6)[0] for n in (4, 5, 6)}
    assert "not closed" in rejects[4][2] and "utf-8" in rejects[5][2] and "NUL" in rejects[6][2]
    assert rejects[4][3][0] == '2024-01-01,A,"S,I,1,1'     # the raw line of a reject is kept
    # The field count is COPY's to check (no scan per line here): a line COPY refuses makes the
    # writer check its batch line by line (the slow path), which rejects it or repairs it.
    assert by_line[3] == b"3,2,,2024-01-01,A,S,I,1\n"
    recorder = loader._Recorder(loader.map_headers(["Invoice Date", "Invoice Number", "Customer Name", "Item Name",
                                                    "Quantity", "Item Price"]), ",")
    assert b"has 5 fields but the header has 6" in recorder.slow(3, b"2024-01-01,A,S,I,1")
    assert recorder.slow(5, b"2024-01-01,A,S,I,1,1,,,") == b'5,1,,"2024-01-01","A","S","I","1","1"\n'


def test_unclosed_quote_rejects_only_its_line(offline):
    data = (b"Invoice Date,Invoice Number,Customer Name,Item Name,Quantity,Item Price\n"
            b'2024-01-01,A,"S,I,1,1\n'
            + b"2024-01-01,A,S,I,1,1\n" * 600)
    received = loader.load_stream("x", io.BytesIO(data), loader.LoadOptions())
    assert received.lines == 601 and received.rejected_by_loader == 1


def test_utf16_with_bom_is_read(offline):
    text = "Invoice Date,Invoice Number,Customer Name,Item Name,Quantity,Item Price\n2024-01-01,A,Café,Chai,1,1\n"
    received = loader.load_stream("x", io.BytesIO(text.encode("utf-16")), loader.LoadOptions())
    assert received.encoding == "utf-16" and received.lines == 1
    assert copy_rows(offline.lines, 6)[0][3][2] == "Café"


def test_preamble_and_sep_line_are_skipped(offline):
    data = (b"Sales export, March\n\nsep=;\n"
            b"Invoice Date;Invoice Number;Customer Name;Item Name;Quantity;Item Price\n"
            b"2024-01-01;A;S;I;1;1\n")
    received = loader.load_stream("x", io.BytesIO(data), loader.LoadOptions())
    assert (received.lines, received.delimiter, received.skipped) == (1, ";", 3)
    assert copy_rows([l.replace(b";", b",") for l in offline.lines], 6)[0][0] == 5


def test_the_export_columns_are_one_list_read_by_the_loader_the_generator_and_sql(conn):
    from gateway import generate

    in_sql = conn.execute("SELECT field, kind, header FROM app.ingest_fields() ORDER BY ord").fetchall()
    assert [tuple(r) for r in in_sql] == loader.EXPORT_FIELDS
    assert len(in_sql) == 41 and ("item_tax_pct", "pct", "Item Tax %") in loader.EXPORT_FIELDS
    assert generate.COLUMNS == [h for _, _, h in loader.EXPORT_FIELDS]
    assert loader.map_headers(generate.COLUMNS).fields == {f: i for i, (f, _, _) in enumerate(loader.EXPORT_FIELDS)}


def test_gzip_is_unpacked_a_block_at_a_time_whatever_the_ratio():
    """Constant memory: 64 MB of one repeated line gzips to ~70 kB, a single read of the
    compressed input; the unpacking still hands out at most one block (CHUNK) per step."""
    import gzip

    line = b"2024-01-01,INV-1,C1,Store,Item,1,10\n"
    plain = line * ((64 << 20) // len(line))
    packed = gzip.compress(plain, compresslevel=9)
    assert len(packed) < loader.CHUNK
    raw = io.BytesIO(packed)
    unpack = loader._Gunzip(lambda: raw.read(loader.CHUNK), b"")
    sizes, total = [], 0
    while chunk := unpack.read():
        sizes.append(len(chunk))
        total += len(chunk)
    assert total == len(plain) and max(sizes) <= loader.CHUNK and len(sizes) >= 64


def test_a_cut_off_gzip_stream_is_refused():
    import gzip

    packed = gzip.compress(b"Invoice Date,Invoice Number\n" * 1000)
    raw = io.BytesIO(packed[:-9])
    unpack = loader._Gunzip(lambda: raw.read(1024), b"")
    with pytest.raises(loader.LoadRefused, match="not valid gzip"):
        while unpack.read():
            pass
