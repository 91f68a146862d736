"""The `mangalm` command: a thin front over gateway/ (every command has help text)."""
from __future__ import annotations

import click

from gateway import __version__

from .analytics import backtest, predict
from .generate import generate  # the demo/benchmark export generator
from .ingest import jobs, load, rejects  # ingest
from .ops import backup, restore
from .stack import down, failover, migrate, status, token, up
from .users import user


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mangalm")
def cli() -> None:
    """Mangalm Sales: invoice exports in; stores, predictions, segments and a live dashboard out.

    Settings come from the environment: MANGALM_HOME (state folder; default .mangalm in the
    checkout, or /var/lib/mangalm/<checkout>-<hash> as root; `mangalm status` shows it),
    DATABASE_URL (use that server instead of the embedded cluster), MANGALM_JWT_SECRET, and the
    ports MANGALM_HTTP_PORT (3007), MANGALM_POSTGREST_PORT (3008), MANGALM_SERVICE_PORT (3009),
    MANGALM_PG_PORT (3432), MANGALM_POSTGREST_ADMIN_PORT (3010), MANGALM_REPLICA_PORT (3433;
    MANGALM_REPLICA_URL with DATABASE_URL), MANGALM_POSTGREST_INSTANCES (1).
    """


for command in (up, down, status, migrate, token, user, backup, restore, predict, backtest,
                load, jobs, rejects, generate, failover):
    cli.add_command(command)

if __name__ == "__main__":
    cli()
