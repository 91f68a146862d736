"""CSV cells that are safe to open in a spreadsheet: text from uploads (store and product names,
reasons, raw lines) must never run as a formula (CSV injection). One rule for every CSV the
system writes: the rejects (CLI and HTTP) and `mangalm predict --csv`."""
from __future__ import annotations

# A cell a spreadsheet would take for a formula starts with one of these (tab and CR can hide one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(cell) -> str:
    """The cell as text, with a leading ' when a spreadsheet would read it as a formula."""
    if cell is None:
        return ""
    cell = str(cell)
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell
