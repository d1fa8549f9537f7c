"""`jejak vacancy add|list|publish|close|interested`: vacancies (lowongan) from the server."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table

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
from bot.cli.unsent import waiting_notes
from bot.outreach.planner import check_deadline, publish_vacancy, publish_vacancy_in
from bot.vacancy_hooks import reach_text
from conversations.messages import catalogue
from storage import vacancies
from storage.models import utcnow
from storage.schools import SchoolError, schools_by_npsn

vacancy_app = typer.Typer(
    help="Vacancies: add, publish to job-seekers, close.", no_args_is_help=True
)
app.add_typer(vacancy_app, name="vacancy")


def _zone(school, settings) -> ZoneInfo:
    return ZoneInfo(school.timezone) if school.timezone else settings.zone


def _publish(db, school, settings, vacancy_id: int) -> int:
    return publish_vacancy(
        db,
        vacancy_id,
        school_id=school.id,
        school_name=school.name,
        cat=catalogue(),
        settings=settings,
        zone=_zone(school, settings),
        now=utcnow(),
    )


@vacancy_app.command("add")
def add_cmd(
    company: str = typer.Option(..., "--company"),
    position: str = typer.Option(..., "--position"),
    majors: str = typer.Option(..., "--majors", help='"TKJ,RPL", or "all" for every major.'),
    location: str = typer.Option(..., "--location"),
    deadline: str = typer.Option(..., "--deadline", help="YYYY-MM-DD"),
    description: str | None = typer.Option(None, "--description"),
    quota: int | None = typer.Option(None, "--quota", min=1),
    apply_info: str | None = typer.Option(None, "--apply-info"),
    include_kursus: bool = typer.Option(
        False, "--include-kursus", help="Also send to graduates taking a course."
    ),
    publish: bool = typer.Option(False, "--publish", help="Publish (send) it right away."),
    schools: str | None = typer.Option(
        None,
        "--schools",
        help="Regional use: send to the job-seekers of these schools, NPSN1,NPSN2 or all "
        "(default: only the school's own).",
    ),
    school: str | None = school_option(),
) -> None:
    """Add a vacancy (a draft unless --publish). Everything is checked first: a refused
    vacancy (unknown major, no major, past deadline, a --publish that cannot go out) saves
    nothing."""
    settings = load_settings()
    try:
        when = date.fromisoformat(deadline)
    except ValueError:
        raise fail(f"--deadline {deadline!r}: use YYYY-MM-DD.", 2) from None
    try:
        wanted = vacancies.parse_majors(majors)
    except vacancies.VacancyError as exc:
        raise fail(f"--majors {majors!r}: {exc}.", 2) from None

    async def go():
        db, school_row = await open_with_school(settings, school)
        try:
            targets = None
            if schools is not None:
                try:
                    targets = [t.id for t in await schools_by_npsn(db, schools)]
                except SchoolError as exc:
                    raise vacancies.VacancyError(str(exc)) from None
            zone = _zone(school_row, settings)
            now = utcnow()
            today = now.astimezone(zone).date()
            if when < today:
                raise vacancies.DeadlineError(
                    f"--deadline {when.isoformat()} has passed (today is {today.isoformat()} "
                    f"in {zone.key}); nothing was saved",
                    reason="passed",
                )
            if publish:  # checked before saving: the refusal names no vacancy (none is saved)
                try:
                    check_deadline(when, now=now, zone=zone, settings=settings)
                except vacancies.DeadlineError as exc:
                    raise vacancies.DeadlineError(
                        f"--publish: {exc}; nothing was saved", reason=exc.reason
                    ) from None
            # one transaction: the vacancy and, with --publish, its queued messages are saved
            # together or not at all (a refused publish leaves no draft behind)
            async with db.session() as s:
                vacancy = await vacancies.create_vacancy(
                    s,
                    school_row.id,
                    company=company,
                    position=position,
                    majors=wanted,
                    location=location,
                    deadline=when,
                    description=description,
                    quota=quota,
                    apply_info=apply_info,
                    include_kursus=include_kursus,
                    created_by="cli",
                    target_schools=targets,
                )
                added = None
                if publish:
                    added = await publish_vacancy_in(
                        s,
                        vacancy.id,
                        school_id=school_row.id,
                        school_name=school_row.name,
                        cat=catalogue(),
                        settings=settings,
                        zone=zone,
                        now=now,
                    )
                await s.commit()
            notes = await waiting_notes(db, settings, school_row.id) if publish else []
            return vacancy, added, notes
        finally:
            await db.dispose()

    try:
        vacancy, added, notes = run(go)
    except vacancies.VacancyError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"Vacancy #{vacancy.id} added: {escape(vacancy.position)} — {escape(vacancy.company)}"
    )
    if added is not None:
        console.print(f"Published: {added} messages queued.")
    for note in notes:
        err_console.print(f"[yellow]{escape(note)}[/yellow]")


@vacancy_app.command("list")
def list_cmd(school: str | None = school_option()) -> None:
    """The school's vacancies (and regional ones sent to it) with this school's delivery counts
    and interest."""
    settings = load_settings()

    async def go():
        db, school_row = await open_with_school(settings, school)
        try:
            async with db.session() as s:
                return await vacancies.list_vacancies(s, school_row.id)
        finally:
            await db.dispose()

    rows = run(go)
    table = Table(collapse_padding=True)
    for name in ("ID", "Status", "Position", "Company", "Majors", "Deadline", "Queued", "Sent"):
        free = name in ("Position", "Company", "Majors")  # free text folds; the rest is never cut
        table.add_column(name, no_wrap=not free, overflow="fold" if free else "ellipsis")
    table.add_column("Interested", no_wrap=True)
    for item in rows:
        v, box = item["vacancy"], item["outbox"]
        table.add_row(
            str(v.id),
            v.status,
            escape(v.position),
            escape(v.company),
            ", ".join(v.majors).replace("*", "all"),
            v.deadline.isoformat(),
            str(sum(box.values())),
            str(box.get("sent", 0)),
            str(item["interested"]),
        )
    print_table(console, table)


@vacancy_app.command("publish")
def publish_cmd(
    vacancy_id: int = typer.Argument(...), school: str | None = school_option()
) -> None:
    """Publish a vacancy: queue it for every matching job-seeker (repeating is harmless)."""
    settings = load_settings()

    async def go():
        db, school_row = await open_with_school(settings, school)
        try:
            added = await _publish(db, school_row, settings, vacancy_id)
            return added, await waiting_notes(db, settings, school_row.id)
        finally:
            await db.dispose()

    try:
        added, notes = run(go)
    except vacancies.VacancyError as exc:
        raise fail(str(exc)) from None
    console.print(f"Vacancy #{vacancy_id} published: {added} new messages queued.")
    for note in notes:
        err_console.print(f"[yellow]{escape(note)}[/yellow]")


@vacancy_app.command("close")
def close_cmd(vacancy_id: int = typer.Argument(...), school: str | None = school_option()) -> None:
    """Close a vacancy: messages not sent yet are cancelled; taps are answered "closed"."""
    settings = load_settings()

    async def go():
        db, school_row = await open_with_school(settings, school)
        try:
            async with db.session() as s:
                vacancy = await vacancies.get_vacancy(s, vacancy_id, school_row.id)
                if vacancy is None:
                    return None
                cancelled = await vacancies.close(s, vacancy)
                await s.commit()
                return cancelled
        finally:
            await db.dispose()

    cancelled = run(go)
    if cancelled is None:
        raise fail(f"No vacancy #{vacancy_id}.")
    console.print(f"Vacancy #{vacancy_id} closed ({cancelled} unsent messages cancelled).")


@vacancy_app.command("interested")
def interested_cmd(
    vacancy_id: int = typer.Argument(...), school: str | None = school_option()
) -> None:
    """Who of the school's graduates tapped "Saya berminat": name, class, major, channel, how
    to reach them (a regional vacancy: each school sees its own graduates)."""
    settings = load_settings()

    async def go():
        db, school_row = await open_with_school(settings, school)
        try:
            async with db.session() as s:
                vacancy = await vacancies.get_vacancy(s, vacancy_id, school_row.id, targeted=True)
                if vacancy is None:
                    return None
                return await vacancies.interested(s, vacancy.id, school_row.id)
        finally:
            await db.dispose()

    people = run(go)
    if people is None:
        raise fail(f"No vacancy #{vacancy_id}.")
    cat = catalogue()
    table = Table("Name", "Class", "Major", "Channel", "Reach")
    for p in people:
        table.add_row(
            escape(p.name),
            escape(p.kelas),
            escape(p.jurusan),
            p.channel or "-",
            escape(reach_text(p, cat, "en")),
        )
    console.print(table)
    console.print(f"{len(people)} interested.")
