"""Planners: turn "who should hear from us now" into outbox rows. Every time input is a `now`
argument (aware UTC), so tests drive the calendar.

- `publish_vacancy`: the vacancy's recipients, one INSERT ... SELECT (storage/vacancies.py).
- `plan_reminders`: linked alumni who have not finished the questionnaire, `reminder_days`
  (default 3, 7, 14) after their last message on any of their chats, at most `reminder_max`
  per graduate and questionnaire pass, whatever the number of chats (Telegram and WhatsApp):
  one chat is reminded, the one holding the unfinished response, else the most recently
  active. Idempotency key `reminder:a<alumnus>:<pass>:<n>`; the pass is the response being
  filled in.
- `plan_followups`: alumni whose latest status is `mencari_kerja`, every `followup_days`
  (default 90) after that answer. Key `followup:<alumnus>:<response>:<period>`.
- `close_expired_vacancies` (each planning pass): a published vacancy whose deadline is before
  its school's local today is closed (unsent messages cancelled, taps answered "closed").
- quiet hours (default 20:00-07:00 school time): a row planned then is due at the next 07:00,
  and the dispatcher sends nothing in quiet hours.
- `planner_lock`: on PostgreSQL the planners run under `pg_try_advisory_lock`, so of several
  processes exactly one plans at a time (the others skip that tick).
Candidates are read in keyset pages, never all at once.

Several schools: `plan_due` plans for every school of the deployment in one pass; each
graduate's reminder text, prompt and quiet hours are their own school's (name and zone). A
vacancy is queued school by school for its target schools (its own, or a regional vacancy's
list), each with that school's name and quiet hours.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot import metrics
from conversations import engine
from conversations.messages import Catalogue
from conversations.questionnaire import Flow
from storage import outbox, vacancies
from storage.db import Database
from storage.models import Alumnus, Contact, OutboxMessage, Response, School, Vacancy

log = logging.getLogger(__name__)
PAGE = 500
PLANNER_LOCK_KEY = 0x4A454A414B  # "JEJAK"
DEADLINE_PASSED = "vacancy deadline passed"  # last_error of the messages it cancels


# ---- quiet hours -------------------------------------------------------------------------
def in_quiet_hours(now: datetime, zone: ZoneInfo, start: time, end: time) -> bool:
    local = now.astimezone(zone).time()
    if start == end:
        return False
    if start > end:  # over midnight, e.g. 20:00-07:00
        return local >= start or local < end
    return start <= local < end


def next_allowed(now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime:
    """`now` if outside quiet hours, else the end of the quiet period (aware UTC)."""
    if not in_quiet_hours(now, zone, start, end):
        return now
    local = now.astimezone(zone)
    candidate = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(now.tzinfo)


def _quiet(settings: Any, zone: ZoneInfo, now: datetime) -> datetime:
    return next_allowed(now, zone, settings.quiet_hours_start, settings.quiet_hours_end)


# ---- the planner lock --------------------------------------------------------------------
@contextlib.asynccontextmanager
async def planner_lock(db: Database) -> AsyncIterator[bool]:
    """Yields True if this process may plan now. PostgreSQL: a session advisory lock held on
    one connection for the duration; SQLite: one process, always True."""
    if not db.is_postgres:
        yield True
        return
    async with db.engine.connect() as conn:
        got = (
            await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PLANNER_LOCK_KEY})
        ).scalar_one()
        await conn.commit()
        try:
            yield bool(got)
        finally:
            if got:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PLANNER_LOCK_KEY})
                await conn.commit()


# ---- vacancies ---------------------------------------------------------------------------
def check_deadline(deadline: date, *, now: datetime, zone: ZoneInfo, settings: Any) -> None:
    """Raise `DeadlineError` when a vacancy with this deadline may not be published at `now`:
    "passed" (before the school's local today), or "no_window": the deadline is today but no
    message may leave before the day ends (quiet hours until tomorrow), so every message would
    be cancelled at send time. Refused rather than queued: the BKK learns it at once and can
    give a later deadline, instead of a broadcast that silently reaches no one."""
    today = now.astimezone(zone).date()
    if deadline < today:
        raise vacancies.DeadlineError(
            f"the deadline {deadline.isoformat()} has passed (today is {today.isoformat()})",
            reason="passed",
        )
    first = _quiet(settings, zone, now).astimezone(zone)
    if first.date() > deadline:
        start = settings.quiet_hours_start.strftime("%H:%M")
        end = settings.quiet_hours_end.strftime("%H:%M")
        raise vacancies.DeadlineError(
            f"the deadline {deadline.isoformat()} is today and no message may go out before it "
            f"ends (quiet hours {start}-{end}, {zone.key}): give a later deadline",
            reason="no_window",
        )


async def publish_vacancy(
    db: Database,
    vacancy_id: int,
    *,
    school_id: int,
    school_name: str,
    cat: Catalogue,
    settings: Any,
    zone: ZoneInfo,
    now: datetime,
) -> int:
    """Publish (refused after the deadline) and queue it for every recipient. Idempotent:
    publishing again queues only people who newly match. Returns rows added."""
    async with db.session() as s:
        added = await publish_vacancy_in(
            s,
            vacancy_id,
            school_id=school_id,
            school_name=school_name,
            cat=cat,
            settings=settings,
            zone=zone,
            now=now,
        )
        await s.commit()
    log.info("vacancy %s published: %d messages queued", vacancy_id, added)
    return added


async def publish_vacancy_in(
    s: AsyncSession,
    vacancy_id: int,
    *,
    school_id: int,
    school_name: str,
    cat: Catalogue,
    settings: Any,
    zone: ZoneInfo,
    now: datetime,
) -> int:
    """`publish_vacancy` inside the caller's transaction (the caller commits)."""
    from bot.outreach.messages import vacancy_payload

    vacancy = await vacancies.get_vacancy(s, vacancy_id, school_id)
    if vacancy is None:
        raise vacancies.VacancyError(f"no vacancy #{vacancy_id}")
    if vacancy.status != "closed":
        try:
            check_deadline(vacancy.deadline, now=now, zone=zone, settings=settings)
        except vacancies.DeadlineError as exc:
            message = f"vacancy #{vacancy.id}: {exc}"
            raise vacancies.DeadlineError(message, reason=exc.reason) from None
    await vacancies.publish(s, vacancy, now.astimezone(zone).date(), now)
    targets = await vacancies.target_school_ids(s, vacancy)
    added = 0
    for target in (await s.execute(select(School).where(School.id.in_(targets)))).scalars():
        name = target.name if target.id != school_id else school_name
        here = zone if target.id == school_id else _zone(target.timezone, zone)
        payloads = {lang: vacancy_payload(vacancy, name, cat, lang) for lang in ("id", "en")}
        added += await vacancies.plan_vacancy(
            s,
            vacancy,
            payloads=payloads,
            now=now,
            not_before=_quiet(settings, here, now),
            school_ids=[target.id],
        )
    return added


async def close_expired_vacancies(
    db: Database,
    *,
    now: datetime,
    zone: ZoneInfo,
    schools: dict[int, tuple[str, ZoneInfo]] | None = None,
) -> int:
    """Close every published vacancy whose deadline is before its school's local today (the
    day after the deadline has begun there): its unsent messages are cancelled, and a tap on
    "Saya berminat" is answered "closed". Returns how many were closed."""
    zones = [zone, *(z for _, z in (schools or {}).values())]
    latest_today = max(now.astimezone(z).date() for z in zones)
    closed = 0
    async with db.session() as s:
        candidates = (
            await s.execute(
                select(Vacancy).where(
                    Vacancy.status == "published", Vacancy.deadline < latest_today
                )
            )
        ).scalars()
        for vacancy in list(candidates):
            here = (schools or {}).get(vacancy.school_id, (None, zone))[1]
            if vacancy.deadline >= now.astimezone(here).date():
                continue
            cancelled = await vacancies.close(s, vacancy, reason=DEADLINE_PASSED)
            closed += 1
            log.info(
                "vacancy %s closed: its deadline %s has passed (%d unsent messages cancelled)",
                vacancy.id,
                vacancy.deadline.isoformat(),
                cancelled,
            )
        await s.commit()
    return closed


def _zone(name: str | None, fallback: ZoneInfo) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else fallback
    except (KeyError, ValueError):
        return fallback


async def school_infos(db: Database) -> dict[int, tuple[str, ZoneInfo]]:
    """Every school's (name, zone), by id: one query per planning pass."""
    async with db.session() as s:
        rows = (await s.execute(select(School.id, School.name, School.timezone))).all()
    fallback = ZoneInfo("Asia/Jakarta")
    return {sid: (name, _zone(tz, fallback)) for sid, name, tz in rows}


# ---- reminders ---------------------------------------------------------------------------
def reminder_offset(days: list[int], n: int) -> timedelta:
    """How long after the last message reminder number n (1-based) is due."""
    if n <= len(days):
        return timedelta(days=days[n - 1])
    step = days[-1] - days[-2] if len(days) > 1 else days[-1]
    return timedelta(days=days[-1] + step * (n - len(days)))


RESULT_FIELD = {"vacancies": "closed", "reminders": "reminders", "followups": "followups"}


@dataclass(slots=True)
class PlanResult:
    reminders: int = 0
    followups: int = 0
    closed: int = 0  # vacancies closed at their deadline
    errors: list[str] = field(default_factory=list)  # kinds whose planning failed this pass


async def plan_reminders(
    db: Database,
    *,
    school_id: int | None,
    school_name: str,
    flow: Flow,
    settings: Any,
    zone: ZoneInfo,
    now: datetime,
    schools: dict[int, tuple[str, ZoneInfo]] | None = None,
) -> int:
    """`school_id` None: every school, each graduate with their school's (name, zone) from
    `schools` (`school_name`/`zone` for a school missing there)."""
    from bot.outreach.messages import aware, reminder_payload

    days = settings.reminder_schedule or [3, 7, 14]
    cap = settings.reminder_max
    if cap <= 0:
        return 0
    earliest = now - reminder_offset(days, 1)
    completed = select(Response.alumnus_id).where(Response.completed_at.is_not(None))
    added = 0
    after_id = 0
    contexts: dict[int | None, engine.Context] = {}

    def school_of(sid: int) -> tuple[str, ZoneInfo, engine.Context]:
        name, here = (schools or {}).get(sid, (school_name, zone))
        if sid not in contexts:
            contexts[sid] = engine.Context(now=now, school=name, zone=here)
        return name, here, contexts[sid]

    scope = [] if school_id is None else [Alumnus.school_id == school_id]
    # the graduate's last message on any of their chats: the reminder clock is per person
    last_seen = func.max(func.coalesce(Contact.last_inbound_at, Contact.created_at))
    while True:
        async with db.session() as s:
            page = (
                await s.execute(
                    select(Alumnus.id, last_seen)
                    .join(Contact, Contact.alumnus_id == Alumnus.id)
                    .where(
                        Alumnus.id > after_id,
                        *scope,
                        Alumnus.stopped_at.is_(None),
                        Alumnus.id.not_in(completed),
                    )
                    .group_by(Alumnus.id)
                    .having(last_seen <= earliest)
                    .order_by(Alumnus.id)
                    .limit(PAGE)
                )
            ).all()
            if not page:
                break
            after_id = page[-1][0]
            anchors = {aid: aware(seen) for aid, seen in page}
            ids = list(anchors)
            alumni = {
                a.id: a
                for a in (await s.execute(select(Alumnus).where(Alumnus.id.in_(ids)))).scalars()
            }
            chats: dict[int, list[Contact]] = {}
            for contact in (
                await s.execute(
                    select(Contact).where(
                        Contact.alumnus_id.in_(ids),
                        Contact.channel.in_(vacancies.OUTREACH_CHANNELS),
                        Contact.unreachable_at.is_(None),
                        Contact.refused_at.is_(None),
                    )
                )
            ).scalars():
                if (contact.state or {}).get("stage") in ("vacancies", "q"):
                    chats.setdefault(contact.alumnus_id, []).append(contact)
            sent: dict[int, list[str]] = {}
            for aid, key in (
                await s.execute(
                    select(OutboxMessage.alumnus_id, OutboxMessage.idempotency_key).where(
                        OutboxMessage.purpose == "reminder", OutboxMessage.alumnus_id.in_(ids)
                    )
                )
            ).all():
                sent.setdefault(aid, []).append(key)
            new_rows = []
            for aid, anchor in anchors.items():
                alumnus, candidates = alumni.get(aid), chats.get(aid)
                if alumnus is None or not candidates:
                    continue
                contact = reminder_chat(candidates)
                pass_id = contact.response_id or 0
                # every reminder this graduate got in this pass, on any chat (rows planned
                # before reminders were per graduate carry the chat's id instead: counted too)
                n = sum(1 for k in sent.get(aid, []) if _reminder_pass(k) == pass_id) + 1
                if n > cap or anchor + reminder_offset(days, n) > now:
                    continue
                state = contact.state or {}
                lang = state.get("lang") or contact.language
                name, here, ctx = school_of(alumnus.school_id)
                prompt = engine.current_prompt(flow, state, ctx)
                payload = reminder_payload(prompt, alumnus.name, name, flow.catalogue, lang)
                new_rows.append(
                    _person_row(
                        "reminder",
                        f"reminder:a{aid}:{pass_id}:{n}",
                        alumnus,
                        contact,
                        payload,
                        _quiet(settings, here, now),
                        now,
                    )
                )
            added += await outbox.enqueue(s, new_rows)
            await s.commit()
    return added


def reminder_chat(contacts: list[Contact]) -> Contact:
    """The chat to remind a graduate on: the one holding their unfinished response, else the
    most recently active one (last message, else when it was created)."""
    from bot.outreach.messages import aware

    def rank(c: Contact) -> tuple:
        seen = aware(c.last_inbound_at) or aware(c.created_at)
        return (c.response_id is not None, seen, c.id)

    return max(contacts, key=rank)


def _reminder_pass(key: str) -> int | None:
    """The pass (response id, 0 = none yet) of a reminder key: `reminder:a<alumnus>:<pass>:<n>`
    (and the older per-chat `reminder:<contact>:<pass>:<n>`)."""
    parts = key.split(":")
    try:
        return int(parts[2])
    except (IndexError, ValueError):
        return None


def _person_row(
    purpose: str,
    key: str,
    alumnus: Any,
    contact: Any,
    payload: dict[str, Any],
    not_before: datetime,
    now: datetime,
) -> dict[str, Any]:
    """One outbox row for one graduate's chat (reminders and follow-ups)."""
    return {
        "school_id": alumnus.school_id,
        "purpose": purpose,
        "idempotency_key": key,
        "alumnus_id": alumnus.id,
        "contact_id": contact.id,
        "channel": contact.channel,
        "address": contact.address,
        "payload": payload,
        "not_before": not_before,
        "created_at": now,
    }


# ---- follow-ups --------------------------------------------------------------------------
async def plan_followups(
    db: Database,
    *,
    school_id: int | None,
    cat: Catalogue,
    settings: Any,
    zone: ZoneInfo,
    now: datetime,
    schools: dict[int, tuple[str, ZoneInfo]] | None = None,
) -> int:
    """`school_id` None: every school, quiet hours in each graduate's school zone."""
    from bot.outreach.messages import aware, followup_payload

    period = timedelta(days=settings.followup_days)
    if period <= timedelta(0):
        return 0
    latest = aliased(Response, name="latest")
    best = aliased(Contact, name="best")
    added = 0
    after_id = 0
    scope = [] if school_id is None else [Alumnus.school_id == school_id]
    while True:
        async with db.session() as s:
            rows = (
                await s.execute(
                    select(Alumnus, latest.id, latest.completed_at, best)
                    .select_from(Alumnus)
                    .join(latest, latest.id == vacancies.latest_response_id(Alumnus.id))
                    .join(best, best.id == vacancies.best_contact_id(Alumnus.id))
                    .where(
                        Alumnus.id > after_id,
                        *scope,
                        Alumnus.stopped_at.is_(None),
                        latest.status == "mencari_kerja",
                        latest.completed_at <= now - period,
                    )
                    .order_by(Alumnus.id)
                    .limit(PAGE)
                )
            ).all()
            if not rows:
                break
            after_id = rows[-1][0].id
            new_rows = []
            for alumnus, response_id, completed_at, contact in rows:
                periods = int((now - aware(completed_at)) / period)
                if periods < 1:
                    continue
                lang = (contact.state or {}).get("lang") or contact.language
                here = (schools or {}).get(alumnus.school_id, (None, zone))[1]
                new_rows.append(
                    _person_row(
                        "followup",
                        f"followup:{alumnus.id}:{response_id}:{periods}",
                        alumnus,
                        contact,
                        followup_payload(alumnus.name, cat, lang),
                        _quiet(settings, here, now),
                        now,
                    )
                )
            added += await outbox.enqueue(s, new_rows)
            await s.commit()
    return added


async def plan_due(
    db: Database,
    *,
    school_id: int,
    school_name: str,
    flow: Flow,
    settings: Any,
    zone: ZoneInfo,
    now: datetime,
) -> PlanResult | None:
    """One planning pass (vacancies past their deadline closed, reminders, follow-ups) for
    every school of the deployment, under the planner lock. None: another process holds the
    lock. `school_id`, `school_name` and `zone` are the default school's (used for a school
    added after the pass read the list)."""
    async with planner_lock(db) as mine:
        if not mine:
            return None
        schools = await school_infos(db)
        schools[school_id] = (school_name, zone)
        result = PlanResult()
        # each kind on its own: one that fails (a bug, a setting it cannot read, the database
        # refusing one statement) is logged and counted, and the others still run
        kinds: list[tuple[str, Callable[[], Awaitable[int]]]] = [
            ("vacancies", lambda: close_expired_vacancies(db, now=now, zone=zone, schools=schools)),
            (
                "reminders",
                lambda: plan_reminders(
                    db,
                    school_id=None,
                    school_name=school_name,
                    flow=flow,
                    settings=settings,
                    zone=zone,
                    now=now,
                    schools=schools,
                ),
            ),
            (
                "followups",
                lambda: plan_followups(
                    db,
                    school_id=None,
                    cat=flow.catalogue,
                    settings=settings,
                    zone=zone,
                    now=now,
                    schools=schools,
                ),
            ),
        ]
        for kind, run in kinds:
            try:
                count = await run()
            except Exception:
                log.exception("outreach planning of %s failed; the other kinds go on", kind)
                metrics.planned(kind, ok=False)
                result.errors.append(kind)
                continue
            metrics.planned(kind, ok=True)
            setattr(result, RESULT_FIELD[kind], count)
        return result


__all__ = [
    "PlanResult",
    "Vacancy",
    "check_deadline",
    "close_expired_vacancies",
    "in_quiet_hours",
    "next_allowed",
    "plan_due",
    "plan_followups",
    "plan_reminders",
    "planner_lock",
    "publish_vacancy",
]
