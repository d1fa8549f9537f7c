"""The outbox: every outbound message that is not a direct reply, with its delivery state.

Life of a row (see docs/outreach.md for the crash rule):

    pending --claim_page--> pending + claimed_by/claimed_at (a lease: never attempted yet)
            --mark_sending (committed before the HTTP call)--> sending
            --record_*--> sent | pending (retry later) | failed | unreachable | cancelled
    sending left behind by a dead process --expire_stale_sending--> unknown (never resent
    automatically; `jejak outreach resend-unknown` puts them back to pending on purpose)

Claims use `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several dispatchers share the table;
on SQLite there is one process and the same statements run without the locking clause.
Every function takes an open session and leaves committing to the caller unless it says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Alumnus, Contact, OutboxMessage, Vacancy, utcnow

# `reply`: a WhatsApp direct reply that could not be sent at once (bot/channels/whatsapp.py)
PURPOSES = ("reminder", "followup", "vacancy", "digest", "notice", "reply")
REPLY = "reply"
STATUSES = ("pending", "sending", "sent", "failed", "unreachable", "unknown", "cancelled")
FINAL = frozenset({"sent", "failed", "unreachable", "unknown", "cancelled"})
UNSENT = ("pending", "sending")  # not final: may still be sent


def dialect_insert(session: AsyncSession):
    return pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


def is_postgres(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "postgresql"


async def enqueue(session: AsyncSession, rows: Iterable[dict[str, Any]]) -> int:
    """Insert outbox rows; a row whose idempotency_key exists is skipped. Returns rows added."""
    values = []
    now = utcnow()
    for row in rows:
        item = {"status": "pending", "attempts": 0, "created_at": now, "not_before": now}
        item.update(row)
        values.append(item)
    if not values:
        return 0
    stmt = (
        dialect_insert(session)(OutboxMessage)
        .values(values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    result = await session.execute(stmt)
    return max(result.rowcount or 0, 0)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed row, detached from any session (the dispatcher holds no session while sending)."""

    id: int
    school_id: int
    purpose: str
    channel: str
    address: str
    contact_id: int | None
    alumnus_id: int | None
    payload: dict[str, Any]
    attempts: int
    not_before: datetime


def _claimed(row: OutboxMessage) -> Claimed:
    return Claimed(
        id=row.id,
        school_id=row.school_id,
        purpose=row.purpose,
        channel=row.channel,
        address=row.address,
        contact_id=row.contact_id,
        alumnus_id=row.alumnus_id,
        payload=dict(row.payload or {}),
        attempts=row.attempts,
        not_before=row.not_before,
    )


