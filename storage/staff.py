"""Staff: roles, their classes, one-time invitation codes, and who may see which class.

Roles: `admin` and `bkk` see every class of their school; a `teacher` sees only their own classes:
the explicit `StaffClass` rows plus the classes whose roster `homeroom_teacher` (wali_kelas) is the
teacher's name (case-insensitive, surrounding spaces ignored). Removed staff see nothing.
A `regional` member (a BKK/Disnaker office serving several schools) sees no class; it may
publish vacancies to the job-seekers of the schools it `covers` (NPSNs, or ["*"] for all) and see
who of those schools is interested (`covered_school_ids`). Every read is scoped by the member's
`school_id` (or, for regional vacancies, by the covered schools): staff never see another
school's names or counts.

One chat, one staff identity: a Telegram chat id or a WhatsApp number belongs to at most one
active staff member (a partial unique index guards it, migration 0002). `add_staff` refuses a
chat that another active member holds; `redeem_invitation` adds to the chat's member only
what is the same identity (same school, same role, same name: a teacher's classes, a regional
member's schools) and refuses anything else, leaving the code unused.

Every function takes an open `AsyncSession`; the ones that write say so and commit nothing
themselves except where noted (`add_staff`, `remove_staff`, `create_invitation` and
`redeem_invitation` commit, as the CLI and the chat shell call them as one step).
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from storage.invitations import ALPHABET, CODE_LENGTH
from storage.models import Alumnus, School, Staff, StaffClass, StaffInvitation, utcnow

CHANNEL_LABELS = {"telegram": "Telegram chat", "whatsapp": "WhatsApp number"}

ROLES = ("admin", "bkk", "teacher", "regional")
SCHOOL_WIDE_ROLES = frozenset({"admin", "bkk"})
INVITATION_PREFIX = "S-"
INVITATION_MAX_AGE = timedelta(days=30)


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
    covers: list[str] | None = None,
) -> Staff:
    """Add a staff member (commits). `whatsapp` must already be international digits.
    `covers` (role regional only): NPSNs of the schools it publishes vacancies to, or ["*"]."""
    role = _check_role(role)
    covers = _check_covers(role, covers)
    name = " ".join(name.split())
    if not name:
        raise StaffError("A name is required")
    if telegram_id is not None and not is_person_address("telegram", telegram_id):
        raise StaffError(f"The Telegram id {TELEGRAM_USER_ID_RULE}")
    classes = await _check_classes(session, school_id, kelas)
    for channel, address in (("telegram", telegram_id), ("whatsapp", whatsapp)):
        holder = await find_staff(session, channel, address) if address else None
        if holder is not None:
            raise ChatTaken(channel, address, holder, await session.get(School, holder.school_id))
    staff = Staff(
        school_id=school_id,
        role=role,
        name=name,
        telegram_id=telegram_id,
        whatsapp=whatsapp,
        covers=covers,
    )
    session.add(staff)
    await session.flush()
    for k in classes:
        session.add(StaffClass(staff_id=staff.id, kelas=k))
    await session.commit()
    await session.refresh(staff)
    return staff


async def list_staff(
    session: AsyncSession, school_id: int, *, include_removed: bool = False
) -> list[tuple[Staff, list[str]]]:
    """Staff of a school with their explicit classes, ordered by role then name."""
    stmt = select(Staff).where(Staff.school_id == school_id)
    if not include_removed:
        stmt = stmt.where(Staff.removed_at.is_(None))
    staff = list((await session.execute(stmt.order_by(Staff.role, Staff.name))).scalars())
    if not staff:
        return []
    rows = await session.execute(
        select(StaffClass.staff_id, StaffClass.kelas).where(
            StaffClass.staff_id.in_([s.id for s in staff])
        )
    )
    classes: dict[int, list[str]] = {}
    for staff_id, k in rows:
        classes.setdefault(staff_id, []).append(k)
    return [(s, sorted(classes.get(s.id, []))) for s in staff]


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
    name: str | None = None,
    covers: list[str] | None = None,
) -> StaffInvitation:
    """A one-time staff invitation code, e.g. "S-7KQ2M9XRTA" (commits)."""
    role = _check_role(role)
    covers = _check_covers(role, covers)
    classes = await _check_classes(session, school_id, kelas)
    if role == "teacher" and not classes and not name:
        raise StaffError("A teacher invitation needs --kelas or --name (to match wali_kelas)")
    invitation = StaffInvitation(
        code=_new_code(),
        school_id=school_id,
        role=role,
        name=" ".join(name.split()) if name else None,
        kelas=classes,
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
      classes (teacher) or schools (regional) added. The code is used.
    - "already": the chat's member already has everything the code gives, or the chat sent the
      code it redeemed itself again. Nothing changed; a fresh code stays unused.
    - "conflict": the chat belongs to a member of another school, another role or another
      name. Nothing changed; the code stays unused (the chat's link must be removed first).
    - "invalid": unknown, used by another chat, or expired.
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
    "invalid" (the caller says the same thing in every case).
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
            name=invitation.name or (display_name or "").strip() or "?",
            telegram_id=str(address) if channel == "telegram" else None,
            whatsapp=str(address) if channel == "whatsapp" else None,
            covers=invitation.covers,
        )
        session.add(staff)
        await session.flush()
        for k in invitation.kelas or []:
            session.add(StaffClass(staff_id=staff.id, kelas=k))
    elif (
        staff.school_id != invitation.school_id
        or staff.role != invitation.role
        or (invitation.name and _norm_name(invitation.name) != _norm_name(staff.name))
    ):
        return Redemption("conflict", staff, fresh=True)
    elif not await _extend(session, staff, invitation):
        return Redemption("already", staff, fresh=True)
    invitation.used_at = now
    invitation.used_by_contact = f"{channel}:{address}"
    await session.commit()
    await session.refresh(staff)
    return Redemption("linked", staff, fresh=True)


async def _extend(session: AsyncSession, staff: Staff, invitation: StaffInvitation) -> bool:
    """Give `staff` what `invitation` adds for the same identity (a teacher's classes, a
    regional member's schools); False when it adds nothing."""
    if staff.role == "teacher":
        visible = {k.casefold() for k in await classes_for(session, staff)}
        new = [k for k in invitation.kelas or [] if k.casefold() not in visible]
        for k in new:
            session.add(StaffClass(staff_id=staff.id, kelas=k))
        return bool(new)
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


async def classes_for(session: AsyncSession, staff: Staff) -> list[str]:
    """The classes this staff member may see, sorted.

    Teacher: explicit classes plus classes whose roster wali_kelas is their name.
    Admin/BKK: every class of the school. Removed, regional: none.
    """
    if staff.removed_at is not None or staff.role == "regional":
        return []
    if staff.role in SCHOOL_WIDE_ROLES:
        return await known_classes(session, staff.school_id)
    explicit = (
        await session.execute(select(StaffClass.kelas).where(StaffClass.staff_id == staff.id))
    ).scalars()
    found = set(explicit)
    name = _norm_name(staff.name)
    if name:
        rows = await session.execute(
            select(Alumnus.kelas, Alumnus.homeroom_teacher)
            .where(
                Alumnus.school_id == staff.school_id,
                Alumnus.homeroom_teacher.is_not(None),
                func.lower(func.trim(Alumnus.homeroom_teacher)) == name,
            )
            .distinct()
        )
        found.update(k for k, _ in rows)
        if not found:
            # names with inner double spaces or non-ASCII case: compare in Python on the few
            # distinct (class, teacher) pairs
            pairs = await session.execute(
                select(Alumnus.kelas, Alumnus.homeroom_teacher)
                .where(
                    Alumnus.school_id == staff.school_id,
                    Alumnus.homeroom_teacher.is_not(None),
                )
                .distinct()
            )
            found.update(k for k, t in pairs if t and _norm_name(t) == name)
    return sorted(found)


async def can_see_class(session: AsyncSession, staff: Staff | None, kelas: str) -> bool:
    """True if `staff` may see `kelas` (a class of their own school they are responsible for)."""
    if staff is None or staff.removed_at is not None:
        return False
    wanted = " ".join(kelas.split()).casefold()
    return any(k.casefold() == wanted for k in await classes_for(session, staff))


def is_school_wide(staff: Staff | None) -> bool:
    """Admin and BKK: /rekap, /ekspor, and /ringkasan for any class."""
    return staff is not None and staff.removed_at is None and staff.role in SCHOOL_WIDE_ROLES


__all__ = [
    "INVITATION_PREFIX",
    "ROLES",
    "TELEGRAM_USER_ID_RULE",
    "ChatTaken",
    "Redemption",
    "StaffError",
    "add_staff",
    "can_see_class",
    "classes_for",
    "covered_school_ids",
    "create_invitation",
    "find_staff",
    "is_school_wide",
    "is_person_address",
    "is_staff_invitation_code",
    "normalise_staff_code",
    "known_classes",
    "list_staff",
    "redeem_invitation",
    "remove_staff",
]
