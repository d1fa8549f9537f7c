"""Vacancies (lowongan): create, publish, close; who they target; interest.

Targeting (issue 4): alumni of the vacancy's target schools (`VacancySchool` rows; none = its
own school only, the single-school case; a regional vacancy lists several) whose *latest
completed* response has status `mencari_kerja` (or `kursus` when the vacancy includes it), whose
major (`jurusan`) is one of the vacancy's majors (case-insensitive; `["*"]` = every major), who
consented to vacancies, have not sent STOP, and have a linked chat that is not unreachable. One
message per person: their most recently active chat (last inbound message, else when it was
created). The idempotency key is per vacancy and alumnus, so a regional vacancy reaches each
person once. Staff reads (`list_vacancies`, `interested`) count and name only the alumni of the
reader's school(s).

Planning is one `INSERT ... SELECT ... ON CONFLICT (idempotency_key) DO NOTHING`: the database
does the fan-out without the recipients passing through Python, and repeating it adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, case, cast, delete, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.models import (
    Alumnus,
    Contact,
    OutboxMessage,
    Response,
    Vacancy,
    VacancyInterest,
    VacancySchool,
)
from storage.outbox import dialect_insert

ALL = "*"
OUTREACH_CHANNELS = ("telegram", "whatsapp")


class VacancyError(ValueError):
    pass


class DeadlineError(VacancyError):
    """The deadline does not allow it: `reason` "passed" (before the school's local today) or
    "no_window" (today, and no message may go out before it ends: quiet hours)."""

    def __init__(self, message: str, *, reason: str = "passed") -> None:
        super().__init__(message)
        self.reason = reason


NO_MAJORS = 'no major given: list them, e.g. "TKJ,RPL", or "all" for every major'


def parse_majors(text: str) -> list[str]:
    """ "TKJ, rpl" -> ["TKJ", "RPL"]; "all" / "semua" / "*" -> ["*"]. Nothing (an empty text,
    "," or spaces) is an error, never "every major": a vacancy reaches every job-seeker only
    when that is said explicitly."""
    parts = [" ".join(p.split()).upper() for p in text.replace(";", ",").split(",")]
    parts = [p for p in parts if p]
    if not parts:
        raise VacancyError(NO_MAJORS)
    if any(p in ("ALL", "SEMUA", ALL) for p in parts):
        return [ALL]
    return list(dict.fromkeys(parts))


async def known_majors(session: AsyncSession, school_id: int | list[int]) -> list[str]:
    """The roster's majors of one school (or of several: a regional vacancy)."""
    ids = school_id if isinstance(school_id, list) else [school_id]
    rows = await session.execute(
        select(func.upper(func.trim(Alumnus.jurusan))).where(Alumnus.school_id.in_(ids)).distinct()
    )
    return sorted(r[0] for r in rows if r[0])


async def check_majors(
    session: AsyncSession, school_id: int | list[int], majors: list[str]
) -> list[str]:
    """The majors unknown to the roster (empty = all fine)."""
    if majors == [ALL]:
        return []
    known = set(await known_majors(session, school_id))
    return [m for m in majors if m not in known]


async def create_vacancy(
    session: AsyncSession,
    school_id: int,
    *,
    company: str,
    position: str,
    majors: list[str],
    location: str,
    deadline: date,
    description: str | None = None,
    quota: int | None = None,
    apply_info: str | None = None,
    include_kursus: bool = False,
    created_by: str | None = None,
    target_schools: list[int] | None = None,
) -> Vacancy:
    """A draft vacancy of `school_id`. `target_schools` (a regional vacancy): the schools whose
    job-seekers it goes to instead of only its own."""
    targets = list(dict.fromkeys(target_schools)) if target_schools else None
    if target_schools is not None and not targets:
        raise VacancyError("no target school")
    scope = targets or school_id
    majors = [ALL] if ALL in majors else [" ".join(m.split()).upper() for m in majors]
    majors = list(dict.fromkeys(m for m in majors if m))
    if not majors:
        raise VacancyError(NO_MAJORS)
    unknown = await check_majors(session, scope, majors)
    if unknown:
        known = ", ".join(await known_majors(session, scope)) or "-"
        raise VacancyError(f"unknown major(s): {', '.join(unknown)}; known majors: {known}")
    for name, value in (("company", company), ("position", position), ("location", location)):
        if not value or not value.strip():
            raise VacancyError(f"{name} is empty")
    vacancy = Vacancy(
        school_id=school_id,
        company=company.strip(),
        position=position.strip(),
        majors=majors,
        location=location.strip(),
        deadline=deadline,
        description=(description or "").strip() or None,
        quota=quota,
        apply_info=(apply_info or "").strip() or None,
        include_kursus=include_kursus,
        created_by=created_by,
    )
    session.add(vacancy)
    await session.flush()
    for target in targets or []:
        session.add(VacancySchool(vacancy_id=vacancy.id, school_id=target))
    if targets:
        await session.flush()
    return vacancy


async def target_school_ids(session: AsyncSession, vacancy: Vacancy) -> list[int]:
    """The schools whose job-seekers the vacancy goes to (its own when it lists none)."""
    rows = (
        await session.execute(
            select(VacancySchool.school_id)
            .where(VacancySchool.vacancy_id == vacancy.id)
            .order_by(VacancySchool.school_id)
        )
    ).scalars()
    return list(rows) or [vacancy.school_id]


async def get_vacancy(
    session: AsyncSession, vacancy_id: int, school_id: int | list[int], *, targeted: bool = False
) -> Vacancy | None:
    """The vacancy if it belongs to the school (one id or several); with `targeted`, also when
    it is a regional vacancy sent to (one of) them (for reading its interest, not changing it)."""
    ids = school_id if isinstance(school_id, list) else [school_id]
    vacancy = await session.get(Vacancy, vacancy_id)
    if vacancy is None:
        return None
    if vacancy.school_id in ids:
        return vacancy
    if targeted and set(ids) & set(await target_school_ids(session, vacancy)):
        return vacancy
    return None


def latest_response_id(alumnus_id_column):
    """Correlated subquery: the id of the alumnus's latest completed response (index
    ix_response_alumnus_completed), so no join of two whole-table subqueries is needed."""
    return (
        select(Response.id)
        .where(Response.alumnus_id == alumnus_id_column, Response.completed_at.is_not(None))
        .order_by(Response.completed_at.desc(), Response.id.desc())
        .limit(1)
        .correlate_except(Response)
        .scalar_subquery()
    )


def best_contact_id(alumnus_id_column, channels: tuple[str, ...] = OUTREACH_CHANNELS):
    """Correlated subquery: the alumnus's most recently active reachable chat."""
    return (
        select(Contact.id)
        .where(
            Contact.alumnus_id == alumnus_id_column,
            Contact.unreachable_at.is_(None),
            Contact.channel.in_(list(channels)),
        )
        .order_by(
            func.coalesce(Contact.last_inbound_at, Contact.created_at).desc(), Contact.id.desc()
        )
        .limit(1)
        .correlate_except(Contact)
        .scalar_subquery()
    )


def target_query(
    vacancy: Vacancy,
    channels: tuple[str, ...] = OUTREACH_CHANNELS,
    school_ids: list[int] | None = None,
):
    """SELECT alumnus_id, contact_id, channel, address, language of every recipient among the
    alumni of `school_ids` (default: the vacancy's own school).
    Returns (query, best) where `best` is the chosen Contact alias."""
    statuses = ["mencari_kerja", *(["kursus"] if vacancy.include_kursus else [])]
    best = aliased(Contact, name="best")
    latest = aliased(Response, name="latest")
    query = (
        select(
            Alumnus.id.label("alumnus_id"),
            best.id.label("cid"),
            best.channel,
            best.address,
            best.language,
        )
        .select_from(Alumnus)
        .join(latest, latest.id == latest_response_id(Alumnus.id))
        .join(best, best.id == best_contact_id(Alumnus.id, channels))
        .where(
            Alumnus.school_id.in_(school_ids or [vacancy.school_id]),
            Alumnus.consent_vacancies.is_(True),
            Alumnus.stopped_at.is_(None),
            latest.status.in_(statuses),
        )
    )
    majors = [m.upper() for m in vacancy.majors]
    if ALL not in majors:
        query = query.where(func.upper(func.trim(Alumnus.jurusan)).in_(majors))
    return query, best


async def count_targets(
    session: AsyncSession, vacancy: Vacancy, school_ids: list[int] | None = None
) -> int:
    """How many people the vacancy would reach (`school_ids`: for one not saved yet)."""
    if school_ids is None:
        school_ids = await target_school_ids(session, vacancy)
    query, _ = target_query(vacancy, school_ids=school_ids)
    return (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()


async def plan_vacancy(
    session: AsyncSession,
    vacancy: Vacancy,
    *,
    payloads: dict[str, dict[str, Any]],
    now: datetime,
    not_before: datetime,
    school_ids: list[int] | None = None,
) -> int:
    """Queue the vacancy for every recipient among the alumni of `school_ids` (default: the
    vacancy's own school) (INSERT ... SELECT, idempotent). Returns rows added. Each outbox row
    belongs to the recipient's school.

    `payloads` maps a language ("id", "en") to the message payload in that language."""
    query, best = target_query(vacancy, school_ids=school_ids)
    columns = OutboxMessage.__table__.c
    payload_id = literal(payloads["id"], JSON)
    payload_en = literal(payloads.get("en", payloads["id"]), JSON)
    select_rows = query.with_only_columns(
        Alumnus.school_id,
        literal("vacancy", String),
        literal(f"vacancy:{vacancy.id}:", String) + cast(Alumnus.id, String),
        Alumnus.id,
        best.id,
        best.channel,
        best.address,
        case((best.language == "en", payload_en), else_=payload_id),
        literal("pending", String),
        literal(not_before, columns.not_before.type),
        literal(0, Integer),
        literal(now, columns.created_at.type),
    )
    stmt = (
        dialect_insert(session)(OutboxMessage)
        .from_select(
            [
                "school_id",
                "purpose",
                "idempotency_key",
                "alumnus_id",
                "contact_id",
                "channel",
                "address",
                "payload",
                "status",
                "not_before",
                "attempts",
                "created_at",
            ],
            select_rows,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    result = await session.execute(stmt)
    return max(result.rowcount or 0, 0)


async def publish(session: AsyncSession, vacancy: Vacancy, today: date, now: datetime) -> None:
    if vacancy.status == "closed":
        raise VacancyError(f"vacancy #{vacancy.id} is closed")
    if vacancy.deadline < today:
        raise DeadlineError(
            f"vacancy #{vacancy.id}: the deadline {vacancy.deadline.isoformat()} has passed"
        )
    if vacancy.status != "published":
        vacancy.status = "published"
        vacancy.published_at = now


async def delete_draft(session: AsyncSession, vacancy: Vacancy) -> bool:
    """Delete a draft that was never published (no message, no interest). False: kept."""
    if vacancy.status != "draft":
        return False
    used = await session.execute(
        select(OutboxMessage.id)
        .where(OutboxMessage.idempotency_key.like(f"vacancy:{vacancy.id}:%"))
        .limit(1)
    )
    if used.first() is not None:
        return False
    await session.execute(delete(VacancySchool).where(VacancySchool.vacancy_id == vacancy.id))
    await session.execute(delete(VacancyInterest).where(VacancyInterest.vacancy_id == vacancy.id))
    await session.delete(vacancy)
    await session.flush()
    return True


async def close(session: AsyncSession, vacancy: Vacancy, reason: str = "vacancy closed") -> int:
    """Close it; its messages not sent yet are cancelled (`reason` is their last_error).
    Returns how many were cancelled."""
    vacancy.status = "closed"
    result = await session.execute(
        OutboxMessage.__table__.update()
        .where(
            OutboxMessage.purpose == "vacancy",
            OutboxMessage.idempotency_key.like(f"vacancy:{vacancy.id}:%"),
            OutboxMessage.status == "pending",
        )
        .values(status="cancelled", last_error=reason)
    )
    return result.rowcount or 0


async def list_vacancies(session: AsyncSession, school_id: int) -> list[dict[str, Any]]:
    """The school's vacancies and the regional ones sent to its job-seekers; the counts
    (queued, sent, interested) are of this school's alumni only."""
    targeted = select(VacancySchool.vacancy_id).where(VacancySchool.school_id == school_id)
    vacancies = (
        (
            await session.execute(
                select(Vacancy)
                .where((Vacancy.school_id == school_id) | Vacancy.id.in_(targeted))
                .order_by(Vacancy.id)
            )
        )
        .scalars()
        .all()
    )
    interest = dict(
        (
            await session.execute(
                select(VacancyInterest.vacancy_id, func.count())
                .join(Alumnus, Alumnus.id == VacancyInterest.alumnus_id)
                .where(Alumnus.school_id == school_id)
                .group_by(VacancyInterest.vacancy_id)
            )
        ).all()
    )
    out = []
    for v in vacancies:
        prefix = f"vacancy:{v.id}:"
        sent = dict(
            (
                await session.execute(
                    select(OutboxMessage.status, func.count())
                    .where(
                        OutboxMessage.idempotency_key.like(prefix + "%"),
                        OutboxMessage.school_id == school_id,
                    )
                    .group_by(OutboxMessage.status)
                )
            ).all()
        )
        out.append({"vacancy": v, "outbox": sent, "interested": interest.get(v.id, 0)})
    return out


async def record_interest(
    session: AsyncSession, vacancy_id: int, alumnus_id: int, contact_id: int | None, now: datetime
) -> bool:
    """Record a tap on "Saya berminat". False when it had been recorded before."""
    stmt = (
        dialect_insert(session)(VacancyInterest)
        .values(vacancy_id=vacancy_id, alumnus_id=alumnus_id, contact_id=contact_id, at=now)
        .on_conflict_do_nothing(index_elements=["vacancy_id", "alumnus_id"])
    )
    result = await session.execute(stmt)
    return (result.rowcount or 0) == 1


@dataclass(frozen=True, slots=True)
class Interested:
    """One graduate who tapped "Saya berminat", with what staff need to reach them (worded
    for staff by `bot.vacancy_hooks.reach_text`, in their language)."""

    name: str
    kelas: str
    jurusan: str
    channel: str | None  # the chat they tapped from: telegram | whatsapp (None: unlinked since)
    address: str | None  # its WhatsApp number (Telegram chat ids are of no use to staff)
    username: str | None  # the Telegram @username, when they have one
    phone: str | None  # the roster's phone number
    at: datetime


async def interested(
    session: AsyncSession, vacancy_id: int, school_ids: int | list[int] | None = None
) -> list[Interested]:
    """Who tapped "Saya berminat", among the alumni of `school_ids` (staff reads always pass
    their school(s); None = everyone, for the deployment operator)."""
    query = (
        select(VacancyInterest, Alumnus, Contact)
        .join(Alumnus, Alumnus.id == VacancyInterest.alumnus_id)
        .outerjoin(
            Contact,
            (Contact.id == VacancyInterest.contact_id) & (Contact.alumnus_id == Alumnus.id),
        )
        .where(VacancyInterest.vacancy_id == vacancy_id)
        .order_by(Alumnus.kelas, Alumnus.name)
    )
    if school_ids is not None:
        ids = school_ids if isinstance(school_ids, list) else [school_ids]
        query = query.where(Alumnus.school_id.in_(ids))
    rows = (await session.execute(query)).all()
    return [
        Interested(
            name=alumnus.name,
            kelas=alumnus.kelas,
            jurusan=alumnus.jurusan,
            channel=contact.channel if contact else None,
            address=contact.address if contact and contact.channel == "whatsapp" else None,
            username=contact.username if contact and contact.channel == "telegram" else None,
            phone=alumnus.phone,
            at=interest.at,
        )
        for interest, alumnus, contact in rows
    ]
