"""Schools: the default one comes from the settings (SCHOOL_NAME, SCHOOL_NPSN, TIMEZONE; the
NPSN `PLACEHOLDER_NPSN` means none is configured); a deployment may hold more
(`jejak school add`), each owning its roster, staff and vacancies.

`SchoolDirectory` is the in-memory view of every school that the running process keeps (the
inbound hot path reads names and zones from it, never from the database): it is loaded once,
and reloaded at most every `ttl` seconds when asked about a school it does not know, so a school
added from the CLI while the bot runs is picked up without a restart.
"""

from __future__ import annotations

import re
import time as _time
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func
from sqlmodel import select

from storage.db import Database
from storage.models import Alumnus, School, Staff

PLACEHOLDER_NPSN = "00000000"  # SCHOOL_NPSN's default: no school configured (the demo's)


class SchoolSettings(Protocol):
    school_name: str
    school_npsn: str
    timezone: str


class SchoolError(ValueError):
    """A school operation that cannot be done (unknown NPSN, bad zone, duplicate)."""


async def ensure_default_school(db: Database, settings: SchoolSettings, *, update: bool) -> School:
    """The school with the configured NPSN (SCHOOL_NPSN), created from SCHOOL_NAME and TIMEZONE
    when it does not exist yet.

    `update=True` is what `jejak run` does at start: an existing school's name and zone follow
    SCHOOL_NAME and TIMEZONE, but only the ones actually set (a pydantic settings object's
    `model_fields_set`): a setting left at its default never renames a school. CLI commands
    pass `update=False` and leave an existing school as it is (`jejak school set` changes it),
    so a command run with the settings missing or half-read cannot rename the school.
    """
    explicit = getattr(settings, "model_fields_set", {"school_name", "timezone"})
    async with db.session() as session:
        school = (
            await session.execute(select(School).where(School.npsn == settings.school_npsn))
        ).scalar_one_or_none()
        if school is None:
            school = School(
                npsn=settings.school_npsn, name=settings.school_name, timezone=settings.timezone
            )
            session.add(school)
        elif update:
            if "school_name" in explicit:
                school.name = settings.school_name
            if "timezone" in explicit:
                school.timezone = settings.timezone
        else:
            return school
        await session.commit()
        await session.refresh(school)
        return school


# ---- the in-memory directory -------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SchoolInfo:
    id: int
    npsn: str
    name: str
    timezone: str
    zone: ZoneInfo


def _info(school: School) -> SchoolInfo:
    try:
        zone = ZoneInfo(school.timezone or "Asia/Jakarta")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("Asia/Jakarta")
    return SchoolInfo(school.id, school.npsn, school.name, school.timezone, zone)


class SchoolDirectory:
    """Every school of the deployment, by id and NPSN; `default` is the configured one."""

    def __init__(self, schools: list[School], default_id: int, *, ttl: float = 60.0) -> None:
        self.default_id = default_id
        self.ttl = ttl
        self._set(schools)

    def _set(self, schools: list[School]) -> None:
        self.by_id: dict[int, SchoolInfo] = {s.id: _info(s) for s in schools}
        self.by_npsn: dict[str, SchoolInfo] = {i.npsn: i for i in self.by_id.values()}
        self.loaded_at = _time.monotonic()

    @classmethod
    async def load(cls, db: Database, default_id: int, *, ttl: float = 60.0) -> SchoolDirectory:
        return cls(await _all(db), default_id, ttl=ttl)

    async def refresh(self, db: Database, *, force: bool = False) -> None:
        if force or _time.monotonic() - self.loaded_at >= self.ttl:
            self._set(await _all(db))

    @property
    def default(self) -> SchoolInfo:
        return self.by_id[self.default_id]

    @property
    def multi(self) -> bool:
        return len(self.by_id) > 1

    def get(self, school_id: int | None) -> SchoolInfo:
        """The school with this id (the default when unknown or None)."""
        if school_id is None:
            return self.default
        return self.by_id.get(school_id) or self.default

    async def fetch(self, db: Database, school_id: int | None) -> SchoolInfo:
        """`get`, reloading once (within the ttl) when the id is not known yet."""
        if school_id is not None and school_id not in self.by_id:
            await self.refresh(db)
        return self.get(school_id)

    def all(self) -> list[SchoolInfo]:
        return sorted(self.by_id.values(), key=lambda s: s.npsn)


