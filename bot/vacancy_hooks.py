"""Chat hooks for vacancies (installed with `install(core)`; see ConversationService.add_hook).

- The "Saya berminat" button: an ACTION `interest:<vacancy id>` (Telegram callback data and
  WhatsApp reply id `a:interest:<id>`) records a VacancyInterest (once per person) and confirms;
  a tap on a closed vacancy, or after its deadline (the graduate's school's local date), is
  answered "closed" and not recorded.
- Staff only (storage.staff.find_staff, roles admin/bkk): `/peminat ID` lists who is interested;
  `/lowongan` is a short guided conversation (company, position, majors, location, deadline,
  how to apply, confirm) that creates and publishes a vacancy. Its progress lives in the staff
  member's contact state under "staff_vacancy"; BATAL/CANCEL stops it. Nothing is saved before
  the confirming YA: then the vacancy is created and published in one savepoint, so a refusal
  (the deadline passed while the draft waited: back to the deadline step) leaves nothing.

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

from bot.outreach.planner import check_deadline, publish_vacancy_in
from conversations.answers import norm, parse_date
from conversations.messages import Catalogue
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
        return self.zone_of_school(member.school_id)

    def zone_of_school(self, school_id: int) -> ZoneInfo:
        schools = getattr(self.core, "schools", None)
        if schools is None or school_id == self.core.school.id:
            return self.zone
        return schools.get(school_id).zone

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
        today = self.clock().astimezone(self.zone_of_school(alumnus.school_id)).date()
        if vacancy.deadline < today:  # past its deadline (the planner closes it soon)
            return [
                Reply(
                    self.t(
                        contact,
                        "outreach.interest_expired",
                        position=vacancy.position,
                        company=vacancy.company,
                        deadline=vacancy.deadline.strftime("%d-%m-%Y"),
                    )
                )
            ]
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
        lang = self.lang(contact)
        lines += [
            f"• {p.name} — {p.kelas} ({p.jurusan}) — {reach_text(p, self.cat, lang)}"
            for p in people
        ]
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
            await self._discard_legacy(session, draft, member)
            self._set_draft(contact, None)
            return [Reply(self.t(contact, "staff.vacancy.cancelled"))]
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
            problem = None if deadline is None else self._deadline_problem(deadline, member)
            if deadline is None or problem is not None:
                say = self._deadline_text(contact, problem or "passed")
            elif "apply_info" in draft:  # back here from the confirm step: confirm again
                draft["deadline"] = deadline.isoformat()
                say = await self._confirm(session, contact, draft, member, targets)
            else:
                draft["deadline"], draft["step"] = deadline.isoformat(), "apply_info"
                say = self.t(contact, "staff.vacancy.ask_apply")
        elif step == "apply_info":
            # nothing is saved before YA: the count is of the vacancy as it would be
            draft["apply_info"] = None if text.strip() in ("-", "") else text[:1000]
            say = await self._confirm(session, contact, draft, member, targets)
        else:  # confirm
            if norm(text) not in ("ya", "yes", "y", "iya", "kirim"):
                await self._discard_legacy(session, draft, member)
                self._set_draft(contact, None)
                return [Reply(self.t(contact, "staff.vacancy.cancelled"))]
            try:
                # the vacancy and its queued messages are saved together or not at all
                async with session.begin_nested():
                    vacancy = await self._saved(session, draft, member, targets)
                    added = await publish_vacancy_in(
                        session,
                        vacancy.id,
                        school_id=school_id,
                        school_name=self._school_name(member),
                        cat=self.cat,
                        settings=self.core.settings,
                        zone=self.zone_of(member),
                        now=self.clock(),
                    )
            except vacancies.DeadlineError as exc:
                # the deadline passed (or its last send window closed) while the draft waited
                # for YA: ask for the deadline again; everything else is kept
                await self._discard_legacy(session, draft, member)
                draft.pop("id", None)
                draft.pop("deadline", None)
                draft["step"] = "deadline"
                self._set_draft(contact, draft)
                return [Reply(self._deadline_text(contact, exc.reason))]
            self._set_draft(contact, None)
            return [Reply(self.t(contact, "staff.vacancy.published", id=vacancy.id, count=added))]
        self._set_draft(contact, draft)
        return [Reply(say)]

    async def _confirm(
        self,
        session: AsyncSession,
        contact: Contact,
        draft: dict,
        member: Staff,
        targets: list[int],
    ) -> str:
        draft["step"] = "confirm"
        count = await vacancies.count_targets(
            session,
            self._unsaved(draft, member),
            school_ids=targets if member.role == "regional" else [member.school_id],
        )
        summary = f"{draft['position']} — {draft['company']}, {draft['location']}"
        return self.t(contact, "staff.vacancy.confirm", summary=summary, count=count)

    def _deadline_problem(self, deadline: date, member: Staff) -> str | None:
        """Why this deadline cannot be published now ("passed", "no_window"), or None."""
        try:
            check_deadline(
                deadline,
                now=self.clock(),
                zone=self.zone_of(member),
                settings=self.core.settings,
            )
        except vacancies.DeadlineError as exc:
            return exc.reason
        return None

    def _deadline_text(self, contact: Contact, reason: str) -> str:
        if reason == "no_window":
            settings = self.core.settings
            return self.t(
                contact,
                "staff.vacancy.deadline_no_window",
                start=settings.quiet_hours_start.strftime("%H:%M"),
                end=settings.quiet_hours_end.strftime("%H:%M"),
            )
        return self.t(contact, "staff.vacancy.bad_deadline")

    def _school_name(self, member: Staff) -> str:
        schools = getattr(self.core, "schools", None)
        if schools is None or member.school_id == self.core.school.id:
            return self.core.school.name
        return schools.get(member.school_id).name

    def _unsaved(self, draft: dict, member: Staff) -> Vacancy:
        """The draft as a Vacancy that is not added to the session (to count its recipients)."""
        return Vacancy(
            school_id=member.school_id,
            company=draft["company"],
            position=draft["position"],
            majors=draft["majors"],
            location=draft["location"],
            deadline=date.fromisoformat(draft["deadline"]),
        )

    async def _saved(
        self, session: AsyncSession, draft: dict, member: Staff, targets: list[int]
    ) -> Vacancy:
        """The vacancy to publish: created now (a draft from before this version already
        has one: its id)."""
        if draft.get("id"):
            vacancy = await vacancies.get_vacancy(session, int(draft["id"]), member.school_id)
            if vacancy is not None:
                return vacancy
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
            target_schools=targets if member.role == "regional" else None,
        )

    async def _discard_legacy(self, session: AsyncSession, draft: dict, member: Staff) -> None:
        """A conversation begun before this version saved its draft at the confirm step:
        cancelling it deletes that draft (it was never published)."""
        if draft.get("id"):
            vacancy = await vacancies.get_vacancy(session, int(draft["id"]), member.school_id)
            if vacancy is not None:
                await vacancies.delete_draft(session, vacancy)


def reach_text(person: vacancies.Interested, cat: Catalogue, lang: str) -> str:
    """How staff can reach an interested graduate, in the staff member's language: their
    WhatsApp number (wa.me link), their Telegram @username (t.me link) or, without one, a note
    that the bot is the only way; and the roster's phone number when it adds one."""
    parts = []
    if person.channel == "whatsapp" and person.address:
        parts.append(cat.t("staff.interested.reach.whatsapp", lang, number=person.address))
    elif person.channel == "telegram" and person.username:
        parts.append(cat.t("staff.interested.reach.telegram", lang, username=person.username))
    elif person.channel == "telegram" and not person.phone:
        parts.append(cat.t("staff.interested.reach.telegram_bot_only", lang))
    elif person.channel == "telegram":
        parts.append(cat.t("staff.interested.reach.telegram_no_username", lang))
    if person.phone and person.phone != person.address:
        parts.append(cat.t("staff.interested.reach.phone", lang, phone=person.phone))
    return "; ".join(parts) or cat.t("staff.interested.reach.none", lang)


def install(core: Any, **kwargs: Any) -> VacancyHooks:
    hooks = VacancyHooks(core, **kwargs)
    core.service.add_hook(hooks)
    return hooks
