"""Queries behind the conversation shell: contacts, identity lookups, responses and answers.

Identity lookups take a `school_id`; None searches every school of the deployment (what the
shell does): invitation codes are unique across the deployment, NISN is national, and a phone
number identifies someone only if exactly one roster row in the deployment has it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.invitations import normalise_code
from storage.models import Alumnus, Answer, Contact, InboundEvent, Invitation, Response, utcnow

# The statements of every inbound message are built once per dialect and run as Core on the
# session's connection: no ORM statement layer (no autoflush, no session synchronisation), no
# construction or cache-key work per call. Measured on SQLite: ~390 us -> ~60-100 us each.
_PREBUILT: dict[tuple[str, str], Any] = {}


def _prebuilt(session: AsyncSession, name: str, build: Callable[[str], Any]) -> Any:
    dialect = session.bind.dialect.name
    stmt = _PREBUILT.get((dialect, name))
    if stmt is None:
        stmt = _PREBUILT[(dialect, name)] = build(dialect)
    return stmt


def _insert_for(dialect: str) -> Callable[..., Any]:
    return pg_insert if dialect == "postgresql" else sqlite_insert


def _record_inbound_stmt(dialect: str) -> Any:
    table = InboundEvent.__table__
    return (
        _insert_for(dialect)(table)
        .values(
            channel=bindparam("channel", type_=table.c.channel.type),
            external_id=bindparam("external_id", type_=table.c.external_id.type),
            received_at=bindparam("received_at", type_=table.c.received_at.type),
        )
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
    )


async def record_inbound(session: AsyncSession, channel: str, external_id: str) -> bool:
    """Record an inbound event id; False when it had been recorded before (a redelivery)."""
    stmt = _prebuilt(session, "record_inbound", _record_inbound_stmt)
    connection = await session.connection()
    result = await connection.execute(
        stmt, {"channel": channel, "external_id": external_id, "received_at": utcnow()}
    )
    return result.rowcount == 1


async def record_inbounds(
    session: AsyncSession, keys: list[tuple[str, str]]
) -> set[tuple[str, str]]:
    """`record_inbound` for a batch in one statement: the (channel, external id) pairs that
    were new (the others are redeliveries)."""
    if not keys:
        return set()
    stmt = _prebuilt(session, "record_inbounds", _record_inbounds_stmt)
    now = utcnow()
    connection = await session.connection()
    rows = await connection.execute(
        stmt, [{"channel": c, "external_id": e, "received_at": now} for c, e in keys]
    )
    return {(row[0], row[1]) for row in rows}


def _record_inbounds_stmt(dialect: str) -> Any:
    table = InboundEvent.__table__
    return _record_inbound_stmt(dialect).returning(table.c.channel, table.c.external_id)


async def lock_address(session: AsyncSession, channel: str, address: str) -> None:
    """Serialise work on one person across processes (PostgreSQL advisory transaction lock)."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"contact:{channel}:{address}"},
        )


async def lock_addresses(session: AsyncSession, keys: list[tuple[str, str]]) -> None:
    """`lock_address` for several people in one statement, in a fixed (sorted) order, so that
    two transactions locking overlapping sets never deadlock (PostgreSQL; SQLite: nothing)."""
    if session.bind.dialect.name != "postgresql" or not keys:
        return
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(k, 0) AS h"
            " FROM unnest(CAST(:keys AS text[])) AS k ORDER BY h) AS s"
        ),
        {"keys": [f"contact:{channel}:{address}" for channel, address in keys]},
    )


PRELOADED = "jejak.preloaded_contacts"


async def preload_contacts(session: AsyncSession, keys: list[tuple[str, str]]) -> None:
    """Read the contacts of several chats in one statement; `get_or_create_contact` in the
    same session then takes each from here once instead of querying."""
    by_channel: dict[str, list[str]] = {}
    for channel, address in keys:
        by_channel.setdefault(channel, []).append(address)
    preloaded: dict[tuple[str, str], Contact | None] = session.info.setdefault(PRELOADED, {})
    preloaded.update(dict.fromkeys(keys))  # None: no such contact yet
    many = _prebuilt(session, "preload_contacts", _preload_contacts_stmt)
    one = _prebuilt(session, "preload_contact", _preload_contact_stmt)
    connection = await session.connection()
    for channel, addresses in by_channel.items():
        if len(addresses) == 1:  # no IN list to render for one chat
            params = {"channel": channel, "address": addresses[0]}
            rows = await connection.execute(one, params)
        else:
            rows = await connection.execute(many, {"channel": channel, "addresses": addresses})
        for row in rows.mappings():
            preloaded[(row["channel"], row["address"])] = _detached_contact(row)


