"""The settings a CLI command runs with, and what it may do to the configured school:

- `jejak --env-file FILE` / JEJAK_ENV_FILE reads a systemd EnvironmentFile (unquoted values with
  spaces) instead of ./.env; a missing file stops the command before anything is opened;
- CLI commands create the configured school when it is missing but never rename it or change
  its zone (`jejak run` applies SCHOOL_NAME / TIMEZONE at start, only those that are set);
- without SCHOOL_NPSN, commands about the default school refuse instead of creating the
  placeholder school 00000000; `--school NPSN` and `jejak school ...` still work.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.app import build_core
from bot.cli import _register, app
from bot.runner import start
from bot.settings import Settings
from storage.db import Database
from storage.models import School
from tests.harness import flat
from tests.test_schools import ROSTER_A

runner = CliRunner()
_register()

UNSET = ("SCHOOL_NAME", "SCHOOL_NPSN", "TIMEZONE", "DATABASE_URL", "JEJAK_ENV_FILE")
UNSET += (
    "TELEGRAM_BOT_TOKEN",
    "WHATSAPP_ACCESS_TOKEN",
)  # no channel: `outreach tick` sends nothing


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.csv").write_text(ROSTER_A, encoding="utf-8")
    return tmp_path


def jejak(env: dict, *args: str):
    # None unsets: nothing from the test process's own environment leaks in
    base: dict[str, str | None] = {**dict.fromkeys(UNSET), "TELEGRAM_BOT_USERNAME": "jejak_bot"}
    result = runner.invoke(app, list(args), env={**base, "COLUMNS": "200", **env})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def schools(url: str) -> list[tuple[str, str, str]]:
    async def go():
        db = Database(url)
        try:
            async with db.session() as s:
                rows = (await s.execute(select(School).order_by(School.npsn))).scalars()
                return [(r.npsn, r.name, r.timezone) for r in rows]
        finally:
            await db.dispose()

    return asyncio.run(go())


# ---- --env-file ---------------------------------------------------------------------------
SYSTEMD_ENV = """\
# /etc/jejak/jejak.env as systemd's EnvironmentFile= reads it: no quotes around spaces
SCHOOL_NAME=SMK Negeri 1 Contoh
SCHOOL_NPSN=20212345

