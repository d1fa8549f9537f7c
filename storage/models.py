"""SQLModel tables. All times are timezone-aware UTC datetimes (see `utcnow`); show them in the
school's zone.

The shape in short:
- `School` owns `Alumnus` rows (the roster), staff and vacancies; one deployment may hold several
  schools (a regional vacancy reaches several of them through `VacancySchool`).
- `Invitation` is a one-person code that links a chat to a roster row.
- `Contact` is one chat identity on one channel (a Telegram chat id, a WhatsApp number, a console
  session). It carries the conversation state (JSON) and, once identified, points at an `Alumnus`.
- `Response` is one pass through the questionnaire (the first one, or a later /ubah update);
  `Answer` rows hang off it. The newest *completed* response is the person's current status,
  older ones are the history.
- `InboundEvent` records every processed Telegram update_id / WhatsApp message id (idempotency).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Aware UTC now: the one time representation stored in the database."""
    return datetime.now(UTC)


class School(SQLModel, table=True):
    __tablename__ = "school"

    id: int | None = Field(default=None, primary_key=True)
    npsn: str = Field(max_length=16, unique=True)
    name: str = Field(max_length=200)
    timezone: str = Field(default="Asia/Jakarta", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class Alumnus(SQLModel, table=True):
    """One roster row: a graduate of a school."""

    __tablename__ = "alumnus"
    __table_args__ = (
        UniqueConstraint("school_id", "nisn", name="uq_alumnus_school_nisn"),
        Index("ix_alumnus_school_kelas", "school_id", "kelas"),
        Index("ix_alumnus_phone", "phone"),
    )

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    nisn: str = Field(max_length=10)
    name: str = Field(max_length=200)
    birth_date: date
    gender: str | None = Field(default=None, max_length=1)  # L / P
    kelas: str = Field(max_length=64)
    jurusan: str = Field(max_length=64)
    graduation_year: int
    homeroom_teacher: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=20)  # international digits, e.g. 62812...

    # consent (UU PDP): tracer consent with version and time; vacancies consent separately
    consent_tracer_at: datetime | None = None
    consent_version: str | None = Field(default=None, max_length=32)
    consent_vacancies: bool | None = None
    consent_vacancies_at: datetime | None = None
    # STOP: no outreach at all (reminders, vacancies, follow-ups); direct replies still work
    stopped_at: datetime | None = None
    # declined the tracer consent after opening their personal invitation link: only the fact
    # and the time (no answers, no chat link); cleared when they agree later
    declined_at: datetime | None = None

    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Invitation(SQLModel, table=True):
    __tablename__ = "invitation"

    code: str = Field(primary_key=True, max_length=32)
    alumnus_id: int = Field(foreign_key="alumnus.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None


class Contact(SQLModel, table=True):
    """A chat identity on one channel, with its conversation state."""

    __tablename__ = "contact"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_contact_channel_address"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)  # telegram | whatsapp | console
    address: str = Field(max_length=64)  # telegram chat id, WhatsApp wa_id, console session
    alumnus_id: int | None = Field(default=None, foreign_key="alumnus.id", index=True)
    language: str = Field(default="id", max_length=2)
    state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    response_id: int | None = Field(default=None)  # the response being filled in, if any
    refused_at: datetime | None = None  # declined tracer consent (kept: the refusal itself)
    unreachable_at: datetime | None = None  # blocked the bot / number undeliverable
    unreachable_reason: str | None = Field(default=None, max_length=200)
    last_inbound_at: datetime | None = None  # WhatsApp 24-hour window; reminders
    last_outbound_at: datetime | None = None
    # Telegram @username (without "@") while the chat is linked to a graduate, so BKK staff can
    # reach someone interested in a vacancy (t.me/<username>); personal data: in /data,
    # cleared by /hapus and when the chat is no longer linked
    username: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Response(SQLModel, table=True):
    """One pass through the questionnaire. The newest completed one is current."""

    __tablename__ = "response"
    __table_args__ = (Index("ix_response_alumnus_completed", "alumnus_id", "completed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    alumnus_id: int = Field(foreign_key="alumnus.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    channel: str = Field(max_length=16)
    source: str = Field(default="chat", max_length=8)  # chat | staff
    status: str | None = Field(default=None, max_length=32)  # B1 code, denormalised
    started_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = Field(default=None, index=True)
    last_question: str | None = Field(
        default=None, max_length=32
    )  # where an unfinished one stopped


class Answer(SQLModel, table=True):
    """One answered field of a response (value is the code, text, or a list of codes)."""

    __tablename__ = "answer"
    __table_args__ = (UniqueConstraint("response_id", "field", name="uq_answer_response_field"),)

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="response.id", index=True)
    field: str = Field(max_length=32)
    value: Any = Field(sa_column=Column(JSON, nullable=True))
    answered_at: datetime = Field(default_factory=utcnow)


class InboundEvent(SQLModel, table=True):
    """Idempotency record of a processed inbound update (Telegram update_id, WhatsApp wamid)."""

    __tablename__ = "inbound_event"

    channel: str = Field(primary_key=True, max_length=16)
    external_id: str = Field(primary_key=True, max_length=128)
    received_at: datetime = Field(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    """A message the bot sent on a channel that reports delivery (WhatsApp), and its latest
    status: sent / delivered / read / failed (with Meta's error code)."""

    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_delivery_external"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=128)  # wamid
    contact_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    outbox_id: int | None = Field(default=None, index=True)  # when sent by the dispatcher
    kind: str = Field(default="reply", max_length=16)  # reply | template | outbox
    status: str = Field(default="accepted", max_length=16)
    error_code: str | None = Field(default=None, max_length=32)
    error_title: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Staff(SQLModel, table=True):
    """A school staff member who may use staff commands (admin, BKK, homeroom teacher).

    One chat, one staff identity: a Telegram id or WhatsApp number belongs to at most one
    active (not removed) member (the partial unique indexes, migration 0002)."""

    __tablename__ = "staff"
    __table_args__ = (
        Index("ix_staff_telegram_id", "telegram_id"),
        Index("ix_staff_whatsapp", "whatsapp"),
        Index(
            "uq_staff_active_telegram",
            "telegram_id",
            unique=True,
            sqlite_where=text("removed_at IS NULL AND telegram_id IS NOT NULL"),
            postgresql_where=text("removed_at IS NULL AND telegram_id IS NOT NULL"),
        ),
        Index(
            "uq_staff_active_whatsapp",
            "whatsapp",
            unique=True,
            sqlite_where=text("removed_at IS NULL AND whatsapp IS NOT NULL"),
            postgresql_where=text("removed_at IS NULL AND whatsapp IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    role: str = Field(max_length=16)  # admin | bkk | teacher | regional
    name: str = Field(max_length=200)
    # True when an admin set `name` (`staff add --name`, an invitation made with --name): only
    # then is it matched against the roster's wali_kelas. False: the chat's display name at
    # redemption, a label only (migration 0004)
    name_from_admin: bool = False
    # regional role (BKK/Disnaker): NPSNs of the schools it may publish vacancies to, ["*"] = all
    covers: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    telegram_id: str | None = Field(default=None, max_length=64)
    whatsapp: str | None = Field(default=None, max_length=20)  # international digits
    created_at: datetime = Field(default_factory=utcnow)
    removed_at: datetime | None = None


class StaffClass(SQLModel, table=True):
    """A cohort a teacher is explicitly responsible for (besides the roster's wali_kelas): a
    class and its graduation year, as "XII TKJ 1" recurs every year with another wali kelas
    (migration 0004)."""

    __tablename__ = "staff_class"

    staff_id: int = Field(foreign_key="staff.id", primary_key=True)
    kelas: str = Field(primary_key=True, max_length=64)
    graduation_year: int = Field(primary_key=True)


class StaffInvitation(SQLModel, table=True):
    """A one-time code a staff member sends to the bot to link their own chat."""

    __tablename__ = "staff_invitation"

    code: str = Field(primary_key=True, max_length=32)
    school_id: int = Field(foreign_key="school.id")
    role: str = Field(max_length=16)
    name: str | None = Field(default=None, max_length=200)
    # the cohorts it gives: [[class, graduation year], ...] (migration 0004; class names before)
    kelas: list[list[Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    covers: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    used_at: datetime | None = None
    used_by_contact: str | None = Field(default=None, max_length=96)  # "channel:address"


class Vacancy(SQLModel, table=True):
    """A job vacancy (lowongan) the BKK publishes to matching job-seekers."""

    __tablename__ = "vacancy"

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    company: str = Field(max_length=200)
    position: str = Field(max_length=200)
    majors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    location: str = Field(max_length=200)
    deadline: date
    description: str | None = Field(default=None, max_length=2000)
    quota: int | None = None
    apply_info: str | None = Field(default=None, max_length=1000)
    include_kursus: bool = False  # also send to alumni whose status is kursus
    status: str = Field(default="draft", max_length=16)  # draft | published | closed
    created_at: datetime = Field(default_factory=utcnow)
    published_at: datetime | None = None
    created_by: str | None = Field(default=None, max_length=200)


class VacancySchool(SQLModel, table=True):
    """A school whose job-seekers a vacancy goes to. No rows: only the vacancy's own school;
    a regional vacancy has one row per target school (which may leave out its own)."""

    __tablename__ = "vacancy_school"

    vacancy_id: int = Field(foreign_key="vacancy.id", primary_key=True)
    school_id: int = Field(foreign_key="school.id", primary_key=True, index=True)


class VacancyInterest(SQLModel, table=True):
    """An alumnus tapped "Saya berminat" on a vacancy (once per person and vacancy)."""

    __tablename__ = "vacancy_interest"
    __table_args__ = (
        UniqueConstraint("vacancy_id", "alumnus_id", name="uq_vacancy_interest_vacancy_alumnus"),
    )

    id: int | None = Field(default=None, primary_key=True)
    vacancy_id: int = Field(foreign_key="vacancy.id", index=True)
    alumnus_id: int = Field(foreign_key="alumnus.id")
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    at: datetime = Field(default_factory=utcnow)


class OutboxMessage(SQLModel, table=True):
    """One outbound message that is not a direct reply, or a WhatsApp direct reply that could
    not be sent at once (purpose `reply`; see bot/outreach/dispatcher.py)."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_status_due", "status", "not_before"),
        Index("ix_outbox_contact_status", "contact_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id")
    purpose: str = Field(max_length=16)  # reminder | followup | vacancy | digest | notice | reply
    idempotency_key: str = Field(max_length=200, unique=True)
    alumnus_id: int | None = Field(default=None, foreign_key="alumnus.id", index=True)
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)
    # text, question, options [{code,label,short}], action, template {name, params}
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # pending | sending | sent | failed | unreachable | unknown | cancelled
    status: str = Field(default="pending", max_length=16)
    not_before: datetime = Field(default_factory=utcnow)  # due time (quiet hours push it)
    attempts: int = 0
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = None
    sent_at: datetime | None = None
    external_id: str | None = Field(default=None, max_length=128)
    error_code: str | None = Field(default=None, max_length=32)
    last_error: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow)


class RateSlot(SQLModel, table=True):
    """The shared send schedule of one channel across processes (PostgreSQL): `next_at` is the
    epoch second at which the next message may leave; each process reserves slots from it."""

    __tablename__ = "rate_slot"

    channel: str = Field(primary_key=True, max_length=16)
    next_at: float = 0.0


__all__ = [
    "Alumnus",
    "Answer",
    "Contact",
    "InboundEvent",
    "Invitation",
    "OutboxMessage",
    "RateSlot",
    "Response",
    "School",
    "Staff",
    "StaffClass",
    "StaffInvitation",
    "Vacancy",
    "VacancyInterest",
    "VacancySchool",
    "utcnow",
]