def _preload_contacts_stmt(_dialect: str) -> Any:
    table = Contact.__table__
    return select(table).where(
        table.c.channel == bindparam("channel", type_=table.c.channel.type),
        table.c.address.in_(bindparam("addresses", expanding=True)),
    )


def _preload_contact_stmt(_dialect: str) -> Any:
    table = Contact.__table__
    return select(table).where(
        table.c.channel == bindparam("channel", type_=table.c.channel.type),
        table.c.address == bindparam("address", type_=table.c.address.type),
    )


def _detached_contact(row: Any) -> Contact:
    """A Contact built from a Core row, outside the session (no ORM loading or identity-map
    work): the shell reads and sets its attributes and writes it back with `save_contact`."""
    contact = Contact.__mapper__.class_manager.new_instance()
    contact.__dict__.update(row)  # loaded values, as the ORM keeps them (no change history)
    return contact


# what the conversation shell changes on a contact (never the outreach columns)
_SAVED_CONTACT_COLUMNS = (
    "state",
    "language",
    "alumnus_id",
    "response_id",
    "refused_at",
    "last_inbound_at",
    "username",
    "updated_at",
)


def _save_contact_stmt(_dialect: str) -> Any:
    table = Contact.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("contact_id", type_=table.c.id.type))
        .values({n: bindparam(n, type_=table.c[n].type) for n in _SAVED_CONTACT_COLUMNS})
    )


async def save_contact(session: AsyncSession, contact: Contact) -> None:
    """Write what the shell changes on a contact in one prebuilt UPDATE, and take the object
    out of the session (the unit of work has nothing left to flush for it)."""
    if contact.id is None:  # new in this transaction: insert it first
        await session.flush()
    params = {n: getattr(contact, n) for n in _SAVED_CONTACT_COLUMNS}
    params["contact_id"] = contact.id
    stmt = _prebuilt(session, "save_contact", _save_contact_stmt)
    await (await session.connection()).execute(stmt, params)
    if contact in session:
        session.expunge(contact)


async def get_or_create_contact(
    session: AsyncSession, channel: str, address: str, language: str
) -> tuple[Contact, bool]:
    preloaded = session.info.get(PRELOADED)
    if preloaded and (channel, address) in preloaded:  # read in this transaction, used once
        contact = preloaded.pop((channel, address))
    else:
        contact = (
            await session.execute(
                select(Contact).where(Contact.channel == channel, Contact.address == address)
            )
        ).scalar_one_or_none()
    if contact is not None:
        return contact, False
    contact = Contact(channel=channel, address=address, language=language, state={})
    session.add(contact)
    await session.flush()
    return contact, True


_CARD = ("id", "name", "kelas", "graduation_year", "school_id")


def alumnus_card(alumnus: Any) -> dict[str, Any]:
    """What the engine may know about a matched graduate (from an Alumnus or a row of
    `_card_columns()`)."""
    return {
        "id": alumnus.id,
        "name": alumnus.name,
        "kelas": alumnus.kelas,
        "year": alumnus.graduation_year,
        "school_id": alumnus.school_id,
    }


def _card_columns() -> list[Any]:
    return [Alumnus.__table__.c[name] for name in _CARD]


def _code_stmt(_dialect: str) -> Any:
    alumnus, invitation = Alumnus.__table__, Invitation.__table__
    return (
        select(*_card_columns(), invitation.c.used_at)
        .join_from(alumnus, invitation, invitation.c.alumnus_id == alumnus.c.id)
        .where(invitation.c.code == bindparam("code", type_=invitation.c.code.type))
    )


async def find_by_code(
    session: AsyncSession, school_id: int | None, code: str
) -> tuple[dict[str, Any], datetime | None] | None:
    """The card of the graduate an invitation code belongs to, and when the code was first
    used (None: never)."""
    normalised = normalise_code(code)
    if normalised is None:
        return None
    connection = await session.connection()
    row = (
        await connection.execute(_prebuilt(session, "code", _code_stmt), {"code": normalised})
    ).first()
    if row is None or (school_id is not None and row.school_id != school_id):
        return None
    return alumnus_card(row), row.used_at


async def school_of_code(session: AsyncSession, code: str) -> int | None:
    """The school of the graduate an invitation code belongs to (None: no such code)."""
    hit = await find_by_code(session, None, code)
    return hit[0]["school_id"] if hit else None


