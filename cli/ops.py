"""mangalm backup / restore: the sales history is the business."""
from __future__ import annotations

from pathlib import Path

import click

from gateway.backup import backup as run_backup, restore as run_restore

from .common import friendly_errors, settings


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@friendly_errors
def backup(file: Path) -> None:
    """Write the whole database to FILE (pg_dump custom format)."""
    size = run_backup(settings(), file)
    click.echo(f"Wrote {file} ({size / 1e6:.1f} MB).")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@friendly_errors
def restore(file: Path, yes: bool) -> None:
    """Replace the running stack's data with the backup in FILE.

    The backup is loaded beside the live database and swapped in at the end, so a failed
    restore leaves the current data as it was.
    """
    if not yes and not click.confirm(f"Replace all current data with {file}?", default=False):
        raise click.ClickException("cancelled; nothing was changed")
    run_restore(settings(), file)
    click.echo(f"Restored {file}.")