async def _all(db: Database) -> list[School]:
    async with db.session() as session:
        return list((await session.execute(select(School).order_by(School.id))).scalars())


# ---- CLI operations ------------------------------------------------------------------------
_NPSN_RE = re.compile(r"^[0-9A-Za-z]{8}$")


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SchoolError(
            f"Unknown timezone {name!r}: use Asia/Jakarta (WIB), Asia/Makassar (WITA) or "
            "Asia/Jayapura (WIT)."
        ) from None
    return name


async def list_schools(db: Database) -> list[tuple[School, int, int]]:
    """Every school with its roster size and active staff count, by NPSN."""
    async with db.session() as session:
        schools = list((await session.execute(select(School).order_by(School.npsn))).scalars())
        alumni = dict(
            (
                await session.execute(
                    select(Alumnus.school_id, func.count()).group_by(Alumnus.school_id)
                )
            ).all()
        )
        staff = dict(
            (
                await session.execute(
                    select(Staff.school_id, func.count())
                    .where(Staff.removed_at.is_(None))
                    .group_by(Staff.school_id)
                )
            ).all()
        )
    return [(s, alumni.get(s.id, 0), staff.get(s.id, 0)) for s in schools]


async def add_school(db: Database, npsn: str, name: str, timezone: str) -> School:
    npsn = npsn.strip()
    if not _NPSN_RE.match(npsn):
        raise SchoolError(f"NPSN {npsn!r} must be 8 characters (digits, as on the NPSN register).")
    name = " ".join(name.split())
    if not name:
        raise SchoolError("A school name is required.")
    check_timezone(timezone)
    async with db.session() as session:
        existing = (
            await session.execute(select(School).where(School.npsn == npsn))
        ).scalar_one_or_none()
        if existing is not None:
            raise SchoolError(f"A school with NPSN {npsn} exists already: {existing.name}.")
        school = School(npsn=npsn, name=name, timezone=timezone)
        session.add(school)
        await session.commit()
        await session.refresh(school)
        return school


async def set_school(
    db: Database, npsn: str, *, name: str | None = None, timezone: str | None = None
) -> School:
    if timezone is not None:
        check_timezone(timezone)
    async with db.session() as session:
        school = (
            await session.execute(select(School).where(School.npsn == npsn.strip()))
        ).scalar_one_or_none()
        if school is None:
            raise SchoolError(await unknown_npsn_message(db, npsn))
        if name is not None and " ".join(name.split()):
            school.name = " ".join(name.split())
        if timezone is not None:
            school.timezone = timezone
        await session.commit()
        await session.refresh(school)
        return school


async def unknown_npsn_message(db: Database, npsn: str) -> str:
    schools = await _all(db)
    known = ", ".join(f"{s.npsn} ({s.name})" for s in sorted(schools, key=lambda s: s.npsn))
    return f"Unknown school NPSN {npsn!r}. Known schools: {known or '(none)'}."


async def school_by_npsn(db: Database, npsn: str) -> School:
    """The school with this NPSN, or SchoolError naming the known ones."""
    async with db.session() as session:
        school = (
            await session.execute(select(School).where(School.npsn == npsn.strip()))
        ).scalar_one_or_none()
    if school is None:
        raise SchoolError(await unknown_npsn_message(db, npsn))
    return school


async def schools_by_npsn(db: Database, text: str) -> list[School]:
    """ "NPSN1,NPSN2" -> those schools (SchoolError naming unknown ones); "all"/"*" -> every
    school."""
    wanted = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    schools = await _all(db)
    if not wanted:
        raise SchoolError("No school given: use NPSN1,NPSN2 or all.")
    if any(w.lower() in ("all", "semua", "*") for w in wanted):
        return schools
    by_npsn = {s.npsn: s for s in schools}
    unknown = [w for w in wanted if w not in by_npsn]
    if unknown:
        known = ", ".join(f"{s.npsn} ({s.name})" for s in sorted(schools, key=lambda s: s.npsn))
        raise SchoolError(
            f"Unknown school NPSN {', '.join(unknown)}. Known schools: {known or '(none)'}."
        )
    return [by_npsn[w] for w in dict.fromkeys(wanted)]
