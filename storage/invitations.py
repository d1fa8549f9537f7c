"""Invitation codes: one random, unguessable code per alumnus that links a chat to a roster row.

A code is 10 characters from `ALPHABET` (digits and upper-case letters without the look-alikes
0/O and 1/I/L), drawn with `secrets`, with at least one digit and one letter so that an ordinary
word typed in a chat never looks like a code. That is about 49 bits: guessing is hopeless, more
so with the identification attempt limit. Codes are stored upper-case; `normalise_code` accepts
them in any case, with spaces, dashes or underscores typed in between, and also a pasted deep
link (`...?start=CODE`) or WhatsApp text. Telegram start payloads allow A-Z a-z 0-9 _ -, so the
code goes into `https://t.me/<bot>?start=<code>` unchanged.

Each alumnus keeps one code: `ensure_invitations` creates the missing ones and returns the existing
ones on later runs, so links already handed out stay valid. A code belongs to one alumnus only
(`Invitation.alumnus_id`); `used_at` records the first time it was redeemed.

`revoke_invitations` deletes, for a school, a class or some graduates (after a list of links
leaked), every code that would identify its graduate on its own: the unused ones, and used ones
whose graduate has no chat linked any more (after HAPUS, say). A revoked code is then exactly a
code that never existed (the bot answers it as any unknown code), and the next
`ensure_invitations` gives those graduates new codes. A used code whose graduate has a linked
chat is kept: from any other chat it identifies nobody without the graduate's birth date, no
more than NISN + birth date (the NISN is on the list too) already allows.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import Alumnus, Contact, Invitation, utcnow

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
_DIGITS = set("23456789")
_CODE_RE = re.compile(rf"[{ALPHABET}]{{{CODE_LENGTH}}}")
_LOOKUP_CHUNK = 2000


def new_code() -> str:
    """A fresh random code (not checked against the database)."""
    while True:
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        if any(c in _DIGITS for c in code) and not all(c in _DIGITS for c in code):
            return code


def _valid(code: str) -> bool:
    return (
        bool(_CODE_RE.fullmatch(code))
        and any(c in _DIGITS for c in code)
        and any(c not in _DIGITS for c in code)
    )


def normalise_code(text: str | None) -> str | None:
    """The code in `text` (upper-case), or None when `text` is not a code.

    Accepts any case and spaces, dashes, dots or underscores in between ("abcd-e234 56"), a
    leading "/start", and a pasted link containing "start=CODE". Also used to recognise a code
    sent as a WhatsApp message."""
    candidate = code_candidate(text)
    return candidate if candidate and _valid(candidate) else None


def code_candidate(text: str | None) -> str | None:
    """What a person typed or pasted, reduced to the bare code they meant: the payload of a
    pasted deep link ("...?start=CODE"), without a leading "/start", upper-case, and without the
    spaces, dashes, dots or underscores people put in between. Shared by alumni and staff codes;
    each kind then checks its own format."""
    if not text:
        return None
    text = text.strip()
    match = re.search(r"[?&]start=([A-Za-z0-9_-]+)", text)
    if match:
        text = match.group(1)
    text = re.sub(r"^/start(@\w+)?\s*", "", text, flags=re.IGNORECASE)
    return re.sub(r"[\s\-_.]+", "", text).upper()


async def _fresh_codes(session: AsyncSession, count: int) -> list[str]:
    """`count` new codes that are not in the database yet (collisions are astronomically rare,
    but checked)."""
    codes: set[str] = set()
    while len(codes) < count:
        batch = {new_code() for _ in range(count - len(codes))} - codes
        taken: set[str] = set()
        for chunk in _chunks(sorted(batch), _LOOKUP_CHUNK):
            result = await session.execute(
                select(Invitation.code).where(Invitation.code.in_(chunk))
            )
            taken.update(result.scalars())
        codes |= batch - taken
    return list(codes)


def _chunks(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _kelas_key(kelas: str) -> str:
    return " ".join(kelas.split()).lower()


async def ensure_invitations(
    db: Database, school_id: int, kelas: str | None = None
) -> list[tuple[Alumnus, str]]:
    """One code per alumnus of the school (optionally one class, matched case-insensitively),
    creating the missing ones; existing codes are reused. Sorted by class, then name."""
    async with db.session() as session, session.begin():
        query = select(Alumnus).where(Alumnus.school_id == school_id)
        if kelas is not None:
            query = query.where(func.lower(Alumnus.kelas) == _kelas_key(kelas))
        alumni = list(
            (await session.execute(query.order_by(Alumnus.kelas, Alumnus.name, Alumnus.nisn)))
            .scalars()
            .all()
        )
        codes: dict[int, str] = {}
        ids = [a.id for a in alumni]
        for chunk in _chunks(ids, _LOOKUP_CHUNK):
            result = await session.execute(
                select(Invitation.alumnus_id, Invitation.code)
                .where(Invitation.alumnus_id.in_(chunk))
                .order_by(Invitation.created_at, Invitation.code)
            )
            for alumnus_id, code in result:
                codes.setdefault(alumnus_id, code)  # the oldest one, should there be several
        missing = [a.id for a in alumni if a.id not in codes]
        if missing:
            fresh = await _fresh_codes(session, len(missing))
            now = utcnow()
            rows = [
                {"code": code, "alumnus_id": alumnus_id, "created_at": now}
                for alumnus_id, code in zip(missing, fresh, strict=True)
            ]
            for chunk in _chunks(rows, _LOOKUP_CHUNK):
                await session.execute(insert(Invitation), list(chunk))
            codes.update(zip(missing, fresh, strict=True))
        return [(a, codes[a.id]) for a in alumni]


class InvitationError(ValueError):
    """A request about invitations that names something not in the roster (nothing changed)."""


@dataclass(frozen=True, slots=True)
class Revocation:
    revoked: int  # codes deleted (unused, or used by a chat no longer linked)
    kept: int  # used codes of graduates with a linked chat, left as they are


async def revoke_invitations(
    db: Database,
    school_id: int,
    *,
    kelas: str | None = None,
    nisns: Sequence[str] | None = None,
) -> Revocation:
    """Delete the invitation codes that identify on their own (unused, or used but the graduate
    has no linked chat) of the school's graduates: all of them, one class (`kelas`, matched as
    in `ensure_invitations`), or the graduates with these NISNs. A NISN not on the school's
    roster raises InvitationError and revokes nothing."""
    async with db.session() as session, session.begin():
        people = select(Alumnus.id).where(Alumnus.school_id == school_id)
        if kelas is not None:
            people = people.where(func.lower(Alumnus.kelas) == _kelas_key(kelas))
        if nisns is not None:
            wanted = sorted(set(nisns))
            found = set(
                (
                    await session.execute(
                        select(Alumnus.nisn).where(
                            Alumnus.school_id == school_id, Alumnus.nisn.in_(wanted)
                        )
                    )
                ).scalars()
            )
            missing = [n for n in wanted if n not in found]
            if missing:
                raise InvitationError(f"Not on the school's roster: NISN {', '.join(missing)}.")
            people = people.where(Alumnus.nisn.in_(wanted))
        in_scope = Invitation.alumnus_id.in_(people.scalar_subquery())
        linked = exists().where(Contact.alumnus_id == Invitation.alumnus_id)
        alone = or_(Invitation.used_at.is_(None), ~linked)
        result = await session.execute(delete(Invitation).where(in_scope, alone))
        kept = (
            await session.execute(select(func.count()).select_from(Invitation).where(in_scope))
        ).scalar_one()
        return Revocation(revoked=result.rowcount, kept=kept)


async def find_invitation(session: AsyncSession, code: str | None) -> Invitation | None:
    """The invitation for a code as typed by a person (see `normalise_code`), or None."""
    normalised = normalise_code(code)
    if normalised is None:
        return None
    return await session.get(Invitation, normalised)


async def mark_used(
    session: AsyncSession, invitation: Invitation, *, at: datetime | None = None
) -> bool:
    """Record the first redemption of `invitation` (in the caller's transaction; not committed).
    Returns True when this call set `used_at`, False when it was already used."""
    if invitation.used_at is not None:
        return False
    invitation.used_at = at or utcnow()
    session.add(invitation)
    await session.flush()
    return True


__all__ = [
    "ALPHABET",
    "CODE_LENGTH",
    "InvitationError",
    "Revocation",
    "ensure_invitations",
    "find_invitation",
    "mark_used",
    "new_code",
    "normalise_code",
    "revoke_invitations",
]
