"""Report queries: a class summary, the school recap, the weekly "what changed", export rows.

Counts are aggregated in the database (GROUP BY), never by loading the roster into Python; the
only per-person lists are the ones a report shows (a class's non-responders, who answered this
week) and the export, which is streamed in batches. Every query runs on SQLite and PostgreSQL.

A person's *current* response is their newest completed one (by completed_at, then id); older
completed responses are history and unfinished ones are ignored for the counts.

Class names repeat every year ("XII TKJ 1" of 2024 and of 2025), so the per-class functions take
a graduation year and default to the newest year that class appears in on the roster.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, case, cast, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from conversations.derived import RELEVANT_CODES, STATUSES, waiting_months
from storage.db import Database
from storage.models import Alumnus, Answer, Contact, Response

BMW_STATUSES = ("bekerja", "melanjutkan", "wirausaha")
# why a graduate has not answered yet, in the order a teacher should act on them
REASONS = ("never_opened", "started", "unreachable", "stopped", "declined")

# answer fields in the export, in QUESTIONNAIRE.md "Export" order (status comes from the response)
EXPORT_ANSWER_FIELDS = (
    "employer",
    "job_title",
    "employer_type",
    "work_location",
    "start_month",
    "job_channel",
    "income",
    "relevance",
    "business_field",
    "workers",
    "institution",
    "study_program",
    "level",
    "provider",
    "field",
    "searching_months",
    "obstacles",
    "willing_to_relocate",
    "reason",
)


# ---------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True, slots=True)
class NonResponder:
    alumnus_id: int
    name: str
    phone: str | None  # from the roster (international digits), to reach them
    reason: str  # one of REASONS
    at_question: str | None = None  # for "started": the question they stopped at
    channels: tuple[str, ...] = ()  # channels of their linked chats, if any


@dataclass(slots=True)
class ClassSummary:
    kelas: str
    graduation_year: int | None
    graduates: int
    answered: int
    status_counts: dict[str, int]  # every code of STATUSES, 0 when nobody
    non_responders: list[NonResponder]  # sorted by reason (REASONS order), then name

    @property
    def rate(self) -> float | None:
        """Answered / graduates (0..1), None for an empty class."""
        return self.answered / self.graduates if self.graduates else None

    def by_reason(self) -> dict[str, list[NonResponder]]:
        grouped: dict[str, list[NonResponder]] = {r: [] for r in REASONS}
        for nr in self.non_responders:
            grouped.setdefault(nr.reason, []).append(nr)
        return {r: people for r, people in grouped.items() if people}


@dataclass(slots=True)
class RecapRow:
    """One graduation year and major. Raw counts; percentages and the median are derived."""

    graduation_year: int
    jurusan: str
    graduates: int = 0
    responders: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {s: 0 for s in STATUSES})
    relevant: int = 0  # B/M/W responders whose relevance is sangat_sesuai/sesuai/ya
    relevance_answered: int = 0  # B/M/W responders who answered relevance
    waiting: dict[int, int] = field(default_factory=dict)  # waiting months -> people (B and W)

    @property
    def b(self) -> int:
        return self.counts["bekerja"]

    @property
    def m(self) -> int:
        return self.counts["melanjutkan"]

    @property
    def w(self) -> int:
        return self.counts["wirausaha"]

    @property
    def kursus(self) -> int:
        return self.counts["kursus"]

    @property
    def mencari_kerja(self) -> int:
        return self.counts["mencari_kerja"]

    @property
    def tidak_mencari(self) -> int:
        return self.counts["tidak_mencari"]

    @property
    def bmw(self) -> int:
        return self.b + self.m + self.w

    @property
    def non_responders(self) -> int:
        return self.graduates - self.responders

    @property
    def response_rate(self) -> float | None:
        return self.responders / self.graduates if self.graduates else None

    @property
    def bmw_rate(self) -> float | None:
        """B+M+W as a share of responders (0..1)."""
        return self.bmw / self.responders if self.responders else None

    @property
    def relevant_rate(self) -> float | None:
        """Relevant as a share of B/M/W responders who answered relevance (0..1)."""
        return self.relevant / self.relevance_answered if self.relevance_answered else None

    @property
    def median_waiting_months(self) -> float | None:
        return median_from_histogram(self.waiting)

    def merge(self, other: RecapRow) -> None:
        self.graduates += other.graduates
        self.responders += other.responders
        for s, n in other.counts.items():
            self.counts[s] = self.counts.get(s, 0) + n
        self.relevant += other.relevant
        self.relevance_answered += other.relevance_answered
        for months, n in other.waiting.items():
            self.waiting[months] = self.waiting.get(months, 0) + n


@dataclass(frozen=True, slots=True)
class AnsweredEntry:
    alumnus_id: int
    name: str
    status: str | None
    completed_at: datetime  # aware UTC
    first_time: bool  # False: an update of an earlier answer


def median_from_histogram(histogram: dict[int, int]) -> float | None:
    total = sum(histogram.values())
    if total == 0:
        return None
    lower_rank, upper_rank = (total - 1) // 2, total // 2
    lower = upper = None
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if lower is None and seen > lower_rank:
            lower = value
        if seen > upper_rank:
            upper = value
            break
    return (lower + upper) / 2


def recap_totals(rows: list[RecapRow]) -> list[RecapRow]:
    """One row per graduation year with every major merged (jurusan = "")."""
    totals: dict[int, RecapRow] = {}
    for row in rows:
        total = totals.setdefault(row.graduation_year, RecapRow(row.graduation_year, ""))
        total.merge(row)
    return [totals[y] for y in sorted(totals)]


# ---------------------------------------------------------------------------------------------
# building blocks


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite returns naive UTC
        return value.replace(tzinfo=UTC)
    return value


def _decode(text_value: str | None) -> Any:
    if text_value is None:
        return None
    try:
        return json.loads(text_value)
    except ValueError:
        return text_value


def _alumni_filters(school_id: int, graduation_year: int | None, kelas: str | None) -> list:
    filters = [Alumnus.school_id == school_id]
    if graduation_year is not None:
        filters.append(Alumnus.graduation_year == graduation_year)
    if kelas is not None:
        filters.append(Alumnus.kelas == kelas)
    return filters


def current_response_join(filters: list, dialect: str, *, narrow: bool = False):
    """(cur, on): a selectable with the columns of `response` (id, alumnus_id, status,
    completed_at, channel, source) and the LEFT JOIN condition to `alumnus` that picks each
    alumnus's newest completed response (by completed_at, then id).

    Each backend gets the form its planner runs best (measured with 300,000 graduates):
    - SQLite: a correlated "top 1" lookup on the (alumnus_id, completed_at) index, one index
      probe per graduate (SQLite planned the window-function join below as a nested scan);
    - PostgreSQL: a window function over the school's completed responses, hash-joined (the
      correlated form costs a sub-plan per graduate there), except for `narrow` selections
      (one class), where the few index probes of the correlated form are cheapest.
    """
    if dialect == "sqlite" or narrow:
        cur = Response.__table__.alias("cur")
        newest = Response.__table__.alias("newest")
        top = (
            select(newest.c.id)
            .where(newest.c.alumnus_id == Alumnus.id, newest.c.completed_at.is_not(None))
            .order_by(newest.c.completed_at.desc(), newest.c.id.desc())
            .limit(1)
            .correlate(Alumnus)
            .scalar_subquery()
        )
        return cur, cur.c.id == top
    scope = Alumnus.__table__.alias("scope")
    scoped = [_rebind(f, scope) for f in filters]
    ranked = (
        select(
            Response.id.label("id"),
            Response.alumnus_id.label("alumnus_id"),
            Response.status.label("status"),
            Response.completed_at.label("completed_at"),
            Response.channel.label("channel"),
            Response.source.label("source"),
            func.row_number()
            .over(
                partition_by=Response.alumnus_id,
                order_by=(Response.completed_at.desc(), Response.id.desc()),
            )
            .label("rn"),
        )
        .join(scope, scope.c.id == Response.alumnus_id)
        .where(Response.completed_at.is_not(None), *scoped)
        .subquery("ranked")
    )
    cur = select(*(ranked.c[name] for name in _CUR_COLUMNS)).where(ranked.c.rn == 1).subquery("cur")
    return cur, cur.c.alumnus_id == Alumnus.id


_CUR_COLUMNS = ("id", "alumnus_id", "status", "completed_at", "channel", "source")


def _rebind(clause, alias):
    """The same filter on `alias` instead of the `alumnus` table."""
    from sqlalchemy.sql.util import ClauseAdapter

    return ClauseAdapter(alias).traverse(clause)


async def latest_year_of_class(session: AsyncSession, school_id: int, kelas: str) -> int | None:
    return (
        await session.execute(
            select(func.max(Alumnus.graduation_year)).where(
                Alumnus.school_id == school_id, Alumnus.kelas == kelas
            )
        )
    ).scalar_one_or_none()


def classify_nonresponder(
    *,
    stopped: bool,
    contacts: list[dict[str, Any]],
    unfinished_question: str | None,
    has_unfinished: bool,
    declined: bool = False,
) -> tuple[str, str | None]:
    """Why someone has not answered yet: (reason, at_question). Pure.

    `declined`: they refused the tracer consent from their invitation link (`declined_at`; their
    chat is then not linked). `contacts`: their linked chats, each with keys state,
    unreachable_at, last_inbound_at. Precedence: declined, stopped, unreachable (every linked
    chat is), started (a linked chat that has written or is mid-questionnaire, or an unfinished
    response), else never opened.
    """
    if declined:
        return "declined", None
    if stopped:
        return "stopped", None
    if contacts and all(c.get("unreachable_at") for c in contacts):
        return "unreachable", None
    node = None
    started = has_unfinished
    for c in contacts:
        state = c.get("state") or {}
        if isinstance(state, dict) and state.get("node"):
            node = node or str(state["node"])
            started = True
        if c.get("last_inbound_at"):
            started = True
    if started:
        return "started", node or unfinished_question
    return "never_opened", None


# ---------------------------------------------------------------------------------------------
# the reports


async def class_summary(
    db: Database, school_id: int, kelas: str, graduation_year: int | None = None
) -> ClassSummary:
    """Graduates, answered, counts per status and the non-responders (with why) of one class."""
    async with db.session() as session:
        if graduation_year is None:
            graduation_year = await latest_year_of_class(session, school_id, kelas)
        filters = _alumni_filters(school_id, graduation_year, kelas)
        cur, on_current = current_response_join(
            filters, db.engine.dialect.name, narrow=kelas is not None
        )
        answered_flag = case((cur.c.id.is_(None), 0), else_=1)
        counts = await session.execute(
            select(answered_flag.label("answered"), cur.c.status, func.count().label("n"))
            .select_from(Alumnus)
            .outerjoin(cur, on_current)
            .where(*filters)
            .group_by(answered_flag, cur.c.status)
        )
        graduates = answered = 0
        status_counts = {s: 0 for s in STATUSES}
        for flag, status, n in counts:
            graduates += n
            if flag:
                answered += n
                status_counts[status or "?"] = status_counts.get(status or "?", 0) + n

        # non-responders: few rows per class, classified in Python
        people = (
            await session.execute(
                select(
                    Alumnus.id,
                    Alumnus.name,
                    Alumnus.phone,
                    Alumnus.stopped_at,
                    Alumnus.declined_at,
                )
                .select_from(Alumnus)
                .outerjoin(cur, on_current)
                .where(*filters, cur.c.id.is_(None))
                .order_by(Alumnus.name, Alumnus.id)
            )
        ).all()
        ids = [p.id for p in people]
        contacts: dict[int, list[dict[str, Any]]] = {}
        unfinished: dict[int, str | None] = {}
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start : chunk_start + 500]
            rows = await session.execute(
                select(
                    Contact.alumnus_id,
                    Contact.channel,
                    Contact.state,
                    Contact.unreachable_at,
                    Contact.last_inbound_at,
                ).where(Contact.alumnus_id.in_(chunk))
            )
            for r in rows:
                contacts.setdefault(r.alumnus_id, []).append(r._asdict())
            rows = await session.execute(
                select(Response.alumnus_id, Response.last_question)
                .where(Response.alumnus_id.in_(chunk), Response.completed_at.is_(None))
                .order_by(Response.started_at, Response.id)
            )
            for alumnus_id, last_question in rows:
                unfinished[alumnus_id] = last_question or unfinished.get(alumnus_id)

    non_responders = []
    for p in people:
        linked = contacts.get(p.id, [])
        reason, at_question = classify_nonresponder(
            stopped=p.stopped_at is not None,
            declined=p.declined_at is not None,
            contacts=linked,
            unfinished_question=unfinished.get(p.id),
            has_unfinished=p.id in unfinished,
        )
        non_responders.append(
            NonResponder(
                alumnus_id=p.id,
                name=p.name,
                phone=p.phone,
                reason=reason,
                at_question=at_question,
                channels=tuple(sorted({c["channel"] for c in linked})),
            )
        )
    order = {r: i for i, r in enumerate(REASONS)}
    non_responders.sort(key=lambda nr: (order.get(nr.reason, len(order)), nr.name.casefold()))
    return ClassSummary(
        kelas=kelas,
        graduation_year=graduation_year,
        graduates=graduates,
        answered=answered,
        status_counts=status_counts,
        non_responders=non_responders,
    )


async def school_recap(
    db: Database, school_id: int, graduation_year: int | None = None, kelas: str | None = None
) -> list[RecapRow]:
    """Per graduation year and major, sorted by year then major (one grouped query)."""
    filters = _alumni_filters(school_id, graduation_year, kelas)
    cur, on_current = current_response_join(
        filters, db.engine.dialect.name, narrow=kelas is not None
    )
    relevance = Answer.__table__.alias("rel")
    start = Answer.__table__.alias("sm")
    answered_flag = case((cur.c.id.is_(None), 0), else_=1)
    relevance_text = cast(relevance.c.value, Text)
    start_text = cast(start.c.value, Text)
    stmt = (
        select(
            Alumnus.graduation_year,
            Alumnus.jurusan,
            answered_flag.label("answered"),
            cur.c.status,
            relevance_text.label("relevance"),
            start_text.label("start_month"),
            func.count().label("n"),
        )
        .select_from(Alumnus)
        .outerjoin(cur, on_current)
        .outerjoin(
            relevance,
            (relevance.c.response_id == cur.c.id)
            & (relevance.c.field == "relevance")
            & cur.c.status.in_(BMW_STATUSES),
        )
        .outerjoin(
            start,
            (start.c.response_id == cur.c.id)
            & (start.c.field == "start_month")
            & cur.c.status.in_(("bekerja", "wirausaha")),
        )
        .where(*filters)
        .group_by(
            Alumnus.graduation_year,
            Alumnus.jurusan,
            answered_flag,
            cur.c.status,
            relevance_text,
            start_text,
        )
    )
    rows: dict[tuple[int, str], RecapRow] = {}
    async with db.session() as session:
        result = await session.execute(stmt)
        for year, jurusan, flag, status, rel_text, start_month_text, n in result:
            row = rows.get((year, jurusan))
            if row is None:
                row = rows[(year, jurusan)] = RecapRow(year, jurusan)
            row.graduates += n
            if not flag:
                continue
            row.responders += n
            if status:
                row.counts[status] = row.counts.get(status, 0) + n
            rel = _decode(rel_text)
            if rel is not None:
                row.relevance_answered += n
                if rel in RELEVANT_CODES:
                    row.relevant += n
            months = waiting_months(_decode(start_month_text), year)
            if months is not None:
                row.waiting[months] = row.waiting.get(months, 0) + n
    return [rows[k] for k in sorted(rows)]


async def answered_since(
    db: Database,
    school_id: int,
    kelas: str,
    since: datetime,
    graduation_year: int | None = None,
) -> list[AnsweredEntry]:
    """Who in a class completed a response at or after `since` (their newest one), by name.

    `first_time` is False when they had already answered before `since` (an update).
    """
    since = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
    async with db.session() as session:
        if graduation_year is None:
            graduation_year = await latest_year_of_class(session, school_id, kelas)
        filters = _alumni_filters(school_id, graduation_year, kelas)
        cur, on_current = current_response_join(
            filters, db.engine.dialect.name, narrow=kelas is not None
        )
        earlier = (
            select(func.count())
            .where(
                Response.alumnus_id == Alumnus.id,
                Response.completed_at.is_not(None),
                Response.completed_at < since,
            )
            .correlate(Alumnus)
            .scalar_subquery()
        )
        rows = await session.execute(
            select(Alumnus.id, Alumnus.name, cur.c.status, cur.c.completed_at, earlier)
            .join(cur, on_current)
            .where(*filters, cur.c.completed_at >= since)
            .order_by(Alumnus.name, Alumnus.id)
        )
        return [
            AnsweredEntry(
                alumnus_id=r[0],
                name=r[1],
                status=r[2],
                completed_at=_aware(r[3]),
                first_time=not r[4],
            )
            for r in rows
        ]


async def export_rows(
    db: Database,
    school_id: int,
    graduation_year: int | None = None,
    kelas: str | None = None,
    batch_size: int = 2000,
) -> AsyncIterator[dict[str, Any]]:
    """Every roster entry (responders and non-responders) with its current answers, streamed.

    Ordered by graduation year, class, name. Each dict: alumnus_id, nisn, nama, kelas, jurusan,
    tahun_lulus, status, source, answered_at (aware UTC or None), channel, and one key per
    EXPORT_ANSWER_FIELDS (decoded JSON value or None). The answers are pivoted in the database
    (one row per person); rows arrive in batches through a server-side cursor.
    """
    filters = _alumni_filters(school_id, graduation_year, kelas)
    cur, on_current = current_response_join(
        filters, db.engine.dialect.name, narrow=kelas is not None
    )
    pivot = [
        func.max(case((Answer.field == f, cast(Answer.value, Text)), else_=None)).label(f)
        for f in EXPORT_ANSWER_FIELDS
    ]
    group = (
        Alumnus.id,
        Alumnus.nisn,
        Alumnus.name,
        Alumnus.kelas,
        Alumnus.jurusan,
        Alumnus.graduation_year,
        cur.c.status,
        cur.c.source,
        cur.c.completed_at,
        cur.c.channel,
    )
    stmt = (
        select(*group, *pivot)
        .select_from(Alumnus)
        .outerjoin(cur, on_current)
        .outerjoin(Answer, Answer.response_id == cur.c.id)
        .where(*filters)
        .group_by(*group)
        .order_by(Alumnus.graduation_year, Alumnus.kelas, Alumnus.name, Alumnus.id)
        .execution_options(yield_per=batch_size)
    )
    async with db.session() as session:
        result = await session.stream(stmt)
        async for partition in result.partitions():
            for r in partition:
                row = {
                    "alumnus_id": r[0],
                    "nisn": r[1],
                    "nama": r[2],
                    "kelas": r[3],
                    "jurusan": r[4],
                    "tahun_lulus": r[5],
                    "status": r[6],
                    "source": r[7],
                    "answered_at": _aware(r[8]),
                    "channel": r[9],
                }
                for i, f in enumerate(EXPORT_ANSWER_FIELDS, start=10):
                    row[f] = _decode(r[i])
                yield row


__all__ = [
    "EXPORT_ANSWER_FIELDS",
    "REASONS",
    "AnsweredEntry",
    "ClassSummary",
    "NonResponder",
    "RecapRow",
    "answered_since",
    "class_summary",
    "classify_nonresponder",
    "current_response_join",
    "export_rows",
    "latest_year_of_class",
    "median_from_histogram",
    "recap_totals",
    "school_recap",
]
