"""Every command documents itself: a command without help text fails here."""
import subprocess
import sys

import click
import pytest

from cli.main import cli


def walk(group: click.Group, prefix=()):
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from walk(command, (*prefix, name))


COMMANDS = list(walk(cli))


def test_the_expected_commands_exist():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"up", "down", "status", "migrate", "token", "user", "user add"} <= names


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_command_has_help(path, command):
    assert (command.help or "").strip(), f"`mangalm {' '.join(path)}` has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip() or param.name == "help", \
                f"option {param.opts} of `mangalm {' '.join(path)}` has no help text"


def test_help_runs_from_the_installed_entry_point():
    out = subprocess.run([sys.executable, "-m", "cli.main", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "Commands:" in out.stdout and "up" in out.stdout
