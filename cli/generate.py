"""`mangalm generate`: write a synthetic Zoho Books invoice-line export (see gateway/generate.py)."""
from __future__ import annotations

import io
import os
import sys
import time

import click

from gateway import generate as gen


def _progress_printer(total: int, enabled: bool):
    """A progress callback writing "rows, %, rate" to stderr, or None when it would be noise."""
    if not enabled:
        return None
    started = time.perf_counter()

    def report(done: int) -> None:
        rate = done / max(time.perf_counter() - started, 1e-9)
        pct = 100 * done / total if total else 100
        click.echo(f"\r{done:,} / {total:,} lines ({pct:.0f} %), {rate:,.0f} lines/s",
                   err=True, nl=done >= total)

    return report


def _write_stdout(lines, stores, products, seed, start, progress) -> int | None:
    """Stream the CSV to standard output; None when the reader went away early."""
    # Our own UTF-8 wrapper over the binary stream: the CSV's CRLF line ends and its encoding
    # must not depend on the platform or the terminal's locale.
    out = io.TextIOWrapper(click.open_file("-", "wb"), encoding="utf-8", newline="")
    try:
        return gen.write_csv(out, lines, stores, products, seed, start, progress)
    except BrokenPipeError:
        # `mangalm generate ... -o - | head` is not an error. Point stdout at /dev/null so the
        # final flush of the buffered rows cannot fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return None
    finally:
        out.flush()
        out.detach()


@click.command("generate")
@click.option("--lines", "-n", type=click.IntRange(min=0), required=True,
              help="Number of invoice lines (data rows, header excluded) to write; exact.")
@click.option("--stores", type=click.IntRange(min=1), default=gen.DEFAULT_STORES,
              show_default=True, help="Number of retail stores (customers) that order.")
@click.option("--products", type=click.IntRange(min=1), default=gen.DEFAULT_PRODUCTS,
              show_default=True, help="Number of products in the catalogue.")
@click.option("--seed", type=int, default=gen.DEFAULT_SEED, show_default=True,
              help="Random seed; the same arguments always give a byte-identical file.")
@click.option("--start-date", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              default=gen.DEFAULT_START_DATE.isoformat(), show_default=True,
              help="First possible invoice date (YYYY-MM-DD).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="CSV file to write; '-' writes to standard output.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def generate(lines, stores, products, seed, start_date, output, quiet):
    """Write a realistic, deterministic invoice-line CSV export (Zoho Books layout).

    Stores reorder on weekly, fortnightly or monthly rhythms with noise, holidays, late
    openers and churners; each buys a core basket plus Zipf-distributed extras, with product
    affinities, seasonality, returns, free goods, charges and void invoices. The timeline is
    sized so that LINES lines span a sensible period (the demo set, 14,464 lines with 211
    stores and 424 products, spans about seven months).

    \b
    Example:
      mangalm generate --lines 14464 -o demo.csv
      mangalm generate --lines 1000000 --seed 7 -o - | gzip > big.csv.gz
    """
    start = start_date.date()
    # Progress goes to stderr, and only to a terminal: logs and pipes get the final line only.
    progress = _progress_printer(lines, not quiet and sys.stderr.isatty())
    started = time.perf_counter()
    if output == "-":
        written = _write_stdout(lines, stores, products, seed, start, progress)
    else:
        try:
            written = gen.generate_file(output, lines, stores, products, seed, start, progress)
        except OSError as e:
            raise click.ClickException(
                f"cannot write {output}: {e.strerror or e}; check the folder exists and is writable"
            ) from e
    if not quiet and output != "-":
        click.echo(f"wrote {written:,} lines to {output} in {time.perf_counter() - started:.1f} s",
                   err=True)
