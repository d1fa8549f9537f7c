"""Staff: roles, their cohorts, one-time invitation codes, and who may see which cohort.

Roles: `admin` and `bkk` see every class of their school; a `teacher` sees only their own
cohorts, a cohort being a class *and* its graduation year: "XII TKJ 1" exists every year, each
time with another wali kelas, so a class name alone names several teachers' students. A
teacher's cohorts (`cohorts_for`) are
- the explicit `StaffClass` rows (class, graduation year): given by the admin with `--kelas`
  (and `--tahun`; without it, the class's newest cohort at the time it was given), and
- the cohorts whose roster `homeroom_teacher` (wali_kelas) is the teacher's name, only when
  that name was set by the admin (`Staff.name_from_admin`: `staff add --name`, or an invitation
  made with `--name`). A name taken from a chat's display name at redemption is a label only:
  anyone can call themselves "Budi Santoso" on Telegram. Names are compared by
  `wali_name_key`: honorifics (Bu, Pak, Ibu, Bapak, Drs., Dra., ...) and academic titles
  (S.Kom., S.Pd., M.Pd., ...) stripped, case and spacing ignored; exact after that, never fuzzy.
Removed staff see nothing. A `regional` member (a BKK/Disnaker office serving several
schools) sees no class; it may publish vacancies to the schools it `covers` (NPSNs, or ["*"]
for all) and see who of those schools is interested (`covered_school_ids`). Every read is
scoped by the member's `school_id` (or, for regional vacancies, by the covered schools): staff
never see another school's names or counts.

One chat, one staff identity: a Telegram chat id or a WhatsApp number belongs to at most one
active staff member (a partial unique index guards it, migration 0002), and only a person's
chat: a positive Telegram user id (a group's or channel's id is negative), a WhatsApp number.
`add_staff` refuses a chat that another active member holds; `redeem_invitation` adds to the
chat's member only what is the same identity (same school, same role, same name: a teacher's
cohorts, a regional member's schools) and refuses anything else, leaving the code unused.

Every function takes an open `AsyncSession`; the ones that write say so and commit nothing
themselves except where noted (`add_staff`, `remove_staff`, `create_invitation` and
`redeem_invitation` commit, as the CLI and the chat shell call them as one step).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from storage.invitations import ALPHABET, CODE_LENGTH
from storage.models import Alumnus, School, Staff, StaffClass, StaffInvitation, utcnow

CHANNEL_LABELS = {"telegram": "Telegram chat", "whatsapp": "WhatsApp number"}

ROLES = ("admin", "bkk", "teacher", "regional")
SCHOOL_WIDE_ROLES = frozenset({"admin", "bkk"})
INVITATION_PREFIX = "S-"
INVITATION_MAX_AGE = timedelta(days=30)

Cohort = tuple[str, int]  # (class, graduation year), e.g. ("XII TKJ 1", 2025)


class StaffError(ValueError):
    """A staff operation that cannot be done (bad role, unknown class, ...)."""


class ChatTaken(StaffError):
    """The chat already belongs to another active staff member (`holder`)."""

    def __init__(self, channel: str, address: str, holder: Staff, school: School | None) -> None:
        self.channel, self.address, self.holder, self.school = channel, address, holder, school
        where = f"{school.name}, NPSN {school.npsn}" if school else f"school #{holder.school_id}"
        remove = f"jejak staff remove {holder.id}" + (f" --school {school.npsn}" if school else "")
        super().__init__(
            f"{CHANNEL_LABELS.get(channel, channel)} {address} is already linked to staff "
            f"#{holder.id}: {holder.name} ({holder.role}, {where}). One chat holds one staff "
            f"role: remove that entry first (`{remove}`), then add again."
        )


TELEGRAM_USER_ID_RULE = (
    "must be a person's numeric Telegram user id (a positive number such as 123456789). "
    "A group or channel id (negative) is refused: staff commands and the weekly digest show "
    "graduates' names and phone numbers, so they go to one person's private chat only"
)


def is_person_address(channel: str, address: str | None) -> bool:
    """True for a chat that is one person's: a positive Telegram user id (groups and channels
    have negative ids), or a WhatsApp number (digits)."""
    address = (address or "").strip()
    if not address.isascii() or not address.isdigit():
        return False
    if channel == "telegram":
        return int(address) > 0
    return channel == "whatsapp"


def _norm_name(name: str) -> str:
    return " ".join(name.split()).casefold()


# honorifics before a name (any case, with or without a dot); "H." (Haji) only with its dot
_HONORIFICS = frozenset({"bu", "ibu", "pak", "bapak", "bpk", "drs", "dra", "dr", "ir", "hj"})
# academic degrees written after a name without a comma: S.Kom, S.Pd., M.Pd, S.T., A.Md, S.Pd.I
_DEGREE = re.compile(r"(?:s|m|a|d|b|ph)(?:\.[a-z]{1,5})+\.?")
_TRAILING_TITLES = frozenset({"gr.", "lc."})


def wali_name_key(name: str | None) -> str:
    """`name` as compared with the roster's wali_kelas: without honorifics (Bu, Pak, Ibu,
    Bapak, Drs., Dra., Dr., Ir., Hj., H.) and academic titles (everything after a comma, as
    in "Sri Wahyuni, S.Kom., M.Pd."; a trailing S.Pd. or M.Pd without one), case and spacing
    ignored. "Bu Sri Wahyuni" and "Sri Wahyuni, S.Kom." give the same key; "Sri Wahyuni" and
    "Sri Wahyuningsih" do not: names are equal after this or not at all, never "close enough".
    "" when nothing is left (a name that is only a title matches nobody)."""
    if not name:
        return ""
    words = name.casefold().split(",", 1)[0].split()
    while words and (words[0].rstrip(".") in _HONORIFICS or words[0] == "h."):
        words.pop(0)
    while words and (_DEGREE.fullmatch(words[-1]) or words[-1] in _TRAILING_TITLES):
        words.pop()
    return " ".join(w.strip(".") for w in words if w.strip("."))


def same_wali(name: str | None, wali_kelas: str | None) -> bool:
    """True if the roster's `wali_kelas` names the person called `name` (see wali_name_key)."""
    key = wali_name_key(name)
    return bool(key) and key == wali_name_key(wali_kelas)


