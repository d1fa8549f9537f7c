"""`jejak staff add|list|remove|invite`: who may use the staff commands, and for which cohorts.

A teacher sees cohorts, a class and its graduation year ("XII TKJ 1" recurs every year with
another wali kelas): `--kelas K` gives K's newest cohort, `--kelas K --tahun Y` the year Y one,
and the name given with `--name` adds every cohort the roster names them wali kelas of. Both
commands print the cohorts a teacher gets, and warn when the name matches no wali_kelas (with
the roster's near matches)."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table
from sqlmodel import select

from bot.cli import app
from bot.cli.common import (
    console,
    err_console,
    fail,
    load_settings,
    open_with_school,
    run,
    school_option,
)
from bot.cli.tables import print_table
from storage import staff as staff_store
from storage.models import StaffClass
from storage.roster import normalise_phone
from storage.schools import SchoolError, schools_by_npsn

# every role storage.staff.ROLES knows (the help used to leave out regional)
ROLE_HELP = (
    "admin, bkk, teacher (homeroom: their classes) or regional (a BKK/Disnaker office "
    "publishing vacancies to the schools in --covers)."
)

staff_app = typer.Typer(help="Staff: admin, BKK and homeroom teachers.", no_args_is_help=True)
app.add_typer(staff_app, name="staff")


async def _covers(db, covers: str | None) -> list[str] | None:
    """--covers "NPSN1,NPSN2" | "all" -> ["NPSN1", "NPSN2"] | ["*"] (unknown NPSNs: exit 2)."""
    if covers is None:
        return None
    if covers.strip().lower() in ("all", "semua", "*"):
        return ["*"]
    try:
        return [s.npsn for s in await schools_by_npsn(db, covers)]
    except SchoolError as exc:
        await db.dispose()
        raise fail(escape(str(exc)), 2) from None


def _tahun_option():
    return typer.Option(
        None,
        "--tahun",
        "--tahun-lulus",
        help="With --kelas: the graduation year of those classes (default: each one's newest).",
    )


async def _teacher_scope(
    session, school_id: int, name: str | None, explicit: list[tuple[str, int]]
) -> tuple[str, str | None]:
    """What a teacher gets, for the admin ("XII AKL 1 2024 (--kelas); wali kelas of XII TKJ 1
    2025"), and a warning when `name` matches no roster wali_kelas (with near matches)."""
    parts = [", ".join(f"{staff_store.cohort_label(c)}" for c in explicit) + " (--kelas)"]
    parts = parts if explicit else []
    warning = None
    if name:
        wali = await staff_store.wali_cohorts(session, school_id, name)
        if wali:
            parts.append("wali kelas of " + ", ".join(staff_store.cohort_label(c) for c in wali))
        else:
            near = await staff_store.wali_near_matches(session, school_id, name)
            warning = (
                f'Warning: no roster class has wali_kelas "{name}" (Bu/Pak, Drs./Dra. and '
                "titles such as S.Pd. are ignored; otherwise the name must be exact)."
            )
            if near:
                listing = ", ".join(f'"{n}"' for n in near)
                warning += f" Near matches: {listing}. Check the spelling."
    return "; ".join(parts), warning


async def _explicit(session, staff_id: int) -> list[tuple[str, int]]:
    rows = await session.execute(
        select(StaffClass.kelas, StaffClass.graduation_year).where(StaffClass.staff_id == staff_id)
    )
    return sorted(((k, y) for k, y in rows), key=lambda c: (-c[1], c[0]))


@staff_app.command("add")
def add_cmd(
    role: str = typer.Option(..., "--role", help=ROLE_HELP),
    name: str = typer.Option(
        ..., "--name", help="Full name (teachers: as in the wali_kelas column)."
    ),
    telegram_id: str | None = typer.Option(
        None, "--telegram-id", help="Their numeric Telegram user id (a person, not a group)."
    ),
    whatsapp: str | None = typer.Option(None, "--whatsapp", help="WhatsApp number, e.g. 0812..."),
    kelas: list[str] = typer.Option([], "--kelas", "-k", help="A class they see (repeatable)."),
    tahun: int | None = _tahun_option(),
    covers: str | None = typer.Option(
        None, "--covers", help="Role regional: the schools it serves, NPSN1,NPSN2 or all."
    ),
    school: str | None = school_option(),
) -> None:
    """Add a staff member (role regional: a BKK/Disnaker office publishing vacancies to the
    job-seekers of the schools in --covers). A chat holds one staff role: a Telegram id or
    WhatsApp number that an active staff member already has is refused."""
    settings = load_settings()
    if role.strip().lower() not in staff_store.ROLES:
        raise fail(f"Unknown role {role!r}: use one of {', '.join(staff_store.ROLES)}.", 2)
    if (role.strip().lower() == "regional") != (covers is not None):
        raise fail("--covers NPSN1,NPSN2|all goes with --role regional (and only with it).", 2)
    wa = None
    if whatsapp:
        wa = normalise_phone(whatsapp)
        if wa is None:
            raise fail(f"{whatsapp!r} is not a valid phone number.", 2)
    if telegram_id is not None and not staff_store.is_person_address("telegram", telegram_id):
        raise fail(f"--telegram-id {staff_store.TELEGRAM_USER_ID_RULE}.", 2)

    async def go():
        db, school_row = await open_with_school(settings, school)
        try:
            covered = await _covers(db, covers)
            async with db.session() as session:
                member = await staff_store.add_staff(
                    session,
                    school_row.id,
                    role=role,
                    name=name,
                    telegram_id=telegram_id.strip() if telegram_id else None,
                    whatsapp=wa,
                    kelas=kelas,
                    graduation_year=tahun,
                    covers=covered,
                )
                scope = warning = None
                if member.role == "teacher":
                    explicit = await _explicit(session, member.id)
                    scope, warning = await _teacher_scope(
                        session, school_row.id, member.name, explicit
                    )
            return member, scope, warning
        finally:
            await db.dispose()

    try:
        member, scope, warning = run(go)
    except staff_store.StaffError as exc:
        raise fail(escape(str(exc)), 2) from None
    console.print(f"Added staff #{member.id}: {escape(member.name)} ({member.role}).")
    if member.role == "teacher":
        shown = scope or "none yet (no --kelas, no wali_kelas match)"
        console.print(f"Cohorts (class, graduation year): {escape(shown)}", highlight=False)
        if warning:
            err_console.print(escape(warning), highlight=False)
    if not member.telegram_id and not member.whatsapp:
        console.print(
            "No chat linked yet: give them a code from "
            f"`jejak staff invite --role {member.role}` to send to the bot."
        )


@staff_app.command("list")
def list_cmd(
    all_: bool = typer.Option(False, "--all", help="Include removed staff."),
    school: str | None = school_option(),
) -> None:
    """List staff with their roles, chats and classes."""
    settings = load_settings()

    async def go():
        db, school_row = await open_with_school(settings, school)
        try:
            async with db.session() as session:
                members = await staff_store.list_staff(session, school_row.id, include_removed=all_)
                out = []
                for member, _explicit_cohorts in members:
                    cohorts = await staff_store.cohorts_for(session, member)
                    out.append((member, [staff_store.cohort_label(c) for c in cohorts]))
                return out
        finally:
            await db.dispose()

    members = run(go)
    if not members:
        console.print("No staff yet. Add one with `jejak staff add --role bkk --name ...`.")
        return
    table = Table(title="Staff")
    for column in ("id", "role", "name", "telegram", "whatsapp", "cohorts", "removed"):
        # ids and numbers are never cut; names and classes wrap
        keep = column in ("id", "role", "telegram", "whatsapp", "removed")
        table.add_column(column, no_wrap=keep, overflow="ellipsis" if keep else "fold")
    for member, classes in members:
        table.add_row(
            str(member.id),
            member.role,
            escape(member.name),
            member.telegram_id or "",
            member.whatsapp or "",
            "all"
            if member.role in ("admin", "bkk")
            else (
                "vacancies: " + ("all schools" if "*" in member.covers else ",".join(member.covers))
                if member.role == "regional" and member.covers
                else escape(", ".join(classes))
            ),
            "yes" if member.removed_at else "",
        )
    print_table(console, table)


@staff_app.command("remove")
def remove_cmd(
    staff_id: int = typer.Argument(..., help="The id shown by `jejak staff list`."),
    school: str | None = school_option(),
) -> None:
    """Remove a staff member (they lose access at once)."""
    settings = load_settings()

    async def go():
        db, school_row = await open_with_school(settings, school)
        try:
            async with db.session() as session:
                return await staff_store.remove_staff(session, school_row.id, staff_id)
        finally:
            await db.dispose()

    member = run(go)
    if member is None:
        raise fail(f"No active staff member with id {staff_id}.")
    console.print(f"Removed staff #{member.id}: {escape(member.name)}.")


@staff_app.command("invite")
def invite_cmd(
    role: str = typer.Option("teacher", "--role", help=ROLE_HELP),
    kelas: list[str] = typer.Option([], "--kelas", "-k", help="A class they see (repeatable)."),
    tahun: int | None = _tahun_option(),
    name: str | None = typer.Option(
        None,
        "--name",
        help="Their name, matched against wali_kelas (without it, the name their chat shows "
        "becomes a label only).",
    ),
    covers: str | None = typer.Option(
        None, "--covers", help="Role regional: the schools it serves, NPSN1,NPSN2 or all."
    ),
    school: str | None = school_option(),
) -> None:
    """Print a one-time code the staff member sends to the bot to link their chat."""
    settings = load_settings()
    if role.strip().lower() not in staff_store.ROLES:
        raise fail(f"Unknown role {role!r}: use one of {', '.join(staff_store.ROLES)}.", 2)
    if (role.strip().lower() == "regional") != (covers is not None):
        raise fail("--covers NPSN1,NPSN2|all goes with --role regional (and only with it).", 2)

    async def go():
        db, school_row = await open_with_school(settings, school)
        try:
            covered = await _covers(db, covers)
            async with db.session() as session:
                invitation = await staff_store.create_invitation(
                    session,
                    school_row.id,
                    role=role,
                    kelas=kelas,
                    graduation_year=tahun,
                    name=name,
                    covers=covered,
                )
                scope = warning = None
                if invitation.role == "teacher":
                    scope, warning = await _teacher_scope(
                        session,
                        school_row.id,
                        invitation.name,
                        staff_store.invitation_cohorts(invitation),
                    )
                return invitation, scope, warning
        finally:
            await db.dispose()

    try:
        invitation, teacher_scope, warning = run(go)
    except staff_store.StaffError as exc:
        raise fail(escape(str(exc)), 2) from None
    console.print(invitation.code, highlight=False)
    scope = "all classes"
    if invitation.role == "teacher":
        scope = teacher_scope or "no cohort yet"
        if not invitation.name:
            scope += "; the name their chat shows becomes a label only"
    if invitation.role == "regional":
        covered = invitation.covers or []
        scope = "vacancies to " + ("all schools" if "*" in covered else ", ".join(covered))
    console.print(
        f"One-time {invitation.role} code ({escape(scope)}): the person sends it to the bot "
        "on Telegram or WhatsApp. Valid for 30 days.",
        style="dim",
        highlight=False,
    )
    if warning:
        err_console.print(escape(warning), highlight=False)