async def claim_page(
    session: AsyncSession,
    worker: str,
    now: datetime,
    *,
    limit: int,
    channels: Iterable[str],
    lease: timedelta,
    purposes: Iterable[str] | None = None,
    chat_spacing: dict[str, timedelta] | None = None,
) -> list[Claimed]:
    """Lease up to `limit` due pending rows to `worker` (committed by the caller).

    A lease only says "this worker will try these soon": the rows stay `pending` and were never
    attempted, so a lease left behind by a dead process simply expires and another worker
    takes the rows. Due order: not_before, then id.

    `chat_spacing` ({channel: interval}, Telegram's 1 s per chat): a row whose contact got an
    outbox message less than `interval` ago (`contact.last_outbound_at`, written by whichever
    process sent it) is not taken now; it stays pending for a later pass. This carries the
    per-chat limit across processes (the in-process ChatPacer does the rest).

    Direct replies handed over (`reply`) leave one at a time per chat, in order: such a row is
    not taken while an earlier `reply` row of the same chat is still pending or sending.
    """
    stale = now - lease
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.not_before <= now,
            OutboxMessage.channel.in_(list(channels)),
            or_(OutboxMessage.claimed_at.is_(None), OutboxMessage.claimed_at < stale),
        )
        .order_by(OutboxMessage.not_before, OutboxMessage.id)
        .limit(limit)
    )
    for channel, interval in (chat_spacing or {}).items():
        recent = exists().where(
            Contact.id == OutboxMessage.contact_id, Contact.last_outbound_at > now - interval
        )
        query = query.where(or_(OutboxMessage.channel != channel, ~recent))
    earlier = _T.alias("earlier")
    behind = exists().where(
        earlier.c.purpose == REPLY,
        earlier.c.channel == OutboxMessage.channel,
        earlier.c.address == OutboxMessage.address,
        earlier.c.status.in_(UNSENT),
        earlier.c.id < OutboxMessage.id,
    )
    query = query.where(or_(OutboxMessage.purpose != REPLY, ~behind))
    if purposes is not None:
        query = query.where(OutboxMessage.purpose.in_(list(purposes)))
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    rows = list((await session.execute(query)).scalars().all())
    if not rows:
        return []
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_([r.id for r in rows]))
        .values(claimed_by=worker, claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return [_claimed(r) for r in rows]


async def mark_sending(session: AsyncSession, row_id: int, worker: str, now: datetime) -> bool:
    """pending (leased to `worker`) -> sending, attempts + 1. False if the row is no longer ours
    (lease expired and taken, or cancelled meanwhile): then it must not be sent."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id,
            OutboxMessage.status == "pending",
            OutboxMessage.claimed_by == worker,
        )
        .values(
            status="sending",
            claimed_at=now,
            attempts=OutboxMessage.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return (result.rowcount or 0) == 1


@dataclass(frozen=True, slots=True)
class RowFacts:
    """What the send-time check of a row needs, read by `begin_send` in the statement that marks
    it `sending`."""

    last_inbound_at: datetime | None
    unreachable_at: datetime | None
    stopped_at: datetime | None
    vacancy_status: str | None
    vacancy_deadline: date | None = None


_T = OutboxMessage.__table__
_C = Contact.__table__
_CI = _C.alias("c_in")  # aliases keep the correlated subqueries unambiguous on SQLite, which
_AI = Alumnus.__table__.alias("a_in")  # renders RETURNING columns unqualified
_VI = Vacancy.__table__.alias("v_in")
_BEGIN_SEND = (
    update(_T)
    .where(
        _T.c.id == bindparam("b_row_id"),
        _T.c.status == "pending",
        _T.c.claimed_by == bindparam("b_worker"),
    )
    .values(status="sending", claimed_at=bindparam("b_now"), attempts=_T.c.attempts + 1)
    .returning(
        select(_CI.c.last_inbound_at).where(_CI.c.id == _T.c.contact_id).scalar_subquery(),
        select(_CI.c.unreachable_at).where(_CI.c.id == _T.c.contact_id).scalar_subquery(),
        select(_AI.c.stopped_at).where(_AI.c.id == _T.c.alumnus_id).scalar_subquery(),
        select(_VI.c.status).where(_VI.c.id == bindparam("b_vacancy_id")).scalar_subquery(),
        select(_VI.c.deadline).where(_VI.c.id == bindparam("b_vacancy_id")).scalar_subquery(),
    )
)
_SENT = (
    update(_T)
    .where(_T.c.id == bindparam("b_row_id"))
    .values(status="sent", sent_at=bindparam("b_now"), external_id=bindparam("b_external_id"))
)
_CONTACT_OUT = (
    update(_C)
    .where(_C.c.id == bindparam("b_contact_id"))
    .values(last_outbound_at=bindparam("b_now"))
)


async def begin_send(
    conn: Any, row_id: int, worker: str, now: datetime, *, vacancy_id: int | None = None
) -> RowFacts | None:
    """`mark_sending` and the facts of the send-time check in one statement (one round trip;
    `conn` is an AsyncConnection or AsyncSession, committed by the caller or autocommit).
    None: the row is not ours any more and must not be sent."""
    row = (
        await conn.execute(
            _BEGIN_SEND,
            {"b_row_id": row_id, "b_worker": worker, "b_now": now, "b_vacancy_id": vacancy_id},
        )
    ).first()
    if row is None:
        return None
    return RowFacts(*row)


async def finish_sent(
    conn: Any, row_id: int, contact_id: int | None, now: datetime, external_id: str | None
) -> None:
    """`record_sent` without reading the row back: the outcome, and the contact's
    last_outbound_at (what `claim_page`'s chat spacing reads). One round trip on PostgreSQL."""
    values = {
        "b_row_id": row_id,
        "b_now": now,
        "b_external_id": external_id,
        "b_contact_id": contact_id,
    }
    dialect = getattr(conn, "dialect", None) or conn.bind.dialect
    if contact_id is not None and dialect.name == "postgresql":
        await conn.execute(_SENT_AND_CONTACT, values)
        return
    await conn.execute(_SENT, values)
    if contact_id is not None:
        await conn.execute(_CONTACT_OUT, values)


def _sent_and_contact():
    sent = _SENT.returning(_T.c.id).cte("sent")
    return (
        update(_C)
        .where(and_(_C.c.id == bindparam("b_contact_id"), exists(select(sent.c.id))))
        .values(last_outbound_at=bindparam("b_now"))
    )


_SENT_AND_CONTACT = _sent_and_contact()


async def _finish(session: AsyncSession, row_id: int, **values: Any) -> None:
    """The outcome of the row's attempt. Only a row still `sending` takes it: a WhatsApp status
    webhook may have confirmed it `sent` meanwhile (`confirm_from_status`), and a later
    timeout or error of the same request must not put it back to pending (a duplicate)."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, OutboxMessage.status == "sending")
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def record_sent(
    session: AsyncSession, row_id: int, now: datetime, external_id: str | None
) -> None:
    await _finish(session, row_id, status="sent", sent_at=now, external_id=external_id)
    row = await session.get(OutboxMessage, row_id)
    if row is not None and row.contact_id is not None:
        await session.execute(
            update(Contact).where(Contact.id == row.contact_id).values(last_outbound_at=now)
        )


async def record_retry(
    session: AsyncSession,
    row_id: int,
    not_before: datetime,
    *,
    error_code: str | None,
    error: str | None,
) -> None:
    """Back to pending (lease dropped) after a transient failure; due again at `not_before`."""
    await _finish(
        session,
        row_id,
        status="pending",
        not_before=not_before,
        claimed_by=None,
        claimed_at=None,
        error_code=error_code,
        last_error=(error or "")[:300] or None,
    )


async def record_final(
    session: AsyncSession,
    row_id: int,
    status: str,
    *,
    error_code: str | None = None,
    error: str | None = None,
) -> None:
    await _finish(
        session,
        row_id,
        status=status,
        error_code=error_code,
        last_error=(error or "")[:300] or None,
    )


# ---- WhatsApp: a status webhook confirms a row ------------------------------------------------
CALLBACK_PREFIX = "outbox:"
DELIVERED = frozenset({"sent", "delivered", "read"})


def callback_data(row_id: int) -> str:
    """What the dispatcher puts in a WhatsApp message's biz_opaque_callback_data."""
    return f"{CALLBACK_PREFIX}{row_id}"


def parse_callback_data(value: str | None) -> int | None:
    if not value or not value.startswith(CALLBACK_PREFIX):
        return None
    digits = value[len(CALLBACK_PREFIX) :]
    return int(digits) if digits.isdigit() else None


async def confirm_from_status(
    session: Any,
    row_id: int,
    status: str,
    external_id: str,
    now: datetime,
    *,
    error_code: str | None = None,
) -> str | None:
    """A status webhook for a message carrying `outbox:<row_id>`: the platform has the message.

    sent / delivered / read: a row whose outcome we never learnt (`sending`: the process may
    have died mid-request; `unknown`: it did, and the lease ran out; `pending` after an attempt:
    that attempt timed out on our side) becomes `sent` (not sent again). failed: an `unknown`
    row becomes `failed` (it reached Meta and failed; a `sending` row's outcome is still coming
    from its own request). Rows already final are left alone. Returns the new status, if any."""
    t = _T
    if status in DELIVERED:
        unresolved = or_(
            t.c.status.in_(("sending", "unknown")),
            and_(t.c.status == "pending", t.c.attempts > 0),
        )
        values: dict[str, Any] = {
            "status": "sent",
            "sent_at": func.coalesce(t.c.sent_at, now),
            "external_id": func.coalesce(t.c.external_id, external_id),
            "claimed_by": None,
            "last_error": None,
        }
        new = "sent"
    elif status == "failed":
        unresolved = t.c.status == "unknown"
        values = {"status": "failed", "error_code": error_code, "last_error": "failed (status)"}
        new = "failed"
    else:
        return None
    result = await session.execute(update(t).where(t.c.id == row_id, unresolved).values(**values))
    return new if (result.rowcount or 0) == 1 else None


async def replies_waiting(session: AsyncSession, channel: str, address: str) -> bool:
    """Does this chat have direct replies (`reply` rows) still to send? Its next replies then
    queue behind them."""
    found = await session.execute(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status.in_(UNSENT),
            OutboxMessage.purpose == REPLY,
            OutboxMessage.channel == channel,
            OutboxMessage.address == address,
        )
        .limit(1)
    )
    return found.first() is not None


async def forget_payload(conn: Any, row_id: int) -> None:
    """A `reply` row's text is not kept once the row is final (it may show the person's data,
    e.g. the answer to DATA): the payload is emptied (not of an `unknown` row, which an
    operator may resend)."""
    await conn.execute(
        update(_T)
        .where(_T.c.id == row_id, _T.c.status.in_(("sent", "failed", "unreachable", "cancelled")))
        .values(payload={})
    )


async def release(session: AsyncSession, row_id: int, worker: str, not_before: datetime) -> None:
    """Give a leased, never-attempted row back, due at `not_before` (per-chat pacing)."""
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id,
            OutboxMessage.status == "pending",
            OutboxMessage.claimed_by == worker,
        )
        .values(claimed_by=None, claimed_at=None, not_before=not_before)
        .execution_options(synchronize_session=False)
    )