async def find_by_nisn_dob(
    session: AsyncSession, school_id: int | None, nisn: str, dob: date
) -> dict[str, Any] | None:
    """NISN + birth date. Across schools (school_id None) the same person may be on two
    rosters (moved school, a copied row): the newest graduation year wins."""
    query = select(*_card_columns()).where(Alumnus.nisn == nisn, Alumnus.birth_date == dob)
    if school_id is not None:
        query = query.where(Alumnus.school_id == school_id)
    query = query.order_by(Alumnus.graduation_year.desc(), Alumnus.id.desc()).limit(1)
    row = (await (await session.connection()).execute(query)).first()
    return alumnus_card(row) if row else None


async def find_by_phone(
    session: AsyncSession, school_id: int | None, phone: str
) -> dict[str, Any] | None:
    query = select(*_card_columns()).where(Alumnus.phone == phone)
    if school_id is not None:
        query = query.where(Alumnus.school_id == school_id)
    rows = (await (await session.connection()).execute(query.limit(2))).all()
    return alumnus_card(rows[0]) if len(rows) == 1 else None  # a shared family number: nobody


async def card_if_born(session: AsyncSession, alumnus_id: int, dob: date) -> dict[str, Any] | None:
    """The graduate's card when `dob` is their birth date, else None."""
    query = select(*_card_columns()).where(Alumnus.id == alumnus_id, Alumnus.birth_date == dob)
    row = (await (await session.connection()).execute(query)).first()
    return alumnus_card(row) if row else None


async def has_other_contacts(
    session: AsyncSession, alumnus_id: int, contact_id: int | None
) -> bool:
    """Whether another chat is linked to this graduate."""
    query = (
        select(Contact.id)
        .where(Contact.alumnus_id == alumnus_id, Contact.id != contact_id)
        .limit(1)
    )
    return (await (await session.connection()).execute(query)).first() is not None


# ---- the shell's writes to graduates and responses: one Core statement each ----
def _expire(session: AsyncSession, model: type, key: Any) -> None:
    """A row was written by Core: drop a loaded copy's attributes (they reload on access)."""
    loaded = session.identity_map.get(session.sync_session.identity_key(model, key))
    if loaded is not None:
        session.expire(loaded)


async def update_alumnus(session: AsyncSession, alumnus_id: int, **values: Any) -> bool:
    """Set columns of one graduate (one UPDATE); False when there is no such graduate."""
    names = tuple(sorted(values))
    table = Alumnus.__table__

    def build(_dialect: str) -> Any:
        return (
            update(table)
            .where(table.c.id == bindparam("alumnus_id", type_=table.c.id.type))
            .values({n: bindparam(n, type_=table.c[n].type) for n in names})
        )

    stmt = _prebuilt(session, "update_alumnus:" + ",".join(names), build)
    result = await (await session.connection()).execute(stmt, {"alumnus_id": alumnus_id, **values})
    _expire(session, Alumnus, alumnus_id)
    return result.rowcount == 1


async def record_declined(
    session: AsyncSession, code: str, contact_id: int | None, now: datetime
) -> bool:
    """A tracer-consent refusal from someone who came with invitation `code`: mark its graduate
    declined (`declined_at`, nothing else). Only when that tells who refused: the code is valid,
    no other chat is linked to the graduate and they have not consented (a leaked link used by
    someone else records nothing). One conditional UPDATE, so a consent committed meanwhile
    wins. Returns whether a graduate was marked."""
    hit = await find_by_code(session, None, code)
    if hit is None:
        return False
    alumnus_id = hit[0]["id"]
    other_chat = (
        select(Contact.id)
        .where(Contact.alumnus_id == alumnus_id, Contact.id != (contact_id or 0))
        .exists()
    )
    result = await (await session.connection()).execute(
        update(Alumnus)
        .where(Alumnus.id == alumnus_id, Alumnus.consent_tracer_at.is_(None), ~other_chat)
        .values(declined_at=now, updated_at=now)
    )
    _expire(session, Alumnus, alumnus_id)
    return result.rowcount == 1


async def mark_code_used(session: AsyncSession, code: str) -> None:
    """The first use of an invitation code (later uses keep the first time)."""
    normalised = normalise_code(code)
    if normalised is None:
        return
    await (await session.connection()).execute(
        update(Invitation)
        .where(Invitation.code == normalised, Invitation.used_at.is_(None))
        .values(used_at=utcnow())
    )


def _begin_response_stmt(_dialect: str) -> Any:
    table = Response.__table__
    columns = ("alumnus_id", "contact_id", "channel", "source", "started_at")
    return (
        table.insert()
        .values({n: bindparam(n, type_=table.c[n].type) for n in columns})
        .returning(table.c.id)
    )


async def begin_response(
    session: AsyncSession, alumnus_id: int, contact_id: int | None, channel: str
) -> int:
    """A new chat response for a graduate (one INSERT); its id."""
    stmt = _prebuilt(session, "begin_response", _begin_response_stmt)
    params = {
        "alumnus_id": alumnus_id,
        "contact_id": contact_id,
        "channel": channel,
        "source": "chat",
        "started_at": utcnow(),
    }
    return (await (await session.connection()).execute(stmt, params)).scalar_one()


