"""`--help` of the commands: boolean options show as flags (no value), choices are complete."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bot.cli import _register, app
from storage.staff import ROLES

runner = CliRunner()
_register()


def help_of(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (("demo",), "--keep"),
        (("invite", "revoke"), "--all"),
        (("vacancy", "add"), "--publish"),
        (("staff", "list"), "--all"),
    ],
)
def test_boolean_options_show_as_flags(command, flag):
    text = help_of(*command)
    lines = [line for line in text.splitlines() if f"{flag} " in line]
    assert lines, text
    for line in lines:
        # typer 0.29.0-0.29.2 render "--keep <bool>", as if it took a value
        assert "<bool>" not in line and "BOOLEAN" not in line, line
    help_line = next(line for line in text.splitlines() if "--help" in line)
    assert "<bool>" not in help_line


def test_flag_takes_no_value():
    result = runner.invoke(app, ["invite", "revoke", "--all", "true"], env={"COLUMNS": "80"})
    assert result.exit_code == 2
    assert "unexpected extra argument" in result.output.lower()


@pytest.mark.parametrize("command", [("staff", "add"), ("staff", "invite")])
def test_staff_role_help_names_every_role(command):
    text = " ".join(help_of(*command).replace("│", " ").split())
    role_help = text.split("--role", 1)[1].split(" --", 1)[0]  # up to the next option
    for role in ROLES:
        assert role in role_help, (role, role_help)