async def cancel_pending_for_contact(
    session: AsyncSession, contact_id: int, reason: str, *, status: str = "cancelled"
) -> int:
    """Cancel the contact's other pending rows (blocked / unreachable / STOP); the text of its
    `reply` rows is not kept (see `forget_payload`)."""
    pending = (OutboxMessage.contact_id == contact_id, OutboxMessage.status == "pending")
    await session.execute(
        update(OutboxMessage)
        .where(*pending, OutboxMessage.purpose == REPLY)
        .values(payload={})
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        update(OutboxMessage)
        .where(*pending)
        .values(status=status, last_error=reason[:300])
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def expire_stale_sending(session: AsyncSession, now: datetime, lease: timedelta) -> int:
    """Rows left in `sending` longer than `lease` by a process that died: their fate is unknown
    (the request may or may not have reached the platform). Mark them `unknown`, never resend."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "sending", OutboxMessage.claimed_at < now - lease)
        .values(
            status="unknown",
            last_error="claimed but unconfirmed: the sending process stopped mid-send",
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def resend_unknown(
    session: AsyncSession, now: datetime, ids: Iterable[int] | None = None
) -> int:
    """Operator decision: put `unknown` rows back to pending (may deliver a duplicate)."""
    stmt = update(OutboxMessage).where(OutboxMessage.status == "unknown")
    if ids is not None:
        stmt = stmt.where(OutboxMessage.id.in_(list(ids)))
    result = await session.execute(
        stmt.values(
            status="pending", not_before=now, claimed_by=None, claimed_at=None
        ).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def counts(session: AsyncSession, *, purpose: str | None = None) -> dict[str, dict[str, int]]:
    """{purpose: {status: n}} over the whole outbox (or one purpose)."""
    query = select(OutboxMessage.purpose, OutboxMessage.status, func.count()).group_by(
        OutboxMessage.purpose, OutboxMessage.status
    )
    if purpose is not None:
        query = query.where(OutboxMessage.purpose == purpose)
    out: dict[str, dict[str, int]] = {}
    for p, s, n in (await session.execute(query)).all():
        out.setdefault(p, {})[s] = n
    return out


async def unsent_by_channel(
    session: AsyncSession, *, school_id: int | None = None
) -> dict[str, int]:
    """{channel: n} of the rows not sent yet (pending or mid-send), of one school or all."""
    query = (
        select(OutboxMessage.channel, func.count())
        .where(OutboxMessage.status.in_(UNSENT))
        .group_by(OutboxMessage.channel)
    )
    if school_id is not None:
        query = query.where(OutboxMessage.school_id == school_id)
    return dict((await session.execute(query)).all())


async def cancelled_reasons(
    session: AsyncSession, *, school_id: int | None = None
) -> list[tuple[str, str, int]]:
    """(purpose, reason, n) of the cancelled rows: why they were not sent (STOP, vacancy
    closed, vacancy deadline passed, ...)."""
    query = (
        select(OutboxMessage.purpose, OutboxMessage.last_error, func.count())
        .where(OutboxMessage.status == "cancelled")
        .group_by(OutboxMessage.purpose, OutboxMessage.last_error)
        .order_by(OutboxMessage.purpose, func.count().desc())
    )
    if school_id is not None:
        query = query.where(OutboxMessage.school_id == school_id)
    return [(p, r or "-", n) for p, r, n in (await session.execute(query)).all()]


async def next_due(session: AsyncSession, channels: Iterable[str]) -> datetime | None:
    return (
        await session.execute(
            select(func.min(OutboxMessage.not_before)).where(
                OutboxMessage.status == "pending", OutboxMessage.channel.in_(list(channels))
            )
        )
    ).scalar_one_or_none()
