"""`jejak` command line. Each command group lives in its own module and registers here.

`main` is the `jejak` command. An error that reaches it never goes to Python's traceback
printer (whose text would carry tokens, URLs and personal data in clear): a bad setting
(`bot.errors.SettingError`, `storage.db.DatabaseUnavailable`) becomes its one line; anything
else one redacted line (`bot.logs.redact`) and exit 1, with the whole traceback, redacted too,
when JEJAK_DEBUG=1 or LOG_LEVEL=DEBUG.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
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
    try:
        app()
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as exc:
        sys.exit(report_error(exc))


def _debug() -> bool:
    flag = os.environ.get("JEJAK_DEBUG", "").strip().lower()
    level = os.environ.get("LOG_LEVEL", "").strip().upper()
    return flag not in ("", "0", "false", "no") or level == "DEBUG"


def report_error(exc: BaseException) -> int:
    """Say what stopped the command, redacted, on one line (to the log when `jejak run` set
    logging up, else to stderr); the exit code."""
    from bot.errors import SettingError
    from bot.logs import redact
    from storage.db import DatabaseUnavailable

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, SettingError | DatabaseUnavailable):
        cause = cause.__cause__ or cause.__context__
    detail = None
    if isinstance(cause, SettingError):
        message, code = str(cause), cause.exit_code
    elif isinstance(cause, DatabaseUnavailable):
        message, code = str(cause), 2 if cause.setting else 1
    else:
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        message = f"unexpected error: {type(exc).__name__}" + (f": {first}" if first else "")
        code = 1
        if _debug():
            detail = "".join(traceback.format_exception(exc))
        else:
            message += " (JEJAK_DEBUG=1 shows the whole traceback, personal data masked)"
    message = redact(message)
    root = logging.getLogger()
    if any(getattr(h, "_jejak", False) for h in root.handlers):  # `jejak run`: its log format
        logging.getLogger("jejak").error(message + ("\n" + detail.rstrip() if detail else ""))
    else:
        print(f"jejak: {message}", file=sys.stderr, flush=True)
        if detail:
            print(redact(detail), file=sys.stderr, end="", flush=True)
    return code
