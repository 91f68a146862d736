"""Shared pieces of the `mangalm` commands: settings, and errors shown as one clear line."""
from __future__ import annotations

import functools

import click

from gateway.backup import BackupError
from gateway.cluster import ClusterError
from gateway.config import Settings
from gateway.db import DatabaseUnreachable
from gateway.stack import StackError

# Failures a person can act on: printed as "Error: ..." with exit status 1, no traceback.
USER_ERRORS = (BackupError, StackError, ClusterError, DatabaseUnreachable, ValueError, FileNotFoundError)


def friendly_errors(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as e:
            raise click.ClickException(str(e)) from None
    return wrapper


def settings() -> Settings:
    return Settings.from_env()
