"""`jejak invite links --out FILE.csv [--kelas K]`: one invitation code and link per alumnus.
`jejak invite revoke --all | --kelas K | --nisn N...`: revoke codes (a leaked list).

The CSV has the columns nisn, nama, kelas, code and a link column per configured channel:
telegram_link when the bot's username is known (TELEGRAM_BOT_USERNAME, or getMe with
TELEGRAM_BOT_TOKEN), whatsapp_link when WHATSAPP_DISPLAY_NUMBER is set; with neither it stops.
It is written as UTF-8 with a BOM so that Excel shows names correctly;
`--semicolon` separates with ";" for Excel with Indonesian regional settings. Codes are reused on
later runs, so a list printed earlier stays valid. The file holds personal data and codes that
identify a person to the bot: hand it only to the homeroom teachers.

When such a list leaks, `invite revoke` deletes the codes on it that identify a graduate on their
own (storage.invitations.revoke_invitations: unused ones, and used ones whose graduate has no
linked chat); the bot then answers them like any unknown code, and the next `invite links` run
writes new codes for those graduates.
"""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from rich.markup import escape

from bot.cli import app
from bot.cli.common import console, fail, load_settings, open_with_school, run, school_option
from bot.settings import Settings
from conversations.answers import parse_nisn
from storage.db import Database
from storage.invitations import InvitationError, ensure_invitations, revoke_invitations
from storage.roster import list_classes

invite_app = typer.Typer(help="Invitation codes and links for alumni.", no_args_is_help=True)
app.add_typer(invite_app, name="invite")


class InviteError(Exception):
    pass


NO_LINK_CHANNEL = (
    "No channel to link to: set TELEGRAM_BOT_USERNAME (or TELEGRAM_BOT_TOKEN, to ask Telegram) "
    "for Telegram links, and/or WHATSAPP_DISPLAY_NUMBER (the school's WhatsApp number) for "
    "WhatsApp links. Nothing was written."
)


def telegram_known(settings: Settings) -> bool:
    """Whether the bot's Telegram username is set or can be asked for (a token)."""
    return bool(
        (settings.telegram_bot_username or "").strip().lstrip("@")
        or settings.token("telegram_bot_token")
    )


async def bot_username(settings: Settings) -> str:
    """TELEGRAM_BOT_USERNAME, else getMe with TELEGRAM_BOT_TOKEN (at TELEGRAM_API_URL)."""
    if (settings.telegram_bot_username or "").strip().lstrip("@"):
        return settings.telegram_bot_username.strip().lstrip("@")
    token = settings.token("telegram_bot_token")
    if not token:
        raise InviteError(
            "The bot's username is unknown: set TELEGRAM_BOT_USERNAME (or TELEGRAM_BOT_TOKEN, "
            "to ask Telegram)."
        )
    from telegram import Bot
    from telegram.error import TelegramError

    base = settings.telegram_api_url.rstrip("/")
    try:
        async with Bot(token, base_url=f"{base}/bot") as bot:
            me = bot.bot  # filled by initialize() (getMe)
    except TelegramError as exc:
        raise InviteError(
            f"Could not ask Telegram for the bot's username (getMe at {base}): {exc}. "
            "Check TELEGRAM_BOT_TOKEN, or set TELEGRAM_BOT_USERNAME."
        ) from None
    if not me.username:
        raise InviteError("Telegram returned no username for the bot: set TELEGRAM_BOT_USERNAME.")
    return me.username


async def check_class(db: Database, school_id: int, kelas: str | None) -> None:
    """Raise InviteError when the roster is empty, or `kelas` (if given) is not one of its
    classes (case and spacing aside)."""
    classes = await list_classes(db, school_id)
    if not classes:
        raise InviteError("The roster is empty: import it first with `jejak roster import FILE`.")
    if kelas is not None:
        wanted = " ".join(kelas.split()).lower()
        if wanted not in {k.lower() for k, _ in classes}:
            known = ", ".join(f"{k} ({n})" for k, n in classes)
            raise InviteError(f"Unknown class {kelas!r}. Known classes: {known}.")


