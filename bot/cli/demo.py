"""`jejak demo`: chat with the bot in the terminal on a throwaway SQLite file and sample roster."""

from __future__ import annotations

import sys
import uuid
from importlib import resources
from pathlib import Path

import typer

from bot.app import build_core
from bot.channels import console as console_channel
from bot.cli import app
from bot.cli.common import load_settings, run
from bot.cli.roster import import_failure, print_report
from conversations.messages import catalogue
from storage.invitations import ensure_invitations
from storage.roster import RosterError, import_roster, read_roster


@app.command("demo")
def demo(
    database: Path = typer.Option(
        Path("data/demo.db"), "--database", help="SQLite file for the demo (recreated each run)"
    ),
    keep: bool = typer.Option(False, "--keep", help="keep the demo database from the last run"),
    roster: Path | None = typer.Option(
        None, "--roster", help="a roster file instead of the sample"
    ),
    language: str = typer.Option("id", "--lang", help="id or en"),
) -> None:
    """Walk the questionnaire in the terminal (answers can also be piped, one per line)."""
    if language not in ("id", "en"):
        raise typer.BadParameter("--lang must be id or en")
    settings = load_settings().model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{database}", "default_language": language}
    )
    if roster is not None:  # checked before the last run's database is removed
        try:
            read_roster(roster)
        except (RosterError, FileNotFoundError) as exc:
            raise import_failure(roster, exc) from None
    if not keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    interactive = sys.stdin.isatty()

    async def go() -> None:
        core = await build_core(settings)
        try:
            sample = roster or Path(str(resources.files("bot").joinpath("sample_roster.csv")))
            report = await import_roster(core.db, core.school.id, sample)
            invites = await ensure_invitations(core.db, core.school.id)
            if roster is not None:  # what `jejak roster import` says, rejected rows included
                print(f"Roster {roster.name}:")
                print_report(report)
            # the banner (piped too: the codes are sample data), in the language of the chat
            say = catalogue().t
            print(say("demo.banner", language, school=core.school.name))
            for alumnus, code in invites[:3]:
                dob = alumnus.birth_date.strftime("%d-%m-%Y")
                who = {"name": alumnus.name, "nisn": alumnus.nisn, "dob": dob}
                print("  " + say("demo.graduate", language, code=code, **who))
            if not invites:
                print(say("demo.no_graduates", language))
            print(say("demo.or_start", language))
            if interactive:
                print(say("demo.end", language))
            print()
            run_id = uuid.uuid4().hex[:12]  # message ids stay new when --keep goes on a chat
            seq = 0
            while True:
                if interactive:
                    sys.stdout.write("you> ")
                    sys.stdout.flush()
                line = sys.stdin.readline()
                if not line:
                    break
                if not line.strip():
                    continue
                if not interactive:
                    sys.stdout.write(f"you> {line.strip()}\n")
                seq += 1
                inbound = console_channel.to_inbound(line, "demo", seq, run_id)
                outcome = await core.service.handle(inbound)
                console_channel.print_replies(outcome.replies)
        finally:
            await core.close()

    run(go)
