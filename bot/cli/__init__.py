"""`jejak` command line. Each command group lives in its own module and registers here."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    name="jejak",
    help="Jejak: tracer-study and job-placement chatbot for SMK graduates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    env_file: Path | None = typer.Option(
        None,
        "--env-file",
        envvar="JEJAK_ENV_FILE",
        metavar="FILE",
        help=(
            "Read the settings from FILE (KEY=value lines, the file systemd's EnvironmentFile= "
            "reads, e.g. /etc/jejak/jejak.env) instead of ./.env; environment variables still "
            "win."
        ),
    ),
) -> None:
    """Jejak: tracer-study and job-placement chatbot for SMK graduates."""
    from bot.cli.common import use_env_file

    source = ctx.get_parameter_source("env_file")  # typer's own click: compare by name
    from_environment = source is not None and source.name == "ENVIRONMENT"
    use_env_file(env_file, "JEJAK_ENV_FILE" if from_environment else "--env-file")


def _register() -> None:
    from bot.cli import commands  # noqa: F401  (imports every command module)


def main() -> None:
    _register()
    app()