def _same_person(a: str, b: str) -> bool:
    return (wali_name_key(a) or _norm_name(a)) == (wali_name_key(b) or _norm_name(b))


_STAFF_CODE = re.compile(rf"S-([{ALPHABET}]{{{CODE_LENGTH}}})", re.IGNORECASE)
_DEEP_LINK = re.compile(r"(?:https?://)?(?:t|telegram)\.me/\w+/?\?start=(\S+)", re.IGNORECASE)
_START = re.compile(r"/start(?:@\w+)?\s+(\S+)", re.IGNORECASE)


def normalise_staff_code(text: str | None) -> str | None:
    """The canonical staff code in `text` ("S-" + 10 characters, upper case), or None.

    Only the exact shape `_new_code` makes counts: "S-" and ten characters of the code
    alphabet, in any case, alone (surrounding spaces aside), after "/start", or as a pasted
    deep link (`t.me/<bot>?start=S-...`). Nothing else: "S-Tech Makmur" or "S-Mart Cabang" is
    an answer (an employer), not a code. Alumni codes have no prefix, so the two never collide.
    """
    if not text:
        return None
    text = text.strip()
    for wrapper in (_DEEP_LINK, _START):
        match = wrapper.fullmatch(text)
        if match:
            text = match.group(1)
            break
    match = _STAFF_CODE.fullmatch(text)
    return INVITATION_PREFIX + match.group(1).upper() if match else None


def is_staff_invitation_code(text: str | None) -> bool:
    """True if `text` carries a staff invitation code (the chat shell routes on this)."""
    return normalise_staff_code(text) is not None


async def known_classes(session: AsyncSession, school_id: int) -> list[str]:
    rows = await session.execute(
        select(Alumnus.kelas).where(Alumnus.school_id == school_id).distinct()
    )
    return sorted(r[0] for r in rows)


async def _roster_cohorts(
    session: AsyncSession, school_id: int
) -> list[tuple[str, int, str | None]]:
    """The school's distinct (class, graduation year, wali_kelas) on the roster: a few rows
    (classes times years), whatever the number of graduates."""
    rows = await session.execute(
        select(Alumnus.kelas, Alumnus.graduation_year, Alumnus.homeroom_teacher)
        .where(Alumnus.school_id == school_id)
        .distinct()
    )
    return [(k, int(y), w) for k, y, w in rows]


