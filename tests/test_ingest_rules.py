"""The input rules of the invoice-line format, one small fixture each (tests/fixtures/ingest/),
loaded through the real loader (COPY) and app.process_bulk_upload_complete."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from gateway import loader
from ingest_helpers import FIXTURES, ingest, lines, rejects, rows, stage


def check_invariant(job: dict) -> None:
    assert job["status"] == "succeeded", job
    assert job["loaded"] + job["rejected"] == job["lines"], job


def test_zoho_export_becomes_every_table(conn, db_url):
    job = ingest(db_url, "basic.csv")
    check_invariant(job)
    assert (job["lines"], job["loaded"], job["rejected"], job["new_stores"], job["new_products"]) == (3, 3, 0, 2, 2)
    orders = rows(conn, "SELECT invoice_number, store_id, status, order_date, subtotal, tax_amount, total_amount, "
                        "item_count FROM data.orders WHERE invoice_number LIKE 'FX-B-%' ORDER BY 1")
    assert orders == [
        {"invoice_number": "FX-B-001", "store_id": "FX-C1", "status": "invoiced", "order_date": date(2024, 1, 15),
         "subtotal": Decimal("950.00"), "tax_amount": Decimal("47.50"), "total_amount": Decimal("997.50"), "item_count": 2},
        {"invoice_number": "FX-B-002", "store_id": "FX-C2", "status": "invoiced", "order_date": date(2024, 1, 16),
         "subtotal": Decimal("250.00"), "tax_amount": Decimal("12.50"), "total_amount": Decimal("262.50"), "item_count": 1}]
    store = rows(conn, "SELECT name, city, sales_person, source, first_order_date, last_order_date "
                       "FROM data.stores WHERE id = 'FX-C1'")[0]
    assert store == {"name": "Kirana One", "city": "Pune", "sales_person": "Rahul Deshmukh", "source": "import",
                     "first_order_date": date(2024, 1, 15), "last_order_date": date(2024, 1, 15)}
    items = rows(conn, """SELECT i.line_no, p.product_key, i.quantity, i.unit_price, i.line_total, i.tax_amount
                          FROM data.invoice_items i JOIN data.orders o ON o.id = i.order_id
                          JOIN data.products p ON p.id = i.product_id
                          WHERE o.invoice_number = 'FX-B-001' ORDER BY i.line_no""")
    assert [(i["line_no"], i["product_key"], i["quantity"], i["line_total"]) for i in items] == [
        (1, "FX-P1", Decimal("2"), Decimal("500.00")), (2, "FX-P2", Decimal("3"), Decimal("450.00"))]


def test_headers_match_aliases_case_and_spaces_and_unknown_columns_are_kept(conn, db_url):
    job = ingest(db_url, "aliases.csv")
    check_invariant(job)
    got = lines(conn, job["id"])
    assert [(l["invoice_number"], l["customer_id"], l["item_name"], l["sku"], l["quantity"], l["item_price"],
             l["billing_country"], l["extra"]) for l in got] == [
        ("FX-A-001", "FX-AC1", "Sugar 1 kg", "FX-AS1", Decimal("4"), Decimal("52"), "India", {"Route": "North-7"}),
        ("FX-A-001", "FX-AC1", "Tea 250 g", "FX-AS2", Decimal("1"), Decimal("140"), "India", {"Route": "North-7"})]
    # No Product ID: the SKU is the product key.
    assert {l["product_key"] for l in got} == {"FX-AS1", "FX-AS2"}


def test_map_file_maps_other_headers_and_a_semicolon_file_is_read(conn, db_url):
    user_map = loader.read_map_file(FIXTURES / "map.json")
    job = ingest(db_url, "mapped.csv", user_map=user_map)
    check_invariant(job)
    (line,) = lines(conn, job["id"])
    assert (line["invoice_number"], line["customer_name"], line["item_name"], line["quantity"], line["extra"]) == \
        ("FX-MAP-1", "Mapped Traders", "Washing Powder 1 kg", Decimal("6"), {"Memo": "deliver Monday"})
    # No Customer ID: the store id is derived from the name, the same every time.
    assert line["store_id"].startswith("NAME-")
    again = rows(conn, "SELECT app.store_key(NULL, 'Mapped Traders') AS k")[0]["k"]
    assert again == line["store_id"]


def test_csv_map_file(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("their header,our header\nBill No,Invoice Number\nPieces,quantity\n")
    assert loader.read_map_file(path) == {"Bill No": "Invoice Number", "Pieces": "quantity"}


def test_utf8_with_bom(conn, db_url):
    job = ingest(db_url, "bom.csv")
    check_invariant(job)
    assert job["loaded"] == 1
    assert lines(conn, job["id"])[0]["invoice_date"] == date(2024, 3, 1)


def test_latin1_needs_encoding_and_is_never_mojibake(conn, db_url):
    wrong = ingest(db_url, "latin1.csv")
    check_invariant(wrong)
    assert wrong["loaded"] == 0 and wrong["rejected"] == 1
    (rej,) = rejects(conn, wrong["id"])
    assert rej["line_no"] == 2 and "not valid utf-8" in rej["reason"] and "--encoding" in rej["reason"]
    assert "\\xe9" in rej["raw_line"]                      # the bad byte shown, not replaced by mojibake
    right = ingest(db_url, "latin1.csv", encoding="latin-1")
    check_invariant(right)
    (line,) = lines(conn, right["id"])
    assert (line["customer_name"], line["item_name"]) == ("Café Müller", "Crème Biscuits")


def test_invalid_utf8_line_is_rejected_alone(conn, db_url):
    job = ingest(db_url, "invalid_utf8.csv")
    check_invariant(job)
    assert (job["loaded"], job["rejected"]) == (2, 1)
    (rej,) = rejects(conn, job["id"])
    assert rej["line_no"] == 3 and "0xFF" in rej["reason"]
    assert [l["invoice_number"] for l in lines(conn, job["id"])] == ["FX-U-1", "FX-U-3"]


def test_header_in_another_encoding_is_refused_with_a_hint(conn, db_url):
    before = rows(conn, "SELECT count(*) AS n FROM data.upload_jobs")[0]["n"]
    with pytest.raises(loader.LoadRefused, match="--encoding"):
        stage(db_url, "Invoice Date,Invoice Number,Customer Name,Item Name,Quantity,Item Price,Caf\xe9\n".encode("latin-1"))
    assert rows(conn, "SELECT count(*) AS n FROM data.upload_jobs")[0]["n"] == before


def test_dates_are_day_first_by_default_and_month_first_on_request(conn, db_url):
    dmy = ingest(db_url, "slashed_dates.csv")
    check_invariant(dmy)
    assert [l["invoice_date"] for l in lines(conn, dmy["id"])] == [date(2024, 4, 3), date(2024, 1, 15)]
    mdy = ingest(db_url, "slashed_dates.csv", date_order="mdy")
    check_invariant(mdy)
    assert [l["invoice_date"] for l in lines(conn, mdy["id"])] == [date(2024, 3, 4)]
    (rej,) = rejects(conn, mdy["id"])
    assert rej["line_no"] == 3 and rej["column_name"] == "Invoice Date" and '"15/01/2024"' in rej["reason"]


def test_impossible_date_rejects_the_line(conn, db_url):
    job = ingest(db_url, "impossible_date.csv")
    check_invariant(job)
    (rej,) = rejects(conn, job["id"])
    assert (rej["line_no"], rej["column_name"]) == (2, "Invoice Date")
    assert "2024-02-30" in rej["reason"] and "not a valid date" in rej["reason"]
    assert [l["invoice_date"] for l in lines(conn, job["id"])] == [date(2024, 2, 29)]


def test_every_invalid_date_text_rejects_its_line_and_valid_ones_do_not(conn, db_url):
    # Each invalid date text rejects its line, naming its column; a text spelled like the marker
    # app.ingest_parse groups a missing column as ('absent:date1') is a cell like any other.
    text = ("Invoice Date,Invoice Number,Customer ID,Item Name,Quantity,Item Price,Due Date\n"
            "2024-02-30,FX-DL-1,FX-DLC,Thing,1,10,2024-03-01\n"
            "absent:date1,FX-DL-1,FX-DLC,Thing,1,10,\n"
            "2024-02-29,FX-DL-1,FX-DLC,Thing,1,10,31/04/2024\n"
            "2024-02-29,FX-DL-2,FX-DLC,Thing,1,10,2024-02-30\n"
            "29/02/2024,FX-DL-2,FX-DLC,Thing,1,10,\n")
    job = ingest(db_url, text)
    check_invariant(job)
    got = [(r["line_no"], r["column_name"], r["reason"]) for r in rejects(conn, job["id"])]
    hint = " is not a valid date (expected YYYY-MM-DD or DD/MM/YYYY; use --date-order mdy for MM/DD/YYYY)"
    assert got == [(2, "Invoice Date", 'Invoice Date: "2024-02-30"' + hint),
                   (3, "Invoice Date", 'Invoice Date: "absent:date1"' + hint),
                   (4, "Due Date", 'Due Date: "31/04/2024"' + hint),
                   (5, "Due Date", 'Due Date: "2024-02-30"' + hint)]
    assert [(l["source_line"], l["invoice_date"]) for l in lines(conn, job["id"])] == [(6, date(2024, 2, 29))]


def test_a_date_spelled_like_a_missing_columns_marker_rejects_its_line_not_the_job(conn, db_url):
    # The only bad cell of the file: no other check makes the validation run, so the date
    # look-up alone must see it (it once skipped texts starting 'absent:' and the job failed on
    # a NULL invoice date).
    text = ("Invoice Date,Invoice Number,Customer ID,Item Name,Quantity,Item Price\n"
            "absent:x,FX-AB-1,FX-ABC,Thing,1,10\n"
            "2024-02-29,FX-AB-2,FX-ABC,Thing,1,10\n")
    job = ingest(db_url, text)
    check_invariant(job)
    got = [(r["line_no"], r["column_name"], r["reason"]) for r in rejects(conn, job["id"])]
    assert got == [(2, "Invoice Date", 'Invoice Date: "absent:x" is not a valid date (expected YYYY-MM-DD or '
                                       'DD/MM/YYYY; use --date-order mdy for MM/DD/YYYY)')]
    assert [(l["source_line"], l["invoice_date"]) for l in lines(conn, job["id"])] == [(3, date(2024, 2, 29))]


def test_numbers_with_currency_marks_and_separators_are_read(conn, db_url):
    job = ingest(db_url, "currency.csv")
    check_invariant(job)
    assert job["rejected"] == 0
    got = [(l["quantity"], l["item_price"], l["item_total"], l["item_tax_amount"]) for l in lines(conn, job["id"])]
    assert got == [(Decimal("1200"), Decimal("1.5"), Decimal("1800"), Decimal("10")),
                   (Decimal("2"), Decimal("41"), Decimal("123456.78"), Decimal("0.5")),
                   (Decimal("1"), Decimal("70"), Decimal("-12"), Decimal("0"))]
    assert rows(conn, "SELECT timings ->> 'numbers' AS n FROM data.upload_jobs WHERE id = %s", job["id"])[0]["n"] == "careful"


def test_a_number_that_is_no_number_rejects_the_line_naming_the_column(conn, db_url):
    job = ingest(db_url, "bad_number.csv")
    check_invariant(job)
    (rej,) = rejects(conn, job["id"])
    assert (rej["line_no"], rej["column_name"]) == (2, "Quantity")
    assert rej["reason"] == 'Quantity: "12 pcs" is not a number'
    assert "12 pcs" in rej["raw_line"] and rej["raw_line"].startswith("2024-04-02,FX-X-1,")
    assert [l["item_name"] for l in lines(conn, job["id"])] == ["Shampoo"]


def csv_line(cells: list[str | None]) -> str:
    """A staged line as a CSV writer writes it: NULL as nothing, a value quoted when it is
    empty or holds a comma, a quote or a line break (the test's own oracle)."""
    return ",".join("" if c is None else '"' + c.replace('"', '""') + '"' if c == "" or any(x in c for x in ',"\r\n')
                    else c for c in cells)


@pytest.mark.parametrize("ncols", [1, 3, 45, 123])
def test_a_rejected_line_is_written_back_as_the_csv_line_of_its_cells(conn, ncols):
    # app.ingest_raw_line joins the cells of a line with nothing to quote at once and quotes the
    # others cell by cell; both ways, narrow and wide (123 columns), write the same line as
    # app.csv_cell per cell and as the test's own CSV writer.
    specials = [None, "", "plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "₹1,23,456.00", "आटा गेहूं", "'x", " "]
    lines_ = [["v%d" % i for i in range(ncols)], [None] * ncols, [""] * ncols]
    for k, v in enumerate(specials):
        for at in {0, ncols // 2, ncols - 1}:
            line = ["v%d" % i if (i + k) % 3 else None for i in range(ncols)]
            line[at] = v
            lines_.append(line)
    cols = ", ".join(f"c{i} text" for i in range(1, ncols + 1))
    conn.execute("BEGIN")
    try:
        conn.execute(f"CREATE TEMP TABLE raw_cells (n integer, {cols}) ON COMMIT DROP")
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO raw_cells VALUES (%s{', %s' * ncols})", [[n] + l for n, l in enumerate(lines_)])
        expr = conn.execute("SELECT app.ingest_raw_line(%s)", (ncols,)).fetchone()[0]
        per_cell = " || ',' || ".join(f"app.csv_cell(s.c{i})" for i in range(1, ncols + 1))
        got = conn.execute(f"SELECT {expr}, {per_cell} FROM raw_cells s ORDER BY n").fetchall()
    finally:
        conn.execute("ROLLBACK")
    assert [g[0] for g in got] == [csv_line(l) for l in lines_]
    assert [g[0] for g in got] == [g[1] for g in got]


def test_nan_is_no_number(conn, db_url):
    text = ("Invoice Date,Invoice Number,Customer ID,Item Name,Quantity,Item Price\n"
            "2024-05-02,FX-NAN-1,FX-NANC,Thing,NaN,10\n2024-05-02,FX-NAN-1,FX-NANC,Thing,1,10\n")
    job = ingest(db_url, text)
    check_invariant(job)
    (rej,) = rejects(conn, job["id"])
    assert rej["column_name"] == "Quantity" and "not a number" in rej["reason"]


def test_returns_free_goods_and_non_product_lines(conn, db_url):
    job = ingest(db_url, "special_lines.csv")
    check_invariant(job)
    got = {l["line_no"]: l for l in lines(conn, job["id"])}
    assert got[2]["is_return"] and got[2]["quantity"] == Decimal("-2") and got[2]["is_product"]
    assert got[3]["item_price"] == 0 and got[3]["is_product"] and not got[3]["is_return"]
    assert [(got[n]["item_name"], got[n]["is_product"], got[n]["product_key"]) for n in (4, 5, 6)] == [
        ("Shipping Charges", False, None), ("Bank charges", False, None), ("Discount", False, None)]
    # Non-product lines never become products; they are kept as lines without a product.
    names = {r["name"] for r in rows(conn, "SELECT name FROM data.products")}
    assert not names & {"Shipping Charges", "Bank charges", "Discount"}
    items = rows(conn, """SELECT i.line_no, i.product_id, i.is_product, i.is_return, i.line_total
                          FROM data.invoice_items i JOIN data.orders o ON o.id = i.order_id
                          WHERE o.invoice_number = 'FX-R-1' ORDER BY i.line_no""")
    assert [(i["line_no"], i["product_id"] is None, i["is_product"]) for i in items][3:] == [
        (4, True, False), (5, True, False), (6, True, False)]
    assert items[1]["is_return"] and items[1]["line_total"] == Decimal("-1380.00")
    # The order's total is net of the return (and includes the charges and the discount).
    order = rows(conn, "SELECT subtotal, total_amount FROM data.orders WHERE invoice_number = 'FX-R-1'")[0]
    assert order["subtotal"] == Decimal("5595.00") and order["total_amount"] == Decimal("5871.00")


def test_the_non_product_rule_is_a_setting(conn, db_url):
    conn.execute("""UPDATE data.settings SET value = value || '["\\\\mhandling fee\\\\M"]'::jsonb
                    WHERE key = 'non_product_patterns'""")
    try:
        text = ("Invoice Date,Invoice Number,Customer ID,Item Name,Quantity,Item Price\n"
                "2024-05-03,FX-NP-1,FX-NPC,Handling Fee,1,20\n")
        job = ingest(db_url, text)
        (line,) = lines(conn, job["id"])
        assert not line["is_product"]
    finally:
        conn.execute("UPDATE data.settings SET value = app.default_non_product_patterns() "
                     "WHERE key = 'non_product_patterns'")


def test_void_and_cancelled_invoices_are_kept_and_flagged(conn, db_url):
    job = ingest(db_url, "void.csv")
    check_invariant(job)
    got = {l["invoice_number"]: l["is_void"] for l in lines(conn, job["id"])}
    assert got == {"FX-V-1": True, "FX-V-2": True, "FX-V-3": False}
    orders = {r["invoice_number"]: r["status"] for r in
              rows(conn, "SELECT invoice_number, status FROM data.orders WHERE invoice_number LIKE 'FX-V-%'")}
    assert orders == {"FX-V-1": "void", "FX-V-2": "void", "FX-V-3": "invoiced"}
    # Void invoices do not count as the store's orders.
    store = rows(conn, "SELECT first_order_date, last_order_date FROM data.stores WHERE id = 'FX-VC1'")[0]
    assert store == {"first_order_date": date(2024, 4, 5), "last_order_date": date(2024, 4, 5)}


def test_text_is_kept_exactly(conn, db_url):
    job = ingest(db_url, "text_exact.csv")
    check_invariant(job)
    assert job["rejected"] == 0
    got = [l["item_name"] for l in lines(conn, job["id"])]
    assert got[:4] == ["Atta, 5 kg", "Dal\nsecond line", "=SUM(A1:A9)", "'; DROP TABLE data.stores; --"]
    assert got[4] == "Long note " + "x" * 20000
    assert got[5:] == ["आटा गेहूं 5 किलो 🌾", "மஞ்சள் தூள்", "Quoted, padded"]   # trimmed of blanks only
    assert {l["customer_name"] for l in lines(conn, job["id"])} == {'Shree "Ganesh" Kirana, Pune'}
    assert rows(conn, "SELECT count(*) AS n FROM data.stores")[0]["n"] > 0   # still there
    # The record with a line break inside quotes started on line 3 and ended on line 4.
    assert [l["source_line"] for l in lines(conn, job["id"])][:3] == [2, 3, 5]


def test_wrong_field_count_nul_and_open_quote_are_rejected_alone(conn, db_url):
    job = ingest(db_url, "bad_lines.csv")
    check_invariant(job)
    assert (job["lines"], job["loaded"], job["rejected"], job["skipped_lines"]) == (7, 4, 3, 1)
    got = {r["line_no"]: r for r in rejects(conn, job["id"])}
    assert set(got) == {3, 5, 7}
    assert "13 fields but the header has 14" in got[3]["reason"]
    assert "NUL" in got[5]["reason"] and "\\x00" in got[5]["raw_line"]
    assert "not closed" in got[7]["reason"]
    assert [l["source_line"] for l in lines(conn, job["id"])] == [2, 4, 6, 8]


def test_two_identical_lines_of_one_invoice_are_two_lines(conn, db_url):
    job = ingest(db_url, "twins.csv")
    check_invariant(job)
    assert [(l["invoice_number"], l["line_no"]) for l in lines(conn, job["id"])] == [("FX-2-1", 1), ("FX-2-1", 2)]
    assert rows(conn, "SELECT item_count FROM data.orders WHERE invoice_number = 'FX-2-1'")[0]["item_count"] == 2


def test_missing_required_column_is_refused_before_anything_is_written(conn, db_url):
    before = rows(conn, "SELECT (SELECT count(*) FROM data.upload_jobs) AS jobs, "
                        "(SELECT count(*) FROM pg_tables WHERE schemaname = 'staging') AS staged")[0]
    with pytest.raises(loader.LoadRefused) as err:
        stage(db_url, "missing_quantity.csv")
    message = str(err.value)
    assert "missing required column: Quantity" in message
    assert "'Invoice Date', 'Invoice Number', 'Customer ID', 'Item Name', 'Item Price'" in message
    after = rows(conn, "SELECT (SELECT count(*) FROM data.upload_jobs) AS jobs, "
                       "(SELECT count(*) FROM pg_tables WHERE schemaname = 'staging') AS staged")[0]
    assert after == before


def test_empty_file_is_refused(db_url):
    with pytest.raises(loader.LoadRefused, match="empty"):
        stage(db_url, b"")


def test_required_values_missing_on_a_line_reject_it(conn, db_url):
    text = ("Invoice Date,Invoice Number,Customer ID,Customer Name,Item Name,Quantity,Item Price,Item Total\n"
            "2024-05-04,,FX-RQC,Store,Thing,1,10,10\n"
            "2024-05-04,FX-RQ-1,,,Thing,1,10,10\n"
            "2024-05-04,FX-RQ-1,FX-RQC,Store,Thing,,10,10\n"
            "2024-05-04,FX-RQ-1,FX-RQC,Store,Thing,1,,\n"
            ",FX-RQ-1,FX-RQC,Store,Thing,1,10,10\n"
            "2024-05-04,FX-RQ-1,FX-RQC,Store,Thing,1,10,10\n")
    job = ingest(db_url, text)
    check_invariant(job)
    got = [(r["line_no"], r["column_name"]) for r in rejects(conn, job["id"])]
    assert got == [(2, "Invoice Number"), (3, "Customer ID"), (4, "Quantity"), (5, "Item Price"), (6, "Invoice Date")]
    assert job["loaded"] == 1


@pytest.mark.parametrize("name", ["basic.csv", "aliases.csv", "bom.csv", "invalid_utf8.csv", "slashed_dates.csv",
                                  "impossible_date.csv", "currency.csv", "bad_number.csv", "special_lines.csv",
                                  "void.csv", "text_exact.csv", "bad_lines.csv", "twins.csv"])
def test_invariant_loaded_plus_rejected_is_the_data_lines_of_the_file(conn, db_url, name):
    job = ingest(db_url, name, dry_run=True)
    check_invariant(job)
    staged = rows(conn, "SELECT count(*) AS n FROM data.upload_rejects WHERE job_id = %s", job["id"])[0]["n"]
    assert staged == job["rejected"]