async def complete_response(session: AsyncSession, response_id: int, status: str | None) -> None:
    await (await session.connection()).execute(
        update(Response)
        .where(Response.id == response_id)
        .values(completed_at=utcnow(), status=status)
    )
    _expire(session, Response, response_id)


async def sync_answers(
    session: AsyncSession, response_id: int, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """Write the difference between two answer dicts of one response: one DELETE for removed
    fields, one multi-row upsert (on the (response_id, field) unique key) for changed ones."""
    removed = [f for f in before if f not in after]
    if removed:
        await session.execute(
            delete(Answer).where(Answer.response_id == response_id, Answer.field.in_(removed))
        )
    changed = {f: v for f, v in after.items() if before.get(f) != v}
    if not changed:
        return
    now = utcnow()
    stmt = _prebuilt(session, "upsert_answer", _upsert_answer_stmt)
    connection = await session.connection()
    await connection.execute(
        stmt,
        [
            {"response_id": response_id, "field": f, "value": v, "answered_at": now}
            for f, v in changed.items()
        ],
    )


def _upsert_answer_stmt(dialect: str) -> Any:
    table = Answer.__table__
    stmt = _insert_for(dialect)(table).values(
        {name: bindparam(name, type_=table.c[name].type) for name in _ANSWER_COLUMNS}
    )
    return stmt.on_conflict_do_update(
        index_elements=["response_id", "field"],
        set_={"value": stmt.excluded.value, "answered_at": stmt.excluded.answered_at},
    )


_ANSWER_COLUMNS = ("response_id", "field", "value", "answered_at")


def _touch_response_stmt(_dialect: str) -> Any:
    table = Response.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("response_id", type_=table.c.id.type))
        .values(
            last_question=bindparam("last_question", type_=table.c.last_question.type),
            status=bindparam("status", type_=table.c.status.type),
        )
    )


async def touch_response(
    session: AsyncSession, response_id: int, last_question: str | None, status: str | None
) -> None:
    """Where a response stands (one UPDATE, without loading the row; a Response object in the
    session is not refreshed: the shell only ever sets the same status on it)."""
    stmt = _prebuilt(session, "touch_response", _touch_response_stmt)
    connection = await session.connection()
    await connection.execute(
        stmt, {"response_id": response_id, "last_question": last_question, "status": status}
    )


async def answers_of(session: AsyncSession, response_id: int) -> dict[str, Any]:
    rows = await session.execute(
        select(Answer.field, Answer.value).where(Answer.response_id == response_id)
    )
    return {f: v for f, v in rows.all()}


async def latest_completed(session: AsyncSession, alumnus_id: int) -> Response | None:
    return (
        await session.execute(
            select(Response)
            .where(Response.alumnus_id == alumnus_id, Response.completed_at.is_not(None))
            .order_by(Response.completed_at.desc(), Response.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def count_completed(session: AsyncSession, alumnus_id: int) -> int:
    return (
        await session.execute(
            select(func.count())
            .select_from(Response)
            .where(Response.alumnus_id == alumnus_id, Response.completed_at.is_not(None))
        )
    ).scalar_one()


async def usernames_of(session: AsyncSession, alumnus_id: int, current: Contact) -> list[str]:
    """The Telegram usernames kept on the graduate's chats (`current` as it is in memory)."""
    rows = await session.execute(
        select(Contact.username).where(
            Contact.alumnus_id == alumnus_id,
            Contact.username.is_not(None),
            Contact.id != current.id,
        )
    )
    names = [current.username] if current.username else []
    return list(dict.fromkeys(names + [u for (u,) in rows if u]))


async def delete_person_data(session: AsyncSession, alumnus: Alumnus) -> None:
    """/hapus: answers, responses, consents and chat links of one graduate (roster row stays)."""
    response_ids = select(Response.id).where(Response.alumnus_id == alumnus.id)
    await session.execute(delete(Answer).where(Answer.response_id.in_(response_ids)))
    await session.execute(delete(Response).where(Response.alumnus_id == alumnus.id))
    await session.execute(
        update(Contact)
        .where(Contact.alumnus_id == alumnus.id)
        .values(alumnus_id=None, response_id=None, state={}, username=None, updated_at=utcnow())
    )
    alumnus.consent_tracer_at = None
    alumnus.consent_version = None
    alumnus.consent_vacancies = None
    alumnus.consent_vacancies_at = None
    alumnus.updated_at = utcnow()


def parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