def _newest_first(cohorts: Iterable[Cohort]) -> list[Cohort]:
    return sorted(set(cohorts), key=lambda c: (-c[1], c[0]))


def cohort_label(cohort: Cohort) -> str:
    """ "XII TKJ 1 2025": the class and year as /ringkasan takes them (CLI output)."""
    return f"{cohort[0]} {cohort[1]}"


async def wali_cohorts(session: AsyncSession, school_id: int, name: str | None) -> list[Cohort]:
    """The cohorts whose roster wali_kelas is `name` (wali_name_key), newest first."""
    if not wali_name_key(name):
        return []
    return _newest_first(
        (k, y) for k, y, w in await _roster_cohorts(session, school_id) if same_wali(name, w)
    )


async def wali_near_matches(
    session: AsyncSession, school_id: int, name: str, limit: int = 5
) -> list[str]:
    """Roster wali_kelas names that look like `name` without being it (a typo, a missing
    word), as the roster spells them: for the admin to check, never to match on."""
    key = wali_name_key(name)
    if not key:
        return []
    spellings: dict[str, str] = {}
    for _k, _y, wali in await _roster_cohorts(session, school_id):
        other = wali_name_key(wali)
        if wali and other and other != key:
            spellings.setdefault(other, " ".join(wali.split()))
    words = {w for w in key.split() if len(w) >= 3}
    scored = []
    for other, spelling in spellings.items():
        ratio = difflib.SequenceMatcher(None, key, other).ratio()
        if ratio >= 0.75 or words & set(other.split()):
            scored.append((-ratio, spelling))
    return [spelling for _, spelling in sorted(scored)[:limit]]


async def resolve_cohorts(
    session: AsyncSession,
    school_id: int,
    kelas: Iterable[str],
    graduation_year: int | None = None,
) -> list[Cohort]:
    """The cohorts an admin grants with `--kelas K ... [--tahun Y]`: each class (as the roster
    spells it) with year Y, or without Y its newest cohort. StaffError for an unknown class,
    a class without that year, or a year without a class."""
    classes = await _check_classes(session, school_id, kelas)
    if not classes:
        if graduation_year is not None:
            raise StaffError("A graduation year (--tahun) goes with a class (--kelas)")
        return []
    years: dict[str, set[int]] = {}
    for k, y, _w in await _roster_cohorts(session, school_id):
        years.setdefault(k, set()).add(y)
    cohorts = []
    for k in classes:
        known = sorted(years.get(k, ()), reverse=True)
        if graduation_year is None:
            cohorts.append((k, known[0]))
        elif graduation_year in known:
            cohorts.append((k, graduation_year))
        else:
            listing = ", ".join(str(y) for y in known)
            raise StaffError(
                f"{k} has no {graduation_year} cohort on the roster (its cohorts: {listing})"
            )
    return cohorts


async def _check_classes(session: AsyncSession, school_id: int, kelas: Iterable[str]) -> list[str]:
    wanted = [" ".join(k.split()) for k in kelas if k.strip()]
    if not wanted:
        return []
    known = await known_classes(session, school_id)
    by_fold = {k.casefold(): k for k in known}
    unknown = [k for k in wanted if k.casefold() not in by_fold]
    if unknown:
        listing = ", ".join(known) if known else "(none: import the roster first)"
        raise StaffError(f"Unknown class {', '.join(unknown)}. Known classes: {listing}")
    return list(dict.fromkeys(by_fold[k.casefold()] for k in wanted))


def _check_covers(role: str, covers: list[str] | None) -> list[str] | None:
    if role != "regional":
        if covers:
            raise StaffError("Only the regional role covers other schools")
        return None
    covers = [c.strip() for c in covers or [] if c and c.strip()]
    if not covers:
        raise StaffError("A regional member needs the schools it covers (NPSNs, or all)")
    return ["*"] if "*" in covers else list(dict.fromkeys(covers))


