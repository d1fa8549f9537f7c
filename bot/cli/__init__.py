"""`jejak` command line. Each command group lives in its own module and registers here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="jejak",
    help="Jejak: tracer-study and job-placement chatbot for SMK graduates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Jejak: tracer-study and job-placement chatbot for SMK graduates."""


def _register() -> None:
    from bot.cli import commands  # noqa: F401  (imports every command module)


def main() -> None:
    _register()
    app()
