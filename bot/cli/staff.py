"""`jejak staff add|list|remove|invite`: who may use the staff commands, and for which classes."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli import app
from bot.cli.common import console, fail, load_settings, open_with_school, run, school_option
from storage import staff as staff_store
from storage.roster import normalise_phone
from storage.schools import SchoolError, schools_by_npsn

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


@staff_app.command("add")
def add_cmd(
    role: str = typer.Option(..., "--role", help="admin, bkk or teacher."),
    name: str = typer.Option(
        ..., "--name", help="Full name (teachers: as in the wali_kelas column)."
    ),
    telegram_id: str | None = typer.Option(
        None, "--telegram-id", help="Their numeric Telegram user id (a person, not a group)."
    ),
    whatsapp: str | None = typer.Option(None, "--whatsapp", help="WhatsApp number, e.g. 0812..."),
    kelas: list[str] = typer.Option([], "--kelas", "-k", help="A class they see (repeatable)."),
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
                    covers=covered,
                )
                classes = await staff_store.classes_for(session, member)
            return member, classes
        finally:
            await db.dispose()

    try:
        member, classes = run(go)
    except staff_store.StaffError as exc:
        raise fail(escape(str(exc)), 2) from None
    console.print(f"Added staff #{member.id}: {escape(member.name)} ({member.role}).")
    if member.role == "teacher":
        shown = ", ".join(classes) if classes else "none yet (no --kelas, no wali_kelas match)"
        console.print(f"Classes: {escape(shown)}")
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
                for member, _explicit in members:
                    out.append((member, await staff_store.classes_for(session, member)))
                return out
        finally:
            await db.dispose()

    members = run(go)
    if not members:
        console.print("No staff yet. Add one with `jejak staff add --role bkk --name ...`.")
        return
    table = Table(title="Staff")
    for column in ("id", "role", "name", "telegram", "whatsapp", "classes", "removed"):
        # ids and numbers are never cut; names and classes wrap
        table.add_column(column, no_wrap=column in ("id", "role", "telegram", "whatsapp"))
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
    console.print(table)


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
    role: str = typer.Option("teacher", "--role", help="admin, bkk or teacher."),
    kelas: list[str] = typer.Option([], "--kelas", "-k", help="A class they see (repeatable)."),
    name: str | None = typer.Option(None, "--name", help="Their name (matches wali_kelas)."),
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
                return await staff_store.create_invitation(
                    session, school_row.id, role=role, kelas=kelas, name=name, covers=covered
                )
        finally:
            await db.dispose()

    try:
        invitation = run(go)
    except staff_store.StaffError as exc:
        raise fail(escape(str(exc)), 2) from None
    console.print(invitation.code, highlight=False)
    scope = ", ".join(invitation.kelas) if invitation.kelas else "all classes"
    if invitation.role == "teacher" and not invitation.kelas:
        scope = f"classes whose wali_kelas is {invitation.name}"
    if invitation.role == "regional":
        covered = invitation.covers or []
        scope = "vacancies to " + ("all schools" if "*" in covered else ", ".join(covered))
    console.print(
        f"One-time {invitation.role} code ({escape(scope)}): the person sends it to the bot "
        "on Telegram or WhatsApp. Valid for 30 days.",
        style="dim",
    )