async def covered_school_ids(session: AsyncSession, staff: Staff | None) -> list[int]:
    """The schools whose job-seekers this member may publish vacancies to (and whose interest
    lists they see): their own school; a regional member's covered schools instead."""
    if staff is None or staff.removed_at is not None:
        return []
    if staff.role != "regional":
        return [staff.school_id]
    covers = staff.covers or []
    query = select(School.id).order_by(School.id)
    if "*" not in covers:
        query = query.where(School.npsn.in_(covers))
    return list((await session.execute(query)).scalars())


def _check_role(role: str) -> str:
    role = role.strip().lower()
    if role not in ROLES:
        raise StaffError(f"Unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


async def add_staff(
    session: AsyncSession,
    school_id: int,
    *,
    role: str,
    name: str,
    telegram_id: str | None = None,
    whatsapp: str | None = None,
    kelas: Iterable[str] = (),
    graduation_year: int | None = None,
    covers: list[str] | None = None,
) -> Staff:
    """Add a staff member (commits). `whatsapp` must already be international digits.
    `kelas` with `graduation_year`: the cohorts a teacher sees besides the ones the roster
    names them wali kelas of (`resolve_cohorts`: without a year, each class's newest cohort).
    `covers` (role regional only): NPSNs of the schools it publishes vacancies to, or ["*"]."""
    role = _check_role(role)
    covers = _check_covers(role, covers)
    name = " ".join(name.split())
    if not name:
        raise StaffError("A name is required")
    if telegram_id is not None and not is_person_address("telegram", telegram_id):
        raise StaffError(f"The Telegram id {TELEGRAM_USER_ID_RULE}")
    cohorts = await resolve_cohorts(session, school_id, kelas, graduation_year)
    for channel, address in (("telegram", telegram_id), ("whatsapp", whatsapp)):
        holder = await find_staff(session, channel, address) if address else None
        if holder is not None:
            raise ChatTaken(channel, address, holder, await session.get(School, holder.school_id))
    staff = Staff(
        school_id=school_id,
        role=role,
        name=name,
        name_from_admin=True,
        telegram_id=telegram_id,
        whatsapp=whatsapp,
        covers=covers,
    )
    session.add(staff)
    await session.flush()
    for k, y in cohorts:
        session.add(StaffClass(staff_id=staff.id, kelas=k, graduation_year=y))
    await session.commit()
    await session.refresh(staff)
    return staff


async def list_staff(
    session: AsyncSession, school_id: int, *, include_removed: bool = False
) -> list[tuple[Staff, list[Cohort]]]:
    """Staff of a school with their explicit cohorts (newest first), ordered by role then
    name."""
    stmt = select(Staff).where(Staff.school_id == school_id)
    if not include_removed:
        stmt = stmt.where(Staff.removed_at.is_(None))
    staff = list((await session.execute(stmt.order_by(Staff.role, Staff.name))).scalars())
    if not staff:
        return []
    rows = await session.execute(
        select(StaffClass.staff_id, StaffClass.kelas, StaffClass.graduation_year).where(
            StaffClass.staff_id.in_([s.id for s in staff])
        )
    )
    cohorts: dict[int, list[Cohort]] = {}
    for staff_id, k, y in rows:
        cohorts.setdefault(staff_id, []).append((k, y))
    return [(s, _newest_first(cohorts.get(s.id, []))) for s in staff]


async def remove_staff(session: AsyncSession, school_id: int, staff_id: int) -> Staff | None:
    """Mark a staff member removed (commits). None if there is no such active staff member."""
    staff = await session.get(Staff, staff_id)
    if staff is None or staff.school_id != school_id or staff.removed_at is not None:
        return None
    staff.removed_at = utcnow()
    await session.commit()
    return staff


def _new_code() -> str:
    return INVITATION_PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


async def create_invitation(
    session: AsyncSession,
    school_id: int,
    *,
    role: str,
    kelas: Iterable[str] = (),
    graduation_year: int | None = None,
    name: str | None = None,
    covers: list[str] | None = None,
) -> StaffInvitation:
    """A one-time staff invitation code, e.g. "S-7KQ2M9XRTA" (commits). The cohorts it gives
    are fixed now (`resolve_cohorts`); a `name` is the admin's, so it is matched against
    wali_kelas (a name the chat shows at redemption never is)."""
    role = _check_role(role)
    covers = _check_covers(role, covers)
    name = " ".join(name.split()) if name else None
    cohorts = await resolve_cohorts(session, school_id, kelas, graduation_year)
    if role == "teacher" and not cohorts and not name:
        raise StaffError("A teacher invitation needs --kelas or --name (to match wali_kelas)")
    invitation = StaffInvitation(
        code=_new_code(),
        school_id=school_id,
        role=role,
        name=name,
        kelas=[[k, y] for k, y in cohorts],
        covers=covers,
    )
    session.add(invitation)
    await session.commit()
    return invitation


async def find_staff(session: AsyncSession, channel: str, address: str) -> Staff | None:
    """The active staff member behind a chat identity, or None (an alumnus, a stranger).

    At most one (the unique index of migration 0002); the oldest if ever there were more."""
    if channel == "telegram":
        column = Staff.telegram_id
    elif channel == "whatsapp":
        column = Staff.whatsapp
    else:
        return None
    stmt = (
        select(Staff)
        .where(column == str(address), Staff.removed_at.is_(None))
        .order_by(Staff.id)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclasses.dataclass(frozen=True, slots=True)
class Redemption:
    """What sending a staff code did (`redeem_invitation`).

    `outcome`:
    - "linked": the chat is now linked: a new member, or the chat's member with the code's
      cohorts (teacher) or schools (regional) added. The code is used.
    - "already": the chat's member already has everything the code gives, or the chat sent the
      code it redeemed itself again. Nothing changed; a fresh code stays unused.
    - "conflict": the chat belongs to a member of another school, another role or another
      name. Nothing changed; the code stays unused (the chat's link must be removed first).
    - "invalid": unknown, used by another chat, expired, or sent from a chat that is not one
      person's (a group).
    `staff`: the chat's member (new or extended, or as it is); None when invalid.
    `fresh`: the code was still unused (and still is unless the outcome is "linked").
    """

    outcome: str
    staff: Staff | None = None
    fresh: bool = False


async def redeem_invitation(
    session: AsyncSession,
    code: str,
    channel: str,
    address: str,
    *,
    display_name: str | None = None,
    now: datetime | None = None,
    max_age: timedelta = INVITATION_MAX_AGE,
) -> Redemption:
    """Link a chat to a staff role with a one-time code (commits when it links).

    One chat, one staff identity: a chat that already belongs to an active member gets the
    code's additions only when the code is for the same school and role and, if it names
    someone, the same name (see `Redemption`). Unknown, used and expired codes are all
    "invalid" (the caller says the same thing in every case). A new member from a code
    without a name is named after `display_name`, as a label only (`name_from_admin` False:
    never matched against wali_kelas).
    """
    if not is_person_address(channel, address):
        return Redemption("invalid")  # a group chat, a console session: never staff
    now = now or utcnow()
    canonical = normalise_staff_code(code)
    if canonical is None:
        return Redemption("invalid")
    invitation = await session.get(StaffInvitation, canonical)
    if invitation is None:
        return Redemption("invalid")
    if invitation.used_at is not None:
        if invitation.used_by_contact == f"{channel}:{address}":  # their own code, again
            staff = await find_staff(session, channel, address)
            if staff is not None:
                return Redemption("already", staff)
        return Redemption("invalid")
    created = invitation.created_at
    if created.tzinfo is None:  # SQLite hands back naive UTC
        created = created.replace(tzinfo=now.tzinfo)
    if now - created > max_age:
        return Redemption("invalid")
    staff = await find_staff(session, channel, address)
    if staff is None:
        staff = Staff(
            school_id=invitation.school_id,
            role=invitation.role,
            # without the admin's name, the chat's display name: a label, never matched
            # against wali_kelas (anyone may call themselves after a teacher)
            name=invitation.name or " ".join((display_name or "").split())[:200] or "?",
            name_from_admin=invitation.name is not None,
            telegram_id=str(address) if channel == "telegram" else None,
            whatsapp=str(address) if channel == "whatsapp" else None,
            covers=invitation.covers,
        )
        session.add(staff)
        await session.flush()
        for k, y in invitation_cohorts(invitation):
            session.add(StaffClass(staff_id=staff.id, kelas=k, graduation_year=y))
    elif (
        staff.school_id != invitation.school_id
        or staff.role != invitation.role
        or (invitation.name and not _same_person(invitation.name, staff.name))
    ):
        return Redemption("conflict", staff, fresh=True)
    elif not await _extend(session, staff, invitation):
        return Redemption("already", staff, fresh=True)
    invitation.used_at = now
    invitation.used_by_contact = f"{channel}:{address}"
    await session.commit()
    await session.refresh(staff)
    return Redemption("linked", staff, fresh=True)


def invitation_cohorts(invitation: StaffInvitation) -> list[Cohort]:
    """The cohorts a staff invitation gives: its `kelas`, a JSON list of [class, year]."""
    return [(str(k), int(y)) for k, y in invitation.kelas or []]


async def _extend(session: AsyncSession, staff: Staff, invitation: StaffInvitation) -> bool:
    """Give `staff` what `invitation` adds for the same identity (a teacher's cohorts and, from
    a code with the admin's name for them, wali_kelas matching; a regional member's schools);
    False when it adds nothing."""
    if staff.role == "teacher":
        visible = set(await cohorts_for(session, staff))
        new = [c for c in invitation_cohorts(invitation) if c not in visible]
        for k, y in new:
            session.add(StaffClass(staff_id=staff.id, kelas=k, graduation_year=y))
        named = invitation.name is not None and not staff.name_from_admin
        if named:  # the admin vouches for this name (the same person, checked by the caller)
            staff.name, staff.name_from_admin = invitation.name, True
        return bool(new) or named
    if staff.role == "regional":
        covers, wanted = staff.covers or [], invitation.covers or []
        if "*" in covers or not wanted:
            return False
        if "*" in wanted:
            staff.covers = ["*"]
            return True
        new = [c for c in wanted if c not in covers]
        if new:
            staff.covers = [*covers, *new]
        return bool(new)
    return False  # admin, bkk: the role is all there is


async def cohorts_for(session: AsyncSession, staff: Staff | None) -> list[Cohort]:
    """The cohorts (class, graduation year) this staff member may see, newest first.

    Teacher: the explicit ones plus, when the admin set their name, those whose roster
    wali_kelas is that name; only cohorts on the roster. Admin/BKK: every cohort of the
    school. Removed, regional, None: none.
    """
    if staff is None or staff.removed_at is not None or staff.role == "regional":
        return []
    roster = await _roster_cohorts(session, staff.school_id)
    on_roster = {(k, y) for k, y, _w in roster}
    if staff.role in SCHOOL_WIDE_ROLES:
        return _newest_first(on_roster)
    explicit = await session.execute(
        select(StaffClass.kelas, StaffClass.graduation_year).where(StaffClass.staff_id == staff.id)
    )
    found = {(k, y) for k, y in explicit if (k, y) in on_roster}
    if staff.name_from_admin and wali_name_key(staff.name):
        found.update((k, y) for k, y, w in roster if same_wali(staff.name, w))
    return _newest_first(found)


async def can_see_cohort(
    session: AsyncSession, staff: Staff | None, kelas: str, graduation_year: int
) -> bool:
    """True if `staff` may see the graduates of `kelas` who graduated in `graduation_year`."""
    wanted = " ".join(kelas.split()).casefold()
    return any(
        k.casefold() == wanted and y == graduation_year
        for k, y in await cohorts_for(session, staff)
    )


def is_school_wide(staff: Staff | None) -> bool:
    """Admin and BKK: /rekap, /ekspor, and /ringkasan for any class."""
    return staff is not None and staff.removed_at is None and staff.role in SCHOOL_WIDE_ROLES


__all__ = [
    "INVITATION_PREFIX",
    "ROLES",
    "TELEGRAM_USER_ID_RULE",
    "ChatTaken",
    "Cohort",
    "Redemption",
    "StaffError",
    "add_staff",
    "can_see_cohort",
    "cohort_label",
    "cohorts_for",
    "covered_school_ids",
    "create_invitation",
    "find_staff",
    "invitation_cohorts",
    "is_person_address",
    "is_school_wide",
    "is_staff_invitation_code",
    "known_classes",
    "list_staff",
    "normalise_staff_code",
    "redeem_invitation",
    "remove_staff",
    "resolve_cohorts",
    "same_wali",
    "wali_cohorts",
    "wali_name_key",
    "wali_near_matches",
]