@invite_app.command("links")
def links_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="CSV file to write."),
    kelas: str | None = typer.Option(
        None, "--kelas", "-k", help="Only this class, e.g. 'XII TKJ 1'."
    ),
    semicolon: bool = typer.Option(False, "--semicolon", help="Separate columns with ';'."),
    school: str | None = school_option(),
) -> None:
    """Write one invitation code and deep link per alumnus to a CSV file."""
    settings = load_settings()

    wa = settings.whatsapp_display_number  # international digits (bot/settings.py)
    if not wa and not telegram_known(settings):
        raise fail(escape(NO_LINK_CHANNEL), 1)

    async def go() -> int:
        username = None
        if telegram_known(settings):  # before the database: no session held across getMe
            username = await bot_username(settings)
        db, school_row = await open_with_school(settings, school)
        try:
            await check_class(db, school_row.id, kelas)
            pairs = await ensure_invitations(db, school_row.id, kelas)
        finally:
            await db.dispose()
        header = ["nisn", "nama", "kelas", "code"]
        if username:
            header.append("telegram_link")
        if wa:
            header.append("whatsapp_link")
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh, delimiter=";" if semicolon else ",")
            writer.writerow(header)
            for alumnus, code in pairs:
                row = [alumnus.nisn, alumnus.name, alumnus.kelas, code]
                if username:
                    row.append(f"https://t.me/{username}?start={code}")
                if wa:
                    row.append(f"https://wa.me/{wa}?text={code}")
                writer.writerow(row)
        return len(pairs)

    try:
        count = run(go)
    except InviteError as exc:
        raise fail(escape(str(exc)), 1) from None
    channels = " and ".join(
        name for name, on in (("Telegram", telegram_known(settings)), ("WhatsApp", wa)) if on
    )
    console.print(
        f"Wrote {count} invitation link(s) ({channels}) to [bold]{escape(str(out))}[/bold]. "
        "The file identifies people to the bot: share it only with the homeroom teachers."
    )


@invite_app.command("revoke")
def revoke_cmd(
    all_: bool = typer.Option(False, "--all", help="Every graduate of the school."),
    kelas: str | None = typer.Option(
        None, "--kelas", "-k", help="Only this class, e.g. 'XII TKJ 1'."
    ),
    nisn: list[str] = typer.Option([], "--nisn", help="Only this graduate (repeatable)."),
    school: str | None = school_option(),
) -> None:
    """Revoke invitation codes, e.g. after a list of links leaked: the bot then treats them
    like codes that never existed. `jejak invite links` afterwards writes new ones."""
    chosen = [all_, kelas is not None, bool(nisn)]
    if sum(chosen) != 1:
        raise fail("Choose whose codes to revoke: --all, --kelas KELAS or --nisn NISN.", 2)
    bad = [n for n in nisn if parse_nisn(n) is None]
    if bad:
        shown = ", ".join(repr(b) for b in bad)
        raise fail(escape(f"Not a NISN (10 digits): {shown}. Nothing was revoked."), 2)
    nisns = sorted({parse_nisn(n) or "" for n in nisn})
    settings = load_settings()

    async def go():
        db, school_row = await open_with_school(settings, school)
        try:
            await check_class(db, school_row.id, kelas)
            result = await revoke_invitations(
                db, school_row.id, kelas=kelas, nisns=nisns if nisn else None
            )
        finally:
            await db.dispose()
        return school_row.name, result

    try:
        name, result = run(go)
    except (InviteError, InvitationError) as exc:
        raise fail(escape(f"{exc} Nothing was revoked."), 1) from None
    if kelas is not None:
        scope = f"class {' '.join(kelas.split())}"
    elif nisn:
        scope = f"{len(nisns)} graduate(s) by NISN"
    else:
        scope = "all classes"
    where = f"{escape(name)}, {escape(scope)}"
    if result.revoked:
        console.print(
            f"Revoked {result.revoked} invitation code(s) ({where}): the bot now treats them "
            "like codes that never existed. Run `jejak invite links --out FILE` to write new "
            "codes for these graduates and hand the new links out again."
        )
    else:
        console.print(f"No invitation codes to revoke ({where}).")
    if result.kept:
        console.print(
            f"Kept {result.kept} code(s) already used by a graduate's linked chat: from any "
            "other chat they identify nobody without the graduate's birth date."
        )
