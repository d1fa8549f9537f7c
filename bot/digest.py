"""The weekly digest: every staff member with a linked chat gets their /ringkasan and what
changed since the previous digest, through the outbox like any outreach.

When: DIGEST_WEEKDAY (0 = Monday) at DIGEST_TIME in each school's own timezone (default Monday
07:00; a deployment may serve schools in WIB, WITA and WIT).
`plan_digests(now=...)` enqueues the digest of the newest scheduled time at or before `now`, if
that time is at most `grace` ago (default a day: a process that was down at 07:00 still sends it
when it comes back that day, never days later). The idempotency key is
`digest:<staff id>:<ISO week of that time>`, so however often the planner runs (the hourly cron
job in `jejak run`, `jejak outreach tick`, several processes) each person gets one digest a week.

What:
- a teacher: per cohort of theirs (storage.staff.cohorts_for), who answered since last week
  (storage.reports.answered_since: new answers and updates) and the class summary;
- BKK and admin: one line per class of the newest cohort, with the answers new this week.
On WhatsApp outside the 24-hour window the dispatcher sends the digest template instead
(WHATSAPP_TEMPLATE_DIGEST, bot.outreach.messages.window_template) with the two body parameters
of `bot.outreach.templates.DIGEST`: {{1}} the staff member's name, {{2}} a one-line summary
("XII TKJ 1 2024: 5 dari 10 menjawab, 2 baru"). The full text asks for /ringkasan when they
reply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.outreach import templates
from bot.outreach.planner import next_allowed, planner_lock
from bot.reports import format_digest
from bot.staff import (
    MAX_LEN,
    class_overview,
    cohort_years,
    overview_messages,
    with_question_fields,
)
from conversations.messages import Catalogue
from storage import outbox
from storage import staff as staff_store
from storage.db import Database
from storage.models import Contact, OutboxMessage, School, Staff
from storage.reports import answered_since, class_summary

log = logging.getLogger(__name__)
PURPOSE = "digest"
DEFAULT_GRACE = timedelta(days=1)


# ---- when (pure) ----------------------------------------------------------------------------
def digest_due(now: datetime, zone: ZoneInfo, weekday: int, at: time) -> datetime:
    """The newest scheduled digest time at or before `now` (aware UTC)."""
    local = now.astimezone(zone)
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    due = datetime.combine(day, at, tzinfo=zone)
    if due > local:
        due = datetime.combine(day - timedelta(days=7), at, tzinfo=zone)
    return due.astimezone(UTC)


def week_label(due: datetime, zone: ZoneInfo) -> str:
    year, week, _ = due.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


def digest_key(staff_id: int, due: datetime, zone: ZoneInfo) -> str:
    return f"digest:{staff_id}:{week_label(due, zone)}"


# ---- what -----------------------------------------------------------------------------------
@dataclass(slots=True)
class Digest:
    text: str
    summary: str  # one line, for the WhatsApp template's {{2}}


async def compose(
    db: Database,
    session: AsyncSession,
    member: Staff,
    *,
    cat: Catalogue,
    flow: Any,
    lang: str,
    zone: ZoneInfo,
    since: datetime,
    until: datetime,
    max_len: int = MAX_LEN,
) -> Digest | None:
    """The digest of one staff member for the week [since, until). None: nothing to report
    (a teacher without classes, a school without a roster)."""
    since_label = since.astimezone(zone).strftime("%d-%m-%Y")
    title = cat.t(
        "staff.digest.title",
        lang,
        name=member.name,
        date=until.astimezone(zone).strftime("%d-%m-%Y"),
    )
    parts: list[str] = []
    brief: list[str] = []
    if staff_store.is_school_wide(member):
        years = await cohort_years(db, member.school_id)
        if not years:
            return None
        counts = await class_overview(db, member.school_id, years[0], since=since, until=until)
        parts += overview_messages(cat, counts, years[0], years, lang, with_new=True)
        answered = sum(c.answered for c in counts)
        graduates = sum(c.graduates for c in counts)
        new = sum(c.new for c in counts)
        brief.append(
            cat.t(
                "staff.digest.template_class",
                lang,
                kelas=cat.t("staff.all_classes", lang),
                year=years[0],
                answered=answered,
                graduates=graduates,
                new=new,
            )
        )
    else:
        cohorts = await staff_store.cohorts_for(session, member)
        if not cohorts:
            return None
        for kelas, year in cohorts:
            summary = await class_summary(db, member.school_id, kelas, year)
            summary = with_question_fields(summary, flow)
            entries = [
                e
                for e in await answered_since(db, member.school_id, kelas, since, year)
                if e.completed_at < until
            ]
            parts += format_digest(summary, entries, since_label, lang, max_len)
            brief.append(
                cat.t(
                    "staff.digest.template_class",
                    lang,
                    kelas=kelas,
                    year=year,
                    answered=summary.answered,
                    graduates=summary.graduates,
                    new=len(entries),
                )
            )
    text = "\n\n".join([title, *parts])
    return Digest(text=text, summary="; ".join(brief))


async def _chat_of(session: AsyncSession, member: Staff) -> Contact | tuple[str, str] | None:
    """Where a staff member reads: the linked chat they wrote from most recently, else their
    Telegram id, else their WhatsApp number."""
    identities = []
    if member.telegram_id:
        identities.append(("telegram", member.telegram_id))
    if member.whatsapp:
        identities.append(("whatsapp", member.whatsapp))
    if not identities:
        return None
    best: Contact | None = None
    for channel, address in identities:
        contact = (
            await session.execute(
                select(Contact).where(Contact.channel == channel, Contact.address == address)
            )
        ).scalar_one_or_none()
        if contact is None or contact.last_inbound_at is None:
            continue
        if best is None or _aware(contact.last_inbound_at) > _aware(best.last_inbound_at):
            best = contact
    return best or identities[0]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _zone(name: str | None, fallback: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or fallback)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(fallback)


async def plan_digests(
    db: Database,
    *,
    flow: Any,
    settings: Any,
    now: datetime,
    school_id: int | None = None,
    grace: timedelta = DEFAULT_GRACE,
) -> int:
    """Enqueue this week's digests that are due and not queued yet; returns rows added.

    Every school of the deployment (or only `school_id`), each at DIGEST_WEEKDAY DIGEST_TIME in
    its own timezone. Cheap when there is nothing to do: one small query of the schools outside
    the grace period; inside it, digests are composed only for staff whose row for the week
    does not exist yet."""
    async with db.session() as session:
        query = select(School.id, School.timezone)
        if school_id is not None:
            query = query.where(School.id == school_id)
        schools = (await session.execute(query)).all()
    due_at: dict[int, tuple[datetime, ZoneInfo]] = {}
    for sid, timezone in schools:
        zone = _zone(timezone, settings.timezone)
        due = digest_due(now, zone, settings.digest_weekday, settings.digest_time)
        if now - due <= grace:
            due_at[sid] = (due, zone)
    if not due_at:
        return 0
    cat: Catalogue = flow.catalogue
    added = 0
    async with planner_lock(db) as mine:
        if not mine:
            return 0
        async with db.session() as session:
            members = list(
                (
                    await session.execute(
                        select(Staff)
                        .where(Staff.school_id.in_(list(due_at)), Staff.removed_at.is_(None))
                        .order_by(Staff.id)
                    )
                ).scalars()
            )
            keys = {m.id: digest_key(m.id, *due_at[m.school_id]) for m in members}
            queued = set(
                (
                    await session.execute(
                        select(OutboxMessage.idempotency_key).where(
                            OutboxMessage.idempotency_key.in_(list(keys.values()))
                        )
                    )
                ).scalars()
            )
            for member in members:
                if keys[member.id] in queued:
                    continue
                chat = await _chat_of(session, member)
                if chat is None:
                    continue
                if isinstance(chat, Contact):
                    channel, address, contact_id = chat.channel, chat.address, chat.id
                    lang = (chat.state or {}).get("lang") or chat.language
                else:
                    (channel, address), contact_id = chat, None
                    lang = settings.default_language
                due, zone = due_at[member.school_id]
                digest = await compose(
                    db,
                    session,
                    member,
                    cat=cat,
                    flow=flow,
                    lang=lang or "id",
                    zone=zone,
                    since=due - timedelta(days=7),
                    until=due,
                )
                if digest is None:
                    continue
                row = {
                    "school_id": member.school_id,
                    "purpose": PURPOSE,
                    "idempotency_key": keys[member.id],
                    "staff_id": member.id,
                    "contact_id": contact_id,
                    "channel": channel,
                    "address": address,
                    "payload": {
                        "text": digest.text,
                        "template": templates.DIGEST.spec(name=member.name, summary=digest.summary),
                    },
                    "not_before": next_allowed(
                        now, zone, settings.quiet_hours_start, settings.quiet_hours_end
                    ),
                    "created_at": now,
                }
                added += await outbox.enqueue(session, [row])
                await session.commit()  # one short write per digest (SQLite has one writer)
    if added:
        log.info("digest: %d queued", added)
    return added


__all__ = ["Digest", "compose", "digest_due", "digest_key", "plan_digests", "week_label"]
