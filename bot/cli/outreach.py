"""`jejak outreach tick|status|resend-unknown`: the outreach scheduler's work by hand."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli import app
from bot.cli.common import (
    console,
    err_console,
    fail,
    load_settings,
    no_school_message,
    run,
    school_configured,
    school_option,
)
from bot.cli.tables import print_table
from bot.cli.unsent import waiting_notes
from storage import outbox, process_lock
from storage.models import utcnow

outreach_app = typer.Typer(help="Reminders, follow-ups and the outbox.", no_args_is_help=True)
app.add_typer(outreach_app, name="outreach")


def tick_refused(exc: process_lock.AlreadyRunning) -> tuple[str, int]:
    """What `outreach tick` says, and its exit code, when another process holds the SQLite
    database's run lock."""
    pid = f" (pid {exc.pid})" if exc.pid else ""
    if exc.holder == process_lock.TICK:  # cron started the next tick before this one ended
        return (
            f"Skipped: another `jejak outreach tick`{pid} is still running on the SQLite "
            f"database {exc.database}; the next tick takes over its work.",
            0,
        )
    return (
        f"`{exc.holder}`{pid} is running on the SQLite database {exc.database} and already "
        "plans and sends reminders, follow-ups, vacancies and digests itself: "
        "`jejak outreach tick` is only for setups without `jejak run`. A SQLite database has "
        "one sending process (its rate limits hold per process); nothing was done.",
        1,
    )


@outreach_app.command("tick")
def tick_cmd() -> None:
    """One planning pass and one dispatch pass now, then exit (cron-style use, for setups
    without `jejak run`; on SQLite it refuses while `jejak run` uses the database)."""
    from bot.app import build_core
    from bot.outreach.scheduler import Outreach, senders_of
    from bot.runner import make_telegram, make_whatsapp

    settings = load_settings()
    if not school_configured(settings):
        raise fail(escape(no_school_message(school_option=False)), 2)
    try:  # SQLite: one sending process per database (storage/process_lock.py)
        run_lock = process_lock.acquire(settings.database_url, holder=process_lock.TICK)
    except process_lock.AlreadyRunning as exc:
        message, code = tick_refused(exc)
        if code == 0:
            console.print(escape(message))
            raise typer.Exit(0) from None
        raise fail(escape(message), code) from None

    async def go():
        core = await build_core(settings, update_school=False)  # `jejak run` applies settings
        telegram = make_telegram(core)
        whatsapp = make_whatsapp(core)
        try:
            if telegram is not None:
                await telegram.application.initialize()
            outreach = Outreach(core, senders_of(telegram, whatsapp))
            return await outreach.tick(), await waiting_notes(core.db, settings)
        finally:
            if telegram is not None:
                await telegram.application.shutdown()
            if whatsapp is not None:
                await whatsapp.client.aclose()
            await core.close()

    try:
        result, notes = run(go)
    finally:
        if run_lock is not None:
            run_lock.release()
    plan, d = result.plan, result.dispatch
    if plan is None:
        console.print("Planning skipped: another process holds the planner lock.")
    else:
        console.print(
            f"Planned: {plan.reminders} reminders, {plan.followups} follow-ups, "
            f"{result.digests} weekly digests; {plan.closed} vacancies closed at their deadline."
        )
        if plan.errors:
            err_console.print(
                f"[red]Planning failed for: {', '.join(plan.errors)} (see the log); the "
                "other kinds were planned.[/red]"
            )
    console.print(
        f"Dispatched: {d.sent} sent ({d.templated} as templates), {d.retried} to retry, "
        f"{d.failed} failed, {d.unreachable} unreachable, {d.cancelled} cancelled, "
        f"{d.deferred} deferred, {d.expired_unknown} newly unknown."
    )
    for note in notes:
        err_console.print(f"[yellow]{escape(note)}[/yellow]")


@outreach_app.command("status")
def status_cmd(school: str | None = school_option()) -> None:
    """Outbox counts per purpose and status (pending / sent / failed / unreachable / unknown /
    cancelled), and why the cancelled ones were not sent (STOP, vacancy closed, vacancy
    deadline passed, ...), of the whole deployment or, with --school, of one school's messages."""
    from sqlalchemy import func, select

    from bot.cli.common import open_database, open_with_school
    from storage.models import OutboxMessage

    settings = load_settings()

    async def go():
        if school is None:
            db = await open_database(settings)
        else:
            db, school_row = await open_with_school(settings, school)
        try:
            notes = await waiting_notes(db, settings, None if school is None else school_row.id)
            async with db.session() as s:
                if school is None:
                    return await outbox.counts(s), await outbox.cancelled_reasons(s), notes
                rows = await s.execute(
                    select(OutboxMessage.purpose, OutboxMessage.status, func.count())
                    .where(OutboxMessage.school_id == school_row.id)
                    .group_by(OutboxMessage.purpose, OutboxMessage.status)
                )
                out: dict[str, dict[str, int]] = {}
                for purpose, status, n in rows.all():
                    out.setdefault(purpose, {})[status] = n
                return out, await outbox.cancelled_reasons(s, school_id=school_row.id), notes
        finally:
            await db.dispose()

    counts, reasons, notes = run(go)
    statuses = list(outbox.STATUSES)
    table = Table(collapse_padding=True)  # fits 80 columns: headers and counts are never cut
    table.add_column("Purpose", no_wrap=True)
    for st in statuses:
        table.add_column(st, no_wrap=True, min_width=len(st), justify="right")
    totals = dict.fromkeys(statuses, 0)
    for purpose in sorted(counts):
        row = counts[purpose]
        for st in statuses:
            totals[st] += row.get(st, 0)
        table.add_row(purpose, *[str(row.get(st, 0)) for st in statuses])
    table.add_row("total", *[str(totals[st]) for st in statuses])
    print_table(console, table)
    if reasons:
        why = Table("Purpose", "Cancelled because", "Messages", title="Cancelled, by reason")
        for purpose, reason, n in reasons:
            why.add_row(purpose, escape(reason), str(n))
        console.print(why)
    if totals["unknown"]:
        console.print(
            f"{totals['unknown']} messages have an unknown fate (the sender stopped mid-send). "
            "See docs/outreach.md; `jejak outreach resend-unknown` sends them again."
        )
    for note in notes:
        console.print(f"[yellow]{escape(note)}[/yellow]")


@outreach_app.command("resend-unknown")
def resend_unknown_cmd(
    ids: list[int] = typer.Argument(None, help="Outbox ids (default: every unknown one)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Queue `unknown` messages again. Some may already have arrived: they would arrive twice."""
    from sqlalchemy import func, select

    from bot.cli.common import open_database
    from storage.models import OutboxMessage

    settings = load_settings()

    async def count_unknown() -> int:
        db = await open_database(settings)
        try:
            async with db.session() as s:
                query = select(func.count()).where(OutboxMessage.status == "unknown")
                if ids:
                    query = query.where(OutboxMessage.id.in_(ids))
                return (await s.execute(query)).scalar_one()
        finally:
            await db.dispose()

    if not run(count_unknown):
        which = "of the given ids " if ids else ""
        console.print(f"No message {which}has an unknown fate: nothing to resend.")
        return
    if not yes and not typer.confirm("Some of these may have been delivered already. Resend?"):
        raise fail("Nothing changed.", 1)

    async def go():
        db = await open_database(settings)
        try:
            async with db.session() as s:
                n = await outbox.resend_unknown(s, utcnow(), ids or None)
                await s.commit()
                return n
        finally:
            await db.dispose()

    console.print(f"{run(go)} messages queued again.")
