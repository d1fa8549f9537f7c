"""Wires the parts together: settings -> database -> conversation service -> channels."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.conversation import ConversationService
from bot.settings import Settings
from conversations.engine import Context
from conversations.questionnaire import Flow, default_flow
from storage import migrate
from storage.db import Database
from storage.models import School, utcnow
from storage.schools import SchoolDirectory, ensure_default_school

log = logging.getLogger(__name__)


class SchemaBehind(RuntimeError):
    pass


@dataclass
class Core:
    settings: Settings
    db: Database
    school: School
    flow: Flow
    service: ConversationService
    schools: SchoolDirectory | None = None  # every school of the deployment (in memory)

    async def close(self) -> None:
        await self.db.dispose()


def make_context(settings: Settings, school: School):
    retention = {"id": settings.retention_text_id, "en": settings.retention_text_en}

    def context() -> Context:
        return Context(
            now=utcnow(),
            school=school.name,
            retention=retention,
            zone=settings.zone,
            max_failures=settings.identify_max_failures,
            lock_minutes=settings.identify_lock_minutes,
        )

    return context


async def build_core(
    settings: Settings, *, apply_migrations: bool = True, update_school: bool = True
) -> Core:
    """Open the database (migrating it, or refusing when it is behind), load the questionnaire.
    `update_school`: the configured school's name and zone follow the settings (what `jejak run`
    does at start; see `ensure_default_school`)."""
    db = Database(settings.database_url)
    if apply_migrations:
        await migrate.upgrade(db)
    elif not await migrate.is_up_to_date(db):
        await db.dispose()
        raise SchemaBehind("the database schema is behind: run `jejak migrate` first")
    school = await ensure_default_school(db, settings, update=update_school)
    schools = await SchoolDirectory.load(db, school.id)
    flow = default_flow()
    service = ConversationService(
        db,
        flow,
        school_id=school.id,
        school_name=school.name,
        context=make_context(settings, school),
        consent_version=settings.consent_version,
        default_language=settings.default_language,
        schools=schools,
    )
    return Core(settings, db, school, flow, service, schools)
