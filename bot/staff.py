"""Staff commands in chat: one hook that the conversation shell runs before the questionnaire.

- A staff invitation code ("S-ABCD234XYZ", typed, pasted as a link, or the Telegram deep link
  `/start S-...`) links the chat to a staff role (storage.staff.redeem_invitation). One chat,
  one staff identity: a chat already linked is told so, or, for a code of another school,
  role or person, told its current link and how to have it removed; the code stays unused.
- `/ringkasan [KELAS] [TAHUN]`: a teacher sees their own cohorts only, a cohort being a class
  and its graduation year (storage.staff.cohorts_for: "XII TKJ 1" recurs every year with
  another wali kelas); BKK and admin see an overview of every class of a cohort, or any one
  class in detail.
- `/rekap [TAHUN]` (BKK, admin): the recap text per graduation year and major, then the chart
  as a photo. `/ekspor [TAHUN]` (BKK, admin): the XLSX export as a document. The photo and the
  file are made when the channel sends them, after the inbound transaction was committed
  (`conversations.types.Attachment.produce`), so no lock or session is held meanwhile.
- `/bantuan_staf`: the commands of the member's role. A staff member's first plain message
  (or `/start` without a code) gets the same list instead of the graduates' questionnaire.

Several schools may share one deployment: a staff member is found by their chat whatever their
school, and every read is scoped by that member's own school (storage.staff). A regional member
(several schools' vacancies) sees no class: /lowongan and /peminat only.

The rule for everyone else: an alumnus or an unknown chat that sends a staff command learns
nothing. The hook returns None and the questionnaire answers exactly as it answers any other
text it does not understand: no "not allowed", no name, no number. (`/lowongan` and `/peminat`
live in bot/vacancy_hooks.py and follow the same rule.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.export import export_xlsx
from bot.reports import format_class_summary, format_recap, recap_chart_png, split_messages
from conversations.types import Attachment, Inbound, InputKind, Reply
from storage import staff as staff_store
from storage.db import Database
from storage.models import Alumnus, Contact, School, Staff, utcnow
from storage.reports import ClassSummary, class_summary, current_response_join, school_recap

log = logging.getLogger(__name__)

MAX_LEN = 4000  # under Telegram's and WhatsApp's 4096, with room for UTF-16 surrogate pairs
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHART_YEARS = 3  # /rekap without a year charts the newest cohorts only (readable on a phone)
DRAFT_KEY = "staff_vacancy"  # bot/vacancy_hooks.py: a /lowongan conversation in progress

COMMANDS: dict[str, frozenset[str]] = {
    "ringkasan": frozenset({"ringkasan", "summary"}),
    "rekap": frozenset({"rekap", "recap"}),
    "ekspor": frozenset({"ekspor", "export"}),
    "help": frozenset({"bantuan_staf", "bantuanstaf", "staf", "staff", "staff_help"}),
}
_YEAR = re.compile(r"^(19|20)\d\d$")


# ---- parsing (pure) -------------------------------------------------------------------------
def parse_command(text: str, *, allow_plain: bool = True) -> tuple[str | None, str]:
    """("ringkasan", "XII TKJ 1") for "/ringkasan XII TKJ 1" (also "/ringkasan@bot ..." and,
    when `allow_plain`, "ringkasan ..." without the slash). (None, "") for anything else."""
    text = text.strip()
    if not text:
        return None, ""
    head, _, rest = text.partition(" ")
    slash = head.startswith("/")
    if not slash and not allow_plain:
        return None, ""
    word = head.lstrip("/").split("@", 1)[0].casefold()
    for name, spellings in COMMANDS.items():
        if word in spellings:
            return name, " ".join(rest.split())
    return None, ""


def split_class_year(arg: str) -> tuple[str | None, int | None]:
    """ "XII TKJ 1 2024" -> ("XII TKJ 1", 2024); "2024" -> (None, 2024); "" -> (None, None)."""
    words = arg.split()
    year = None
    if words and _YEAR.match(words[-1]):
        year = int(words.pop())
    return (" ".join(words) or None), year


def staff_code_in(inbound: Inbound) -> str | None:
    """The staff invitation code an inbound carries, or None: only text in the exact shape of
    a code (storage.staff.normalise_staff_code), so "S-Tech Makmur" is an answer."""
    if inbound.kind == InputKind.START:
        return staff_store.normalise_staff_code(inbound.value)
    if inbound.kind == InputKind.TEXT:
        return staff_store.normalise_staff_code(inbound.text)
    return None


def _fold(name: str) -> str:
    return "".join(name.split()).casefold()


def match_class(wanted: str, classes: list[str]) -> str | None:
    """The class in `classes` that `wanted` names (case and spaces ignored), or None."""
    folded = _fold(wanted)
    hits = [k for k in classes if _fold(k) == folded]
    return hits[0] if len(hits) == 1 else None


def cohort_labels(cat: Any, cohorts: list[tuple[str, int]], lang: str) -> str:
    """ "XII TKJ 1 (lulus 2025), XII RPL 1 (lulus 2024)": a teacher's cohorts, for them."""
    return ", ".join(cat.t("staff.cohort", lang, kelas=k, year=y) for k, y in cohorts)


