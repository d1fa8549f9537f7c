"""Schools: the default one comes from the settings (SCHOOL_NAME, SCHOOL_NPSN, TIMEZONE)."""

from __future__ import annotations

from typing import Protocol

from sqlmodel import select

from storage.db import Database
from storage.models import School


class SchoolSettings(Protocol):
    school_name: str
    school_npsn: str
    timezone: str


async def ensure_default_school(db: Database, settings: SchoolSettings) -> School:
    """Get the school with the configured NPSN, creating it (or updating name/zone) if needed."""
    async with db.session() as session:
        school = (
            await session.execute(select(School).where(School.npsn == settings.school_npsn))
        ).scalar_one_or_none()
        if school is None:
            school = School(
                npsn=settings.school_npsn, name=settings.school_name, timezone=settings.timezone
            )
            session.add(school)
        else:
            school.name = settings.school_name
            school.timezone = settings.timezone
        await session.commit()
        await session.refresh(school)
        return school
