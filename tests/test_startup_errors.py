"""What `jejak` says when it cannot start: one clear line naming the setting, never a secret.

- a Telegram token the Bot API rejects (the fake answers 401): `jejak run` exits 2 naming
  TELEGRAM_BOT_TOKEN, with no traceback and without the token;
- a Bot API that cannot be reached at start: `jejak run` keeps serving, logs a warning and tries
  again until Telegram answers, then polls;
- a DATABASE_URL that cannot be used (unsupported database, not a URL, server refusing, folder
  not writable, login refused): every command says so on one line, password masked;
- any other error that reaches the top of `jejak` is printed redacted, never by Python's
  traceback printer.

Each runs the real `jejak` command in a subprocess (the way tests/test_scaleout.py does).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_AVAILABLE, PG_URL
from tests.fakes.telegram_api import FakeBotApi

ROOT = Path(__file__).resolve().parent.parent
JEJAK = [sys.executable, "-c", "from bot.cli import main; main()"]  # the `jejak` command
SECRET = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TOKEN = f"123456789:{SECRET}"  # shaped like a real token; the fake only accepts its own


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "WHATSAPP_", "DATABASE_", "SCHOOL_", "JEJAK_"))
    }
    env.update(
        PYTHONPATH=str(ROOT),
        COLUMNS="300",
        JEJAK_ENV_FILE="",
        DATABASE_URL=f"sqlite:///{tmp_path}/data/jejak.db",
        HTTP_HOST="127.0.0.1",
        HTTP_PORT="0",
        SCHOOL_NPSN="20100888",
        LOG_LEVEL="INFO",
    )
    env.update(settings)
    return env


def jejak(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*JEJAK, *args],
        cwd=tmp_path,
        env=_env(tmp_path, **settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def problems(result: subprocess.CompletedProcess) -> list[str]:
    """The lines of the output that are not routine INFO log lines."""
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if line.strip() and not re.search(r"\bINFO\b", line)]


def assert_no_traceback(output: str) -> None:
    assert "Traceback" not in output, output[-3000:]
    assert "Exception ignored" not in output, output[-3000:]
    assert "Unclosed" not in output, output[-3000:]


# ---- Telegram --------------------------------------------------------------------------------
def test_rejected_token_stops_jejak_run_with_one_line_naming_the_setting(tmp_path):
    with FakeBotApi() as api:  # answers 401 to any token but its own
        result = jejak(tmp_path, "run", TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=api.url)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert_no_traceback(output)
    assert SECRET not in output
    lines = problems(result)
    assert len(lines) == 1, lines
    assert "TELEGRAM_BOT_TOKEN was rejected by the Telegram Bot API" in lines[0]
    assert "@BotFather" in lines[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate, seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {log.read_text()[-3000:]}")


def test_unreachable_bot_api_at_start_is_retried_while_the_rest_serves(tmp_path):
    port = _free_port()  # nothing listens there yet: Telegram "down" when the server boots
    api = FakeBotApi(port=port)
    log = tmp_path / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*JEJAK, "run"],
            cwd=tmp_path,
            env=_env(
                tmp_path, TELEGRAM_BOT_TOKEN=api.token, TELEGRAM_API_URL=f"http://127.0.0.1:{port}"
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(lambda: "cannot be reached" in log.read_text(), 30, "the warning", log)
        assert proc.poll() is None, log.read_text()
        found = re.search(r"http: listening on 127\.0\.0\.1:(\d+)", log.read_text())
        assert found, log.read_text()
        health = httpx.get(f"http://127.0.0.1:{found.group(1)}/healthz", timeout=10).json()
        assert health["channels"]["telegram"]["ok"] is False, health
        warning = next(line for line in log.read_text().splitlines() if "cannot be reached" in line)
        assert "WARNING" in warning and "trying again in" in warning
        # Telegram comes back: the next try gets through and the bot polls
        api.start()
        _wait_for(lambda: "telegram: long polling" in log.read_text(), 30, "polling", log)
        api.push_command(7100001, "start")
        _wait_for(lambda: api.texts(7100001), 30, "a reply", log)
    finally:
        proc.terminate()
        code = proc.wait(30)
        api.stop()
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert_no_traceback(output)


def test_stopping_jejak_run_while_it_waits_for_the_bot_api_exits_cleanly(tmp_path):
    log = tmp_path / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*JEJAK, "run"],
            cwd=tmp_path,
            env=_env(
                tmp_path,
                TELEGRAM_BOT_TOKEN=TOKEN,
                TELEGRAM_API_URL=f"http://127.0.0.1:{_free_port()}",
            ),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(lambda: "cannot be reached" in log.read_text(), 30, "the warning", log)
    finally:
        proc.terminate()
        code = proc.wait(30)
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert_no_traceback(output)
    assert SECRET not in output


# ---- DATABASE_URL ----------------------------------------------------------------------------
COMMANDS = [("migrate",), ("school", "list"), ("roster", "import", "roster.csv"), ("run",)]


def _bad_urls(tmp_path: Path) -> list[tuple[str, int, str]]:
    not_a_folder = tmp_path / "plain-file"
    not_a_folder.write_text("")
    return [
        ("postgresql://jejak:s3cretpw@127.0.0.1:1/jejak", 1, "connection refused"),
        ("mysql://jejak:s3cretpw@db.example/jejak", 2, "unsupported database 'mysql'"),
        ("postgresql+psycopg2://jejak:s3cretpw@127.0.0.1/jejak", 2, "unsupported driver"),
        ("jejak:s3cretpw@db", 2, "not a database URL"),
        (f"sqlite:///{not_a_folder}/jejak.db", 2, "is not writable or does not exist"),
    ]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_an_unusable_database_url_is_one_line_naming_it_in_every_command(tmp_path, command):
    (tmp_path / "roster.csv").write_text("nisn,nama\n0012345678,Budi\n")
    for url, code, reason in _bad_urls(tmp_path):
        result = jejak(tmp_path, *command, DATABASE_URL=url)
        output = result.stdout + result.stderr
        assert result.returncode == code, (url, output[-3000:])
        assert_no_traceback(output)
        assert "s3cretpw" not in output
        lines = problems(result)
        assert len(lines) == 1, (url, lines)
        assert "DATABASE_URL" in lines[0] and reason in lines[0], (url, lines)
        if "@" in url and "://" in url:
            assert "jejak:***@" in lines[0]


@pytest.mark.skipif(not PG_AVAILABLE, reason=f"no PostgreSQL reachable at {PG_URL}")
def test_a_login_postgresql_refuses_is_named_as_such(tmp_path):
    host = PG_URL.split("@", 1)[1].split("/", 1)[0]
    url = f"postgresql://no_such_jejak_role:s3cretpw@{host}/postgres"
    for command in (("migrate",), ("run",)):
        result = jejak(tmp_path, *command, DATABASE_URL=url)
        output = result.stdout + result.stderr
        assert result.returncode == 2, output[-3000:]
        assert_no_traceback(output)
        assert "s3cretpw" not in output
        lines = problems(result)
        assert len(lines) == 1 and "DATABASE_URL" in lines[0], lines
        assert "authentication failed" in lines[0]


# ---- anything else -------------------------------------------------------------------------
def test_an_unexpected_error_at_the_top_of_jejak_is_redacted(tmp_path, capsys, monkeypatch):
    from bot.cli import report_error

    def failing() -> None:
        raise RuntimeError(f"boom for NISN 0012345678 via https://api.telegram.org/bot{TOKEN}/x")

    monkeypatch.delenv("JEJAK_DEBUG", raising=False)
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    try:
        failing()
    except RuntimeError as exc:
        assert report_error(exc) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "unexpected error: RuntimeError: boom" in err and "JEJAK_DEBUG=1" in err
    assert SECRET not in err and "0012345678" not in err

    monkeypatch.setenv("JEJAK_DEBUG", "1")
    try:
        failing()
    except RuntimeError as exc:
        assert report_error(exc) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "in failing" in err  # the whole traceback, redacted
    assert SECRET not in err and "0012345678" not in err


def test_the_jejak_command_sends_uncaught_errors_through_the_redacting_handler(tmp_path):
    """A database file that is not SQLite fails in a way no command expects: `jejak` prints one
    line (the whole traceback with JEJAK_DEBUG=1), both through `report_error` (whose redaction
    the test above checks), never Python's own printer."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "jejak.db").write_bytes(b"this is not a database " * 100)
    url = f"sqlite:///{folder}/jejak.db"
    result = jejak(tmp_path, "migrate", DATABASE_URL=url)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    lines = problems(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith("jejak: unexpected error: DatabaseError"), lines
    assert "JEJAK_DEBUG=1" in lines[0]

    debug = jejak(tmp_path, "migrate", DATABASE_URL=url, JEJAK_DEBUG="1")
    output = debug.stdout + debug.stderr
    assert debug.returncode == 1
    assert output.startswith("jejak: unexpected error: DatabaseError"), output[:300]
    assert "Traceback (most recent call last)" in output