def _pct(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "–"


# ---- queries --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class ClassCount:
    kelas: str
    graduates: int
    answered: int
    new: int = 0  # current answers completed in [since, until)


async def latest_year(db: Database, school_id: int) -> int | None:
    async with db.session() as session:
        return (
            await session.execute(
                select(func.max(Alumnus.graduation_year)).where(Alumnus.school_id == school_id)
            )
        ).scalar_one_or_none()


async def cohort_years(db: Database, school_id: int) -> list[int]:
    async with db.session() as session:
        rows = await session.execute(
            select(Alumnus.graduation_year).where(Alumnus.school_id == school_id).distinct()
        )
        return sorted((r[0] for r in rows), reverse=True)


async def class_overview(
    db: Database,
    school_id: int,
    graduation_year: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ClassCount]:
    """Graduates and answered per class of one cohort (one grouped query); with `since`, also
    how many current answers were completed in [since, until)."""
    filters = [Alumnus.school_id == school_id, Alumnus.graduation_year == graduation_year]
    cur, on_current = current_response_join(filters, db.engine.dialect.name)
    if since is not None:
        window = cur.c.completed_at >= since
        if until is not None:
            window = window & (cur.c.completed_at < until)
        new = func.sum(case((window, 1), else_=0))
    else:
        new = func.sum(0)
    stmt = (
        select(Alumnus.kelas, func.count(), func.count(cur.c.id), new)
        .select_from(Alumnus)
        .outerjoin(cur, on_current)
        .where(*filters)
        .group_by(Alumnus.kelas)
        .order_by(Alumnus.kelas)
    )
    async with db.session() as session:
        rows = (await session.execute(stmt)).all()
    return [ClassCount(k, int(g), int(a), int(n or 0)) for k, g, a, n in rows]


def with_question_fields(summary: ClassSummary, flow: Any) -> ClassSummary:
    """Non-responders' "stopped at" as the answer field (e.g. "C3" -> "employer_type"), which
    the report text shows by its short name ("jenis tempat kerja")."""
    nodes = getattr(flow, "nodes", {}) or {}
    people = []
    for person in summary.non_responders:
        node = nodes.get(person.at_question) if person.at_question else None
        people.append(dataclasses.replace(person, at_question=node.field) if node else person)
    return dataclasses.replace(summary, non_responders=people)


# ---- the hook -------------------------------------------------------------------------------
class StaffRouter:
    """The staff command hook (see the module docstring). `install(core)` adds it."""

    def __init__(self, core: Any, *, clock=utcnow, max_len: int = MAX_LEN) -> None:
        self.core = core
        self.db: Database = core.db
        self.flow = core.flow
        self.cat = core.flow.catalogue
        self.settings = core.settings
        self.default_zone = ZoneInfo(core.school.timezone or core.settings.timezone)
        self.clock = clock
        self.max_len = max_len

    def lang(self, contact: Contact) -> str:
        return (contact.state or {}).get("lang") or contact.language or "id"

    def t(self, lang: str, key: str, **params: Any) -> str:
        return self.cat.t(key, lang, **params)

    def zone_of(self, school_id: int) -> ZoneInfo:
        """The member's school's zone (several schools may share one deployment)."""
        schools = getattr(self.core, "schools", None)
        if schools is not None and school_id in schools.by_id:
            return schools.by_id[school_id].zone
        return self.default_zone

    async def __call__(
        self, session: AsyncSession, contact: Contact, inbound: Inbound
    ) -> list[Reply] | None:
        if inbound.kind not in (InputKind.TEXT, InputKind.START):
            return None
        state = contact.state or {}
        code = staff_code_in(inbound)
        if code is not None:
            # mid-questionnaire (or mid-/lowongan), a code-shaped text that is no valid code
            # is the answer: nothing typed is lost, and a graduate never hears of staff codes
            answering = state.get("stage") == "q" or bool(state.get(DRAFT_KEY))
            return await self.link(session, contact, inbound, code, answering=answering)
        command: str | None = None
        arg = ""
        if inbound.kind == InputKind.TEXT:
            command, arg = parse_command(inbound.text, allow_plain=not state.get(DRAFT_KEY))
        if command is None:
            # a staff member's first plain message or /start: their commands rather than the
            # graduates' consent question (looked up only for a chat that has not begun that)
            if state.get(DRAFT_KEY) or contact.alumnus_id is not None:
                return None
            if state.get("stage") not in (None, "new"):
                return None
            text = inbound.text.strip() if inbound.kind == InputKind.TEXT else ""
            if text.startswith("/") and not _is_start(text):
                return None  # another command (/lowongan, /data, ...): not ours
            member = await self.member(session, contact)
            if member is None:
                return None
            return await self.help(session, member, self.lang(contact))
        member = await self.member(session, contact)
        if member is None:
            return None  # an alumnus or a stranger: the questionnaire answers, as to any text
        lang = self.lang(contact)
        if command == "help":
            return await self.help(session, member, lang)
        if command == "ringkasan":
            return await self.ringkasan(session, member, arg, lang)
        if not staff_store.is_school_wide(member):
            return [Reply(self.t(lang, "staff.bkk_only"))]
        if command == "rekap":
            return await self.rekap(member, arg, lang)
        return await self.ekspor(member, arg, lang)

    async def member(self, session: AsyncSession, contact: Contact) -> Staff | None:
        """The active staff member behind this chat (of any school of the deployment: every
        read below is scoped by the member's own school)."""
        return await staff_store.find_staff(session, contact.channel, contact.address)

    # -- linking --
    async def link(
        self,
        session: AsyncSession,
        contact: Contact,
        inbound: Inbound,
        code: str,
        *,
        answering: bool = False,
    ) -> list[Reply] | None:
        """Redeem a staff code. One chat, one staff identity: a chat that already belongs to a
        staff member is told so, and a code for another school, role or person is refused
        with the current link named and how to change it (the code stays unused).
        `answering`: the chat is in the middle of a question; a code that is not valid is then
        left to the questionnaire (None) as the answer it is."""
        lang = self.lang(contact)
        result = await staff_store.redeem_invitation(
            session,
            code,
            contact.channel,
            contact.address,
            display_name=inbound.display_name,
            now=self.clock(),
        )
        member = result.staff
        if member is None:
            if answering:
                return None
            # unknown, used and expired codes all get this one answer
            return [Reply(self.t(lang, "staff.code_invalid"))]
        role = self.t(lang, f"staff.role.{member.role}")
        if result.outcome == "linked":
            log.info("staff %s linked a %s chat (role %s)", member.id, contact.channel, member.role)
            scope = await self.scope(session, member, lang)
            linked = self.t(lang, "staff.linked", role=role, name=member.name, scope=scope)
            return [Reply(linked), *await self.help(session, member, lang)]
        school = await session.get(School, member.school_id)
        if result.outcome == "conflict":
            log.info(
                "staff %s: a %s chat's staff code refused (the chat holds role %s)",
                member.id,
                contact.channel,
                member.role,
            )
            text = self.t(
                lang,
                "staff.link_refused",
                role=role,
                name=member.name,
                school=school.name,
                id=member.id,
                npsn=school.npsn,
            )
            return [Reply(text)]
        text = self.t(
            lang,
            "staff.already_linked",
            role=role,
            name=member.name,
            school=school.name,
            scope=await self.scope(session, member, lang),
        )
        if result.fresh:
            text += "\n\n" + self.t(lang, "staff.code_kept")
        return [Reply(text), *await self.help(session, member, lang)]

    async def scope(self, session: AsyncSession, member: Staff, lang: str) -> str:
        """ "Kelas: ..." (the cohorts a teacher sees, all classes for BKK), or for a regional
        member the schools its vacancies go to."""
        if member.role == "regional":
            covers = member.covers or []
            if "*" in covers:
                schools = self.t(lang, "staff.all_schools")
            else:
                names = await session.execute(
                    select(School.name).where(School.npsn.in_(covers)).order_by(School.name)
                )
                schools = ", ".join(names.scalars()) or self.t(lang, "staff.none")
            return self.t(lang, "staff.scope.schools", schools=schools)
        if staff_store.is_school_wide(member):
            classes = self.t(lang, "staff.all_classes")
        else:
            mine = await staff_store.cohorts_for(session, member)
            classes = cohort_labels(self.cat, mine, lang) if mine else self.t(lang, "staff.none")
        return self.t(lang, "staff.scope.classes", classes=classes)

    # -- /bantuan_staf --
    async def help(self, session: AsyncSession, member: Staff, lang: str) -> list[Reply]:
        if staff_store.is_school_wide(member):
            classes = await staff_store.known_classes(session, member.school_id)
            example = classes[0] if classes else "XII TKJ 1"
            key = "staff.help.bkk"
        elif member.role == "regional":
            return [Reply(self.t(lang, "staff.help.regional"))]
        else:
            cohorts = await staff_store.cohorts_for(session, member)
            example = staff_store.cohort_label(cohorts[0]) if cohorts else "XII TKJ 1 2025"
            key = "staff.help.teacher"
        weekdays = self.t(lang, "staff.weekdays").split(",")
        text = self.t(
            lang,
            key,
            example=example,
            weekday=weekdays[self.settings.digest_weekday % 7],
            time=self.settings.digest_time.strftime("%H:%M"),
        )
        return [Reply(text)]

    # -- /ringkasan --
    async def ringkasan(
        self, session: AsyncSession, member: Staff, arg: str, lang: str
    ) -> list[Reply]:
        wanted, year = split_class_year(arg)
        if not staff_store.is_school_wide(member):
            return await self.teacher_ringkasan(session, member, wanted, year, lang)
        visible = await staff_store.known_classes(session, member.school_id)
        if not visible:
            return [Reply(self.t(lang, "staff.no_data"))]
        if wanted is None:
            return await self.overview(member.school_id, year, lang)
        kelas = match_class(wanted, visible)
        if kelas is None:
            text = self.t(lang, "staff.unknown_class", kelas=wanted, classes=", ".join(visible))
            return [Reply(text)]
        return await self.summaries(member.school_id, [(kelas, year)], lang)

    async def teacher_ringkasan(
        self, session: AsyncSession, member: Staff, wanted: str | None, year: int | None, lang: str
    ) -> list[Reply]:
        """A teacher's own cohorts only: all of them, those of one class, of one year, or one
        class and year. Anything else (another teacher's cohort of the same class name, a class
        that does not exist) gets one answer naming their own cohorts."""
        mine = await staff_store.cohorts_for(session, member)
        if not mine:
            return [Reply(self.t(lang, "staff.no_classes"))]
        chosen = mine
        if wanted is not None:
            kelas = match_class(wanted, sorted({k for k, _ in mine}))
            chosen = [c for c in mine if c[0] == kelas]
        if year is not None:
            chosen = [c for c in chosen if c[1] == year]
        if not chosen:  # the same answer whether or not the class or cohort exists
            text = self.t(lang, "staff.not_your_class", classes=cohort_labels(self.cat, mine, lang))
            return [Reply(text)]
        return await self.summaries(member.school_id, chosen, lang)

    async def summaries(
        self, school_id: int, cohorts: list[tuple[str, int | None]], lang: str
    ) -> list[Reply]:
        replies: list[Reply] = []
        for kelas, cohort in cohorts:
            summary = await class_summary(self.db, school_id, kelas, cohort)
            summary = with_question_fields(summary, self.flow)
            replies += [Reply(m) for m in format_class_summary(summary, lang, self.max_len)]
        return replies

    async def overview(self, school_id: int, year: int | None, lang: str) -> list[Reply]:
        years = await cohort_years(self.db, school_id)
        if not years:
            return [Reply(self.t(lang, "staff.no_data"))]
        year = year if year is not None else years[0]
        counts = await class_overview(self.db, school_id, year)
        return [Reply(m) for m in overview_messages(self.cat, counts, year, years, lang)]

    # -- /rekap --
    async def rekap(self, member: Staff, arg: str, lang: str) -> list[Reply]:
        _, year = split_class_year(arg)
        rows = await school_recap(self.db, member.school_id, year)
        if not rows:
            return [Reply(self.t(lang, "staff.no_data"))]
        replies = [Reply(m) for m in format_recap(rows, lang, self.max_len)]
        chart_years = sorted({r.graduation_year for r in rows}, reverse=True)[:CHART_YEARS]
        chart_rows = [r for r in rows if r.graduation_year in chart_years]
        label = ", ".join(str(y) for y in sorted(chart_years))

        async def chart() -> bytes:  # matplotlib is CPU work: off the event loop
            return await asyncio.to_thread(recap_chart_png, chart_rows, lang)

        name = f"rekap_{'_'.join(str(y) for y in sorted(chart_years))}.png"
        caption = self.t(lang, "staff.chart_caption", years=label)
        replies.append(
            Reply(caption, attachment=Attachment("photo", name, "image/png", None, chart))
        )
        return replies

    # -- /ekspor --
    async def ekspor(self, member: Staff, arg: str, lang: str) -> list[Reply]:
        _, year = split_class_year(arg)
        async with self.db.session() as session:
            stmt = select(func.count()).where(Alumnus.school_id == member.school_id)
            if year is not None:
                stmt = stmt.where(Alumnus.graduation_year == year)
            if not (await session.execute(stmt)).scalar_one():
                return [Reply(self.t(lang, "staff.no_data"))]
        db, school_id = self.db, member.school_id
        today = self.clock().astimezone(self.zone_of(school_id)).strftime("%Y-%m-%d")
        name = f"penelusuran_lulusan_{year or 'semua'}_{today}.xlsx"

        async def export() -> bytes:
            with tempfile.TemporaryDirectory(prefix="jejak-ekspor-") as folder:
                path = Path(folder) / name
                await export_xlsx(db, school_id, path, graduation_year=year)
                return await asyncio.to_thread(path.read_bytes)

        scope = (
            self.t(lang, "staff.export_year", year=year)
            if year is not None
            else self.t(lang, "staff.export_all_years")
        )
        caption = self.t(lang, "staff.export_caption", scope=scope)
        return [Reply(caption, attachment=Attachment("document", name, XLSX_MIME, None, export))]


def _is_start(text: str) -> bool:
    return text.strip().split(" ", 1)[0].split("@", 1)[0].casefold() == "/start"


def overview_messages(
    cat: Any,
    counts: list[ClassCount],
    year: int,
    years: list[int],
    lang: str,
    *,
    with_new: bool = False,
    max_len: int = MAX_LEN,
) -> list[str]:
    """BKK's /ringkasan: one line per class of a cohort, the total, and how to go further."""
    lines = [cat.t("staff.overview.title", lang, year=year)]
    for c in counts:
        line = cat.t(
            "staff.overview.line",
            lang,
            kelas=c.kelas,
            answered=c.answered,
            graduates=c.graduates,
            rate=_pct(c.answered, c.graduates),
        )
        if with_new and c.new:
            line += cat.t("staff.overview.new", lang, n=c.new)
        lines.append(line)
    graduates = sum(c.graduates for c in counts)
    answered = sum(c.answered for c in counts)
    lines += [
        "",
        cat.t(
            "staff.overview.total",
            lang,
            answered=answered,
            graduates=graduates,
            rate=_pct(answered, graduates),
        ),
    ]
    if counts:
        lines += ["", cat.t("staff.overview.hint", lang, example=counts[0].kelas)]
    others = [str(y) for y in years if y != year]
    if others:
        lines.append(cat.t("staff.overview.other_years", lang, years=", ".join(others)))
    return split_messages(lines, max_len)


def install(core: Any, **kwargs: Any) -> StaffRouter:
    """Add the staff router to the conversation service (before any later hook)."""
    router = StaffRouter(core, **kwargs)
    core.service.add_hook(router)
    return router


__all__ = [
    "COMMANDS",
    "ClassCount",
    "StaffRouter",
    "class_overview",
    "cohort_years",
    "install",
    "cohort_labels",
    "match_class",
    "overview_messages",
    "parse_command",
    "split_class_year",
    "staff_code_in",
    "with_question_fields",
]