TIMEZONE=Asia/Makassar
DATABASE_URL=sqlite+aiosqlite:///{db}
RETENTION_TEXT_ID=5 tahun setelah kelulusan
"""


@pytest.mark.parametrize("how", ["option", "JEJAK_ENV_FILE"])
def test_env_file_with_unquoted_spaces_is_read_instead_of_dot_env(cwd, how):
    db_file = cwd / "served" / "jejak.db"
    env_file = cwd / "jejak.env"
    env_file.write_text(SYSTEMD_ENV.format(db=db_file), encoding="utf-8")
    # a stray ./.env is not read when a settings file is given
    (cwd / ".env").write_text("SCHOOL_NAME=Salah\nSCHOOL_NPSN=99999999\n", encoding="utf-8")
    if how == "option":
        result = jejak({}, "--env-file", str(env_file), "roster", "import", "a.csv")
    else:
        result = jejak({"JEJAK_ENV_FILE": str(env_file)}, "roster", "import", "a.csv")
    assert result.exit_code == 0, result.output
    assert schools(f"sqlite+aiosqlite:///{db_file}") == [
        ("20212345", "SMK Negeri 1 Contoh", "Asia/Makassar")
    ]
    assert not (cwd / "data").exists()  # nothing went to the default database


def test_environment_wins_over_the_env_file(cwd):
    env_file = cwd / "jejak.env"
    env_file.write_text(SYSTEMD_ENV.format(db=cwd / "x.db"), encoding="utf-8")
    result = jejak(
        {"SCHOOL_NPSN": "20200002"}, "--env-file", str(env_file), "roster", "import", "a.csv"
    )
    assert result.exit_code == 0, result.output
    assert [s[0] for s in schools(f"sqlite+aiosqlite:///{cwd / 'x.db'}")] == ["20200002"]


@pytest.mark.parametrize("how", ["option", "JEJAK_ENV_FILE"])
def test_missing_env_file_stops_before_anything_is_opened(cwd, how):
    missing = cwd / "etc" / "jejak.env"
    if how == "option":
        result = jejak({}, "--env-file", str(missing), "roster", "import", "a.csv")
    else:
        result = jejak({"JEJAK_ENV_FILE": str(missing)}, "roster", "import", "a.csv")
    assert result.exit_code == 2
    message = flat(result.output)
    assert f"Settings file {missing} ({'--env-file' if how == 'option' else how})" in message
    assert "does not exist" in message
    assert not (cwd / "data").exists()


def test_env_file_that_is_a_directory_is_refused(cwd):
    result = jejak({}, "--env-file", str(cwd), "migrate")
    assert result.exit_code == 2 and "cannot be read" in flat(result.output)
    assert not (cwd / "data").exists()


# ---- the configured school is not changed by CLI commands --------------------------------
def test_cli_commands_never_rename_the_school_and_jejak_run_applies_only_set_settings(cwd):
    url = f"sqlite+aiosqlite:///{cwd / 'j.db'}"
    real = {"DATABASE_URL": url, "SCHOOL_NPSN": "20212345", "SCHOOL_NAME": "SMK Negeri 1 Contoh"}
    assert jejak({**real, "TIMEZONE": "Asia/Makassar"}, "roster", "import", "a.csv").exit_code == 0
    expected = [("20212345", "SMK Negeri 1 Contoh", "Asia/Makassar")]
    assert schools(url) == expected

    # what the `sh -c '. jejak.env'` recipe did: SCHOOL_NAME and TIMEZONE lost on the way
    half = {"DATABASE_URL": url, "SCHOOL_NPSN": "20212345"}
    for args in (
        ("roster", "import", "a.csv"),
        ("school", "list"),
        ("export", "--out", "x.csv"),
        ("invite", "links", "--out", "links.csv"),
        ("staff", "list"),
        ("report",),
        ("outreach", "status", "--school", "20212345"),
        ("outreach", "tick"),
    ):
        result = jejak(half, *args)
        assert result.exit_code == 0, (args, result.output)
        assert schools(url) == expected, args
    # other settings on the command line do not change it either
    jejak({**real, "SCHOOL_NAME": "SMK Lain", "TIMEZONE": "Asia/Jayapura"}, "school", "list")
    assert schools(url) == expected

    # `jejak run` at start: a setting left unset keeps the school's value ...
    async def start(**values) -> None:
        core = await build_core(Settings(_env_file=None, database_url=url, **values))
        await core.close()

    asyncio.run(start(school_npsn="20212345"))
    assert schools(url) == expected
    # ... and an edited one takes effect (docs/operator.md: restart after a change)
    asyncio.run(start(school_npsn="20212345", school_name="SMKN 1 Contoh"))
    assert schools(url) == [("20212345", "SMKN 1 Contoh", "Asia/Makassar")]
    asyncio.run(start(school_npsn="20212345", timezone="Asia/Jakarta"))
    assert schools(url) == [("20212345", "SMKN 1 Contoh", "Asia/Jakarta")]


def test_school_set_on_the_default_warns_only_about_settings_that_are_set(cwd):
    url = f"sqlite+aiosqlite:///{cwd / 'j.db'}"
    base = {"DATABASE_URL": url, "SCHOOL_NPSN": "20212345"}
    quiet = jejak(base, "school", "set", "20212345", "--name", "SMKN 1 Contoh")
    assert quiet.exit_code == 0, quiet.output
    assert "sets it back" not in quiet.output
    assert schools(url)[0][1] == "SMKN 1 Contoh"
    warned = jejak(
        {**base, "SCHOOL_NAME": "SMK Negeri 1 Contoh"},
        "school", "set", "20212345", "--name", "SMKN 1", "--timezone", "Asia/Makassar",
    )  # fmt: skip
    assert warned.exit_code == 0, warned.output
    text = flat(warned.output)
    assert "change SCHOOL_NAME in the settings" in text and "TIMEZONE" not in text
    assert schools(url) == [("20212345", "SMKN 1", "Asia/Makassar")]


# ---- no school configured ----------------------------------------------------------------
def test_without_school_npsn_commands_refuse_instead_of_creating_a_placeholder(cwd):
    url = f"sqlite+aiosqlite:///{cwd / 'j.db'}"
    zero = {"DATABASE_URL": url}
    for args in (
        ("roster", "import", "a.csv"),
        ("export", "--out", "x.csv"),
        ("invite", "links", "--out", "links.csv"),
        ("staff", "list"),
        ("vacancy", "list"),
        ("report",),
        ("outreach", "tick"),
    ):
        result = jejak(zero, *args)
        assert result.exit_code == 2, (args, result.output)
        message = flat(result.output)
        assert "No school is configured" in message, args
        for setting in ("SCHOOL_NPSN", "SCHOOL_NAME", "TIMEZONE", "--env-file"):
            assert setting in message, (args, setting)
        assert ("--school NPSN" in message) == (args != ("outreach", "tick")), args
    assert not (cwd / "j.db").exists()  # refused before the database was opened
    # the same when SCHOOL_NPSN is set to the placeholder itself
    assert jejak({**zero, "SCHOOL_NPSN": "00000000"}, "roster", "import", "a.csv").exit_code == 2
    # naming the placeholder explicitly only finds it if it exists (an install run on it)
    explicit = jejak(zero, "roster", "import", "a.csv", "--school", "00000000")
    assert explicit.exit_code == 2 and "Unknown school NPSN '00000000'" in flat(explicit.output)

    # a deployment that names every school with --school works without a default school
    listed = jejak(zero, "school", "list")
    assert listed.exit_code == 0 and "00000000" not in listed.stdout
    added = jejak(zero, "school", "add", "--npsn", "60100002", "--name", "SMK Negeri 2 Jayapura")
    assert added.exit_code == 0, added.output
    imported = jejak(zero, "roster", "import", "a.csv", "--school", "60100002")
    assert imported.exit_code == 0, imported.output
    assert "default" not in jejak(zero, "school", "list").stdout
    assert [s[0] for s in schools(url)] == ["60100002"]


async def test_jejak_run_without_school_npsn_starts_as_the_placeholder_and_warns(tmp_path, caplog):
    settings = Settings(
        _env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path}/run.db", http_port=0
    )
    with caplog.at_level("WARNING", logger="bot.runner"):
        running = await start(settings)
        await running.stop()
    assert running.core.school.npsn == "00000000"
    assert any("SCHOOL_NPSN is not set" in r.getMessage() for r in caplog.records)

    caplog.clear()
    configured = settings.model_copy(update={"school_npsn": "20212345"})
    with caplog.at_level("WARNING", logger="bot.runner"):
        running = await start(configured)
        await running.stop()
    assert not any("SCHOOL_NPSN" in r.getMessage() for r in caplog.records)


def test_roster_import_summary_notes_a_missing_phone_column_and_unused_columns(cwd):
    """Not an error: the rows are imported, and the summary says what was left out."""
    (cwd / "hp.csv").write_text(
        "NISN;Nama;Tanggal Lahir;Kelas;Jurusan;Tahun Lulus;Wali Kelas;No HP Ortu;Keterangan\n"
        "0011111111;Ani Suryani;01/02/2007;XII TKJ 1;TKJ;2025;Bu Sari;0812-1111-0001;-\n",
        encoding="utf-8",
    )
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{cwd / 'j.db'}", "SCHOOL_NPSN": "20200002"}
    result = jejak(env, "roster", "import", "hp.csv")
    assert result.exit_code == 0, result.output
    out = flat(result.output)
    assert "added 1" in out
    assert "Note: No phone column (no_hp) was found" in out
    assert "Note: Columns not used: No HP Ortu, Keterangan." in out


# ---- REMINDER_DAYS ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["3,7,14", "3, 7, 14", " 3 ,7 , 14 "])
def test_reminder_days_accepted(value):
    settings = Settings(_env_file=None, reminder_days=value)
    assert settings.reminder_schedule == [3, 7, 14] and settings.reminder_days == "3,7,14"


@pytest.mark.parametrize(
    "value", ["3, 7, 14 hari", "3;7;14", "3 7 14", "0,7,14", "7,3", "3,3,14", "3,,7", "-3,7"]
)
def test_malformed_reminder_days_stop_the_command_naming_the_setting(cwd, value):
    with pytest.raises(ValueError, match="REMINDER_DAYS"):
        Settings(_env_file=None, reminder_days=value)
    result = jejak(
        {"DATABASE_URL": f"sqlite+aiosqlite:///{cwd}/r.db", "REMINDER_DAYS": value},
        "school",
        "list",
    )
    assert result.exit_code == 2
    message = flat(result.output)
    assert "Setting REMINDER_DAYS" in message and "e.g. 3,7,14" in message
    assert not (cwd / "r.db").exists()  # stopped before anything was opened


# ---- DIGEST_WEEKDAY, quiet hours, DIGEST_TIME, numeric limits ------------------------------------
@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DIGEST_WEEKDAY", "7", "from 0 (Monday) to 6 (Sunday)"),
        ("DIGEST_WEEKDAY", "-1", "from 0 (Monday) to 6 (Sunday)"),
        ("DIGEST_TIME", "25:00", "HH:MM on the 24-hour clock"),
        ("DIGEST_TIME", "7", "HH:MM on the 24-hour clock"),
        ("QUIET_HOURS_START", "20.00", "HH:MM on the 24-hour clock"),
        ("QUIET_HOURS_END", "7am", "HH:MM on the 24-hour clock"),
        ("OUTBOX_MAX_ATTEMPTS", "0", "greater than or equal to 1"),
        ("HTTP_PORT", "70000", "less than or equal to 65535"),
        ("TELEGRAM_RATE_PER_SECOND", "0", "greater than 0"),
    ],
)
def test_out_of_range_settings_stop_the_command_naming_the_setting(cwd, name, value, expected):
    result = jejak(
        {"DATABASE_URL": f"sqlite+aiosqlite:///{cwd}/r.db", name: value}, "school", "list"
    )
    assert result.exit_code == 2
    message = flat(result.output)
    assert f"Setting {name}" in message and expected in message, message
    assert not (cwd / "r.db").exists()  # stopped before anything was opened


def test_times_and_weekday_accepted():
    settings = Settings(
        _env_file=None,
        quiet_hours_start="21:30",
        quiet_hours_end="6:00",
        digest_time=" 06:30 ",
        digest_weekday=6,
    )
    assert settings.quiet_hours_start.strftime("%H:%M") == "21:30"
    assert settings.quiet_hours_end.strftime("%H:%M") == "06:00"
    assert settings.digest_time.strftime("%H:%M") == "06:30" and settings.digest_weekday == 6
