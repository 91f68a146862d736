"""Helpers of the analytics tests: real invoice lines (tests/fixtures/online_retail_slice.csv.gz,
a fixed slice of the UCI Online Retail II export) or a generated export, loaded through the real
pipeline (gateway/loader.py and one upload job, the analytics refresh included)."""
from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from gateway.generate import generate_file
from ingest_helpers import ingest

SLICE = Path(__file__).resolve().parent / "fixtures" / "online_retail_slice.csv.gz"
SLICE_LINES = 19_470


def plain_slice(folder: Path) -> Path:
    """The slice as a plain CSV in `folder` (the loader reads uncompressed files)."""
    path = folder / "online_retail_slice.csv"
    if not path.exists():
        with gzip.open(SLICE, "rb") as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return path


def load_file(db_url: str, path: Path) -> dict:
    """Load `path` through the loader and one upload job; returns the job's row."""
    row = ingest(db_url, path)
    assert row["status"] == "succeeded", row.get("last_error")
    return row


def load_slice(db_url: str, folder: Path) -> dict:
    """Load the real slice; returns the job's row."""
    return load_file(db_url, plain_slice(folder))


def load_generated(db_url: str, folder: Path, lines: int, **kwargs) -> dict:
    """Generate (deterministic) and load an export of `lines` lines; returns the job's row."""
    tag = "_".join(f"{k}{v}" for k, v in sorted(kwargs.items()))
    path = folder / f"generated_{lines}{'_' + tag if tag else ''}.csv"
    if not path.exists():
        generate_file(path, lines, **kwargs)
    return load_file(db_url, path)
