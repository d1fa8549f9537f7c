"""Chat hooks for vacancies (installed with `install(core)`; see ConversationService.add_hook).

- The "Saya berminat" button: an ACTION `interest:<vacancy id>` (Telegram callback data and
  WhatsApp reply id `a:interest:<id>`) records a VacancyInterest (once per person) and confirms.
- Staff only (storage.staff.find_staff, roles admin/bkk): `/peminat ID` lists who is interested;
  `/lowongan` is a short guided conversation (company, position, majors, location, deadline,
  how to apply, confirm) that creates and publishes a vacancy. Its progress lives in the staff
  member's contact state under "staff_vacancy"; BATAL/CANCEL stops it.

These two commands are a hook of their own beside the staff router (bot/staff.py) and follow its
rule: to an alumnus or an unknown chat they do not exist (the questionnaire answers instead); a
teacher is told they are for BKK staff.

Several schools: everything is the staff member's own school (its majors, its zone, its
graduates in /peminat). A `regional` member (BKK/Disnaker serving several schools) creates
vacancies that go to the job-seekers of every school it covers, and /peminat lists the
interested graduates of those schools.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.outreach.planner import publish_vacancy_in
from conversations.answers import norm, parse_date
from conversations.types import Inbound, InputKind, Reply
from storage import staff as staff_store
from storage import vacancies
from storage.models import Alumnus, Contact, Staff, Vacancy, utcnow

log = logging.getLogger(__name__)
VACANCY_ROLES = frozenset({"admin", "bkk", "regional"})
DRAFT_KEY = "staff_vacancy"
STEPS = ("company", "position", "majors", "location", "deadline", "apply_info", "confirm")


class VacancyHooks:
    def __init__(self, core: Any, *, clock=utcnow) -> None:
        self.core = core
        self.cat = core.flow.catalogue
        self.zone = ZoneInfo(core.school.timezone or core.settings.timezone)
        self.clock = clock

    def zone_of(self, member: Staff) -> ZoneInfo:
        schools = getattr(self.core, "schools", None)
        if schools is None or member.school_id == self.core.school.id:
            return self.zone
        return schools.get(member.school_id).zone

    def lang(self, contact: Contact) -> str:
        return (contact.state or {}).get("lang") or contact.language or "id"

    def t(self, contact: Contact, key: str, **params: Any) -> str:
        return self.cat.t(key, self.lang(contact), **params)

    async def __call__(
        self, session: AsyncSession, contact: Contact, inbound: Inbound
    ) -> list[Reply] | None:
        if inbound.kind == InputKind.ACTION and (inbound.value or "").startswith("interest:"):
            return await self.interest(session, contact, inbound.value or "")
        if inbound.kind != InputKind.TEXT:
            return None
        text = inbound.text.strip()
        command = text.split(None, 1)[0].lower().split("@", 1)[0] if text else ""
        in_draft = bool((contact.state or {}).get(DRAFT_KEY))
        if command not in ("/lowongan", "/peminat") and not in_draft:
            return None
        member = await staff_store.find_staff(session, contact.channel, contact.address)
        if member is None or member.role not in VACANCY_ROLES:
            if in_draft:
                self._set_draft(contact, None)
                return None
            if member is None:
                # an alumnus or a stranger learns nothing (the rule of bot/staff.py): the
                # questionnaire answers, as it answers any text it does not understand
                return None
            return [Reply(self.t(contact, "staff.vacancy.not_allowed"))]
        if command == "/peminat":
            arg = text.split(None, 1)[1].strip().lstrip("#") if " " in text else ""
            return [Reply(await self.peminat_text(session, contact, arg, member))]
        if command == "/lowongan":
            self._set_draft(contact, {"step": "company", "by": member.name})
            return [Reply(self.t(contact, "staff.vacancy.ask_company"))]
        return await self.lowongan_step(session, contact, text, member)

    # -- interest button --
    async def interest(self, session: AsyncSession, contact: Contact, value: str) -> list[Reply]:
        try:
            vacancy_id = int(value.split(":", 1)[1])
        except (IndexError, ValueError):
            return [Reply(self.t(contact, "outreach.interest_closed"))]
        if contact.alumnus_id is None:
            return [Reply(self.t(contact, "outreach.interest_not_identified"))]
        vacancy = await session.get(Vacancy, vacancy_id)
        if vacancy is None or vacancy.status != "published":
            return [Reply(self.t(contact, "outreach.interest_closed"))]
        alumnus = await session.get(Alumnus, contact.alumnus_id)
        if alumnus is None or alumnus.school_id not in await vacancies.target_school_ids(
            session, vacancy
        ):  # not a vacancy sent to this graduate's school (a forged button)
            return [Reply(self.t(contact, "outreach.interest_closed"))]
        new = await vacancies.record_interest(
            session, vacancy_id, contact.alumnus_id, contact.id, self.clock()
        )
        key = "outreach.interest_recorded" if new else "outreach.interest_again"
        return [Reply(self.t(contact, key, position=vacancy.position, company=vacancy.company))]

    # -- /peminat --
    async def peminat_text(
        self, session: AsyncSession, contact: Contact, arg: str, member: Staff
    ) -> str:
        if not arg.isdigit():
            return self.t(contact, "staff.interested.usage")
        schools = await staff_store.covered_school_ids(session, member)
        vacancy = await vacancies.get_vacancy(session, int(arg), schools, targeted=True)
        if vacancy is None:
            return self.t(contact, "staff.interested.unknown", id=arg)
        people = await vacancies.interested(session, vacancy.id, schools)
        if not people:
            return self.t(contact, "staff.interested.none", id=vacancy.id)
        lines = [self.t(contact, "staff.interested.header", id=vacancy.id, count=len(people))]
        lines += [f"• {p.name} — {p.kelas} ({p.jurusan}) — {p.reach}" for p in people]
        return "\n".join(lines)

    # -- /lowongan --
    def _set_draft(self, contact: Contact, draft: dict | None) -> None:
        state = dict(contact.state or {})
        if draft is None:
            state.pop(DRAFT_KEY, None)
        else:
            state[DRAFT_KEY] = draft
        contact.state = state

    async def lowongan_step(
        self, session: AsyncSession, contact: Contact, text: str, member: Staff
    ) -> list[Reply]:
        draft = dict((contact.state or {}).get(DRAFT_KEY) or {})
        step = draft.get("step", "company")
        school_id = member.school_id
        targets = await staff_store.covered_school_ids(session, member)
        scope = targets if member.role == "regional" else school_id
        if norm(text) in ("batal", "cancel"):
            self._set_draft(contact, None)
            return [Reply(self.t(contact, "staff.vacancy.cancelled", id="-"))]
        say: str
        if step == "company":
            draft["company"], draft["step"] = text[:200], "position"
            say = self.t(contact, "staff.vacancy.ask_position")
        elif step == "position":
            draft["position"], draft["step"] = text[:200], "majors"
            known = ", ".join(await vacancies.known_majors(session, scope))
            say = self.t(contact, "staff.vacancy.ask_majors", known=known)
        elif step == "majors":
            known = ", ".join(await vacancies.known_majors(session, scope))
            try:
                majors = vacancies.parse_majors(text)
            except vacancies.VacancyError:  # "," or the like: nothing named, not "every major"
                majors = []
            bad = await vacancies.check_majors(session, scope, majors) if majors else []
            if not majors:
                say = self.t(contact, "staff.vacancy.no_majors", known=known)
            elif bad:
                say = self.t(contact, "staff.vacancy.bad_majors", bad=", ".join(bad), known=known)
            else:
                draft["majors"], draft["step"] = majors, "location"
                say = self.t(contact, "staff.vacancy.ask_location")
        elif step == "location":
            draft["location"], draft["step"] = text[:200], "deadline"
            say = self.t(contact, "staff.vacancy.ask_deadline")
        elif step == "deadline":
            deadline = parse_date(text)
            today = self.clock().astimezone(self.zone_of(member)).date()
            if deadline is None or deadline < today:
                say = self.t(contact, "staff.vacancy.bad_deadline")
            else:
                draft["deadline"], draft["step"] = deadline.isoformat(), "apply_info"
                say = self.t(contact, "staff.vacancy.ask_apply")
        elif step == "apply_info":
            draft["apply_info"] = None if text.strip() in ("-", "") else text[:1000]
            vacancy = await self._create(
                session, draft, member, targets if member.role == "regional" else None
            )
            draft["id"], draft["step"] = vacancy.id, "confirm"
            count = await vacancies.count_targets(session, vacancy)
            summary = f"#{vacancy.id} {vacancy.position} — {vacancy.company}, {vacancy.location}"
            say = self.t(contact, "staff.vacancy.confirm", summary=summary, count=count)
        else:  # confirm
            if norm(text) in ("ya", "yes", "y", "iya", "kirim"):
                added = await publish_vacancy_in(
                    session,
                    int(draft["id"]),
                    school_id=school_id,
                    school_name=self._school_name(member),
                    cat=self.cat,
                    settings=self.core.settings,
                    zone=self.zone_of(member),
                    now=self.clock(),
                )
                self._set_draft(contact, None)
                return [
                    Reply(self.t(contact, "staff.vacancy.published", id=draft["id"], count=added))
                ]
            self._set_draft(contact, None)
            return [Reply(self.t(contact, "staff.vacancy.cancelled", id=draft.get("id", "-")))]
        self._set_draft(contact, draft)
        return [Reply(say)]

    def _school_name(self, member: Staff) -> str:
        schools = getattr(self.core, "schools", None)
        if schools is None or member.school_id == self.core.school.id:
            return self.core.school.name
        return schools.get(member.school_id).name

    async def _create(
        self, session: AsyncSession, draft: dict, member: Staff, targets: list[int] | None
    ) -> Vacancy:
        return await vacancies.create_vacancy(
            session,
            member.school_id,
            company=draft["company"],
            position=draft["position"],
            majors=draft["majors"],
            location=draft["location"],
            deadline=date.fromisoformat(draft["deadline"]),
            apply_info=draft.get("apply_info"),
            created_by=draft.get("by"),
            target_schools=targets,
        )


def install(core: Any, **kwargs: Any) -> VacancyHooks:
    hooks = VacancyHooks(core, **kwargs)
    core.service.add_hook(hooks)
    return hooks
