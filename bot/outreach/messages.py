"""What outreach messages say: vacancy, reminder and follow-up payloads, the WhatsApp template
choice (the 24-hour rule, in one function), and the send-time check of each row. Which template
takes which parameters is defined once, in `bot.outreach.templates`.

A payload is plain JSON stored on the outbox row:
    {"text": str, "question": str | None, "options": [{"code", "label", "short"}],
     "action": str | None, "template": {"name": str, "params": [str], "buttons": [str]}}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import Template
from bot.outreach import templates
from conversations.messages import Catalogue
from conversations.types import Option, Reply
from storage import queries
from storage.models import Alumnus, Contact, Vacancy

WHATSAPP_WINDOW = timedelta(hours=24)
# a message is free text only if the window stays open a little longer than the send takes
WINDOW_MARGIN = timedelta(minutes=5)
INTEREST_ACTION = "interest:{id}"
WINDOW_CLOSED = "24-hour window closed"  # why a queued direct reply was not sent


def aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def reply_to_payload(reply: Reply, template: dict[str, Any] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "text": reply.text,
        "question": reply.question,
        "options": [{"code": o.code, "label": o.label, "short": o.short} for o in reply.options],
        "action": reply.action,
        "multi": reply.multi,
        "numbered": reply.numbered,
    }
    if template:
        payload["template"] = template
    return payload


def payload_to_reply(payload: dict[str, Any]) -> Reply:
    return Reply(
        text=str(payload.get("text") or ""),
        question=payload.get("question"),
        options=tuple(
            Option(code=o["code"], label=o["label"], short=o.get("short") or o["label"][:20])
            for o in payload.get("options") or []
        ),
        multi=bool(payload.get("multi")),
        numbered=bool(payload.get("numbered", True)),
        action=payload.get("action"),
    )


def majors_text(majors: list[str], cat: Catalogue, lang: str) -> str:
    return cat.t("outreach.vacancy.all_majors", lang) if "*" in majors else ", ".join(majors)


def vacancy_payload(vacancy: Vacancy, school: str, cat: Catalogue, lang: str) -> dict[str, Any]:
    extra = []
    if vacancy.quota:
        extra.append(cat.t("outreach.vacancy.quota", lang, quota=vacancy.quota))
    if vacancy.description:
        extra.append(vacancy.description)
    if vacancy.apply_info:
        extra.append(cat.t("outreach.vacancy.apply", lang, info=vacancy.apply_info))
    deadline = vacancy.deadline.strftime("%d-%m-%Y")
    text = cat.t(
        "outreach.vacancy",
        lang,
        school=school,
        position=vacancy.position,
        company=vacancy.company,
        location=vacancy.location,
        majors=majors_text(vacancy.majors, cat, lang),
        deadline=deadline,
        extra=("\n" + "\n".join(extra)) if extra else "",
    )
    label = cat.t("outreach.interest_button", lang)
    action = INTEREST_ACTION.format(id=vacancy.id)
    reply = Reply(
        text=text, options=(Option(code="interest", label=label, short=label),), action=action
    )
    template = templates.VACANCY.spec(
        position=vacancy.position,
        company=vacancy.company,
        location=vacancy.location,
        deadline=deadline,
        buttons=[f"a:{action}"],
    )
    payload = reply_to_payload(reply, template)
    payload["vacancy_id"] = vacancy.id
    return payload


def reminder_payload(
    prompt: Reply, name: str, school: str, cat: Catalogue, lang: str
) -> dict[str, Any]:
    prefix = cat.t("outreach.reminder", lang, name=name.split()[0] if name else "", school=school)
    reply = Reply(
        text=f"{prefix}\n\n{prompt.text}",
        question=prompt.question,
        options=prompt.options,
        multi=prompt.multi,
        numbered=prompt.numbered,
    )
    return reply_to_payload(reply, templates.REMINDER.spec(name=name or "-", school=school))


def followup_payload(name: str, cat: Catalogue, lang: str) -> dict[str, Any]:
    """Stored at planning time; the real prompt is composed when sent (it re-opens the status
    question then)."""
    text = cat.t("outreach.followup", lang, name=name.split()[0] if name else "")
    template = templates.FOLLOWUP.spec(name=name or "-")
    return {"text": text, "compose": "followup", "template": template}


# ---- the 24-hour rule --------------------------------------------------------------------
def window_template(
    settings: Any,
    channel: str,
    purpose: str,
    payload: dict[str, Any],
    last_inbound_at: datetime | None,
    now: datetime,
    *,
    force: bool = False,
) -> Template | None:
    """The one place that decides free text vs template (WhatsApp's 24-hour rule).

    None: send the payload as a normal message. A Template: send that instead, because the
    person last wrote more than 24 hours ago (or never), or the platform said so (`force`).
    Other channels never need one."""
    if channel != "whatsapp":
        return None
    last = aware(last_inbound_at)
    if not force and last is not None and now - last < WHATSAPP_WINDOW - WINDOW_MARGIN:
        return None
    spec = payload.get("template") or {}
    return Template(
        name=spec.get("name") or templates.for_purpose(purpose).name(settings),
        language=spec.get("language") or getattr(settings, templates.LANGUAGE_SETTING),
        parameters=tuple(str(p) for p in spec.get("params") or ()),
        button_payloads=tuple(str(b) for b in spec.get("buttons") or ()),
    )


# ---- send-time check ---------------------------------------------------------------------
DEADLINE_PASSED = "vacancy deadline passed"  # the same words as the planner's closing


def vacancy_gone(status: str | None, deadline: date | str | None, today: date | None) -> str:
    """Why a vacancy message must not be sent now ("" = send it): the vacancy is no longer
    published, or its deadline is before `today` (the recipient's school's local date)."""
    if status is not None and status != "published":
        return f"vacancy {status}"
    if isinstance(deadline, str):  # SQLite hands a date from a subquery back as text
        deadline = date.fromisoformat(deadline)
    if deadline is not None and today is not None and deadline < today:
        return DEADLINE_PASSED
    return ""


@dataclass(slots=True)
class Prepared:
    reply: Reply | None  # None: do not send (see reason)
    reason: str = ""
    last_inbound_at: datetime | None = None


class Composer:
    """Checks at send time that a row is still wanted, and builds what to send.

    - every purpose aimed at an alumnus: cancelled when they sent STOP;
    - reminder: cancelled when the questionnaire was finished meanwhile;
    - followup: cancelled unless the latest status is still a job-seeker's and no pass is in
      progress; otherwise it re-opens the status question (a new Response, the contact's
      state moves to the status question) through the conversation shell, in the caller's
      transaction, and returns that prompt;
    - vacancy: cancelled when the vacancy was closed, or its deadline is before `today` (the
      local date of the row's school: a row that waited for quiet hours to end on the deadline
      day is not sent the next morning).
    - reply (a WhatsApp direct reply queued when it could not be sent at once): cancelled when
      the person's 24-hour window has closed (it is never sent as a template; see
      docs/outreach.md) or the contact is unreachable; STOP does not cancel it (the answer to
      STOP itself may be one).
    """

    # purposes whose check needs only the facts `storage.outbox.begin_send` returns (the
    # dispatcher's one-statement path); reminders and follow-ups read more (prepare)
    QUICK = frozenset({"vacancy", "notice", "digest", "reply"})

    def __init__(self, service: Any | None, cat: Catalogue) -> None:
        self.service = service  # bot.conversation.ConversationService (for follow-ups)
        self.cat = cat

    def check(
        self, row: Any, facts: Any, today: date | None = None, *, now: datetime | None = None
    ) -> Prepared:
        """The send-time check of a QUICK row from `storage.outbox.RowFacts` (the same rules as
        `prepare`: unreachable, STOP, vacancy no longer published or past its deadline; a reply:
        the window)."""
        if facts.unreachable_at is not None:
            return Prepared(None, "contact unreachable")
        if row.purpose == "reply":
            last = aware(facts.last_inbound_at)
            now = now or datetime.now(UTC)
            if last is None or now - last >= WHATSAPP_WINDOW - WINDOW_MARGIN:
                return Prepared(None, WINDOW_CLOSED)
            return Prepared(payload_to_reply(row.payload), last_inbound_at=last)
        if facts.stopped_at is not None:
            return Prepared(None, "STOP")
        if row.purpose == "vacancy":
            why = vacancy_gone(facts.vacancy_status, facts.vacancy_deadline, today)
            if why:
                return Prepared(None, why)
        return Prepared(payload_to_reply(row.payload), last_inbound_at=facts.last_inbound_at)

    async def prepare(self, session: AsyncSession, row: Any, today: date | None = None) -> Prepared:
        payload = row.payload
        contact = await session.get(Contact, row.contact_id) if row.contact_id else None
        last_inbound = contact.last_inbound_at if contact else None
        if contact is not None and contact.unreachable_at is not None:
            return Prepared(None, "contact unreachable")
        alumnus = await session.get(Alumnus, row.alumnus_id) if row.alumnus_id else None
        if alumnus is not None and alumnus.stopped_at is not None:
            return Prepared(None, "STOP")
        if row.purpose == "reminder":
            if alumnus is None or contact is None or contact.alumnus_id != alumnus.id:
                return Prepared(None, "no longer linked")
            if await queries.latest_completed(session, alumnus.id) is not None:
                return Prepared(None, "questionnaire finished")
            stage = (contact.state or {}).get("stage")
            if stage not in ("vacancies", "q"):
                return Prepared(None, f"stage {stage}")
        elif row.purpose == "followup":
            return await self._followup(session, row, contact, alumnus)
        elif row.purpose == "vacancy":
            vacancy_id = payload.get("vacancy_id")
            vacancy = await session.get(Vacancy, vacancy_id) if vacancy_id else None
            if vacancy is not None:
                why = vacancy_gone(vacancy.status, vacancy.deadline, today)
                if why:
                    return Prepared(None, why)
        return Prepared(payload_to_reply(payload), last_inbound_at=last_inbound)

    async def _followup(
        self, session: AsyncSession, row: Any, contact: Contact | None, alumnus: Alumnus | None
    ) -> Prepared:
        if alumnus is None or contact is None or contact.alumnus_id != alumnus.id:
            return Prepared(None, "no longer linked")
        latest = await queries.latest_completed(session, alumnus.id)
        if latest is None or latest.status != "mencari_kerja":
            return Prepared(None, "status changed")
        state = contact.state or {}
        untouched = (  # an earlier follow-up asked and got no answer yet: ask again
            state.get("stage") == "q" and not state.get("answers") and not state.get("history")
        )
        if state.get("stage") != "done" and not untouched:
            return Prepared(None, "a conversation is in progress")
        if self.service is None:
            return Prepared(None, "no conversation service to re-open the question")
        replies = await self.service.reopen_status(session, contact, row.payload.get("text"))
        if not replies:
            return Prepared(None, "could not re-open")
        return Prepared(replies[-1], last_inbound_at=contact.last_inbound_at)
