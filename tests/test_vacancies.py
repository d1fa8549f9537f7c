"""Vacancy targeting over every combination, idempotent publishing, majors, deadlines."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, text

from bot.outreach.planner import publish_vacancy
from bot.settings import Settings
from conversations.messages import catalogue
from storage import vacancies
from storage.models import Alumnus, Contact, OutboxMessage, Response, School

pytestmark = pytest.mark.postgres

ZONE = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 10:00 WIB, a Monday
SETTINGS = Settings(_env_file=None)

# (latest completed status, whether a newer/older response differs)
HISTORIES = {
    "seeking": [("mencari_kerja", 10)],
    "kursus": [("kursus", 10)],
    "working": [("bekerja", 10)],
    "none": [],
    "unfinished_only": [(None, 10)],  # started, never completed
    "was_seeking_now_working": [("mencari_kerja", 100), ("bekerja", 10)],
    "was_working_now_seeking": [("bekerja", 100), ("mencari_kerja", 10)],
    "seeking_then_unfinished_working": [("mencari_kerja", 100), ("bekerja*", 5)],
}
MAJORS = ["TKJ", "rpl ", "AKL"]
CONSENTS = [True, False, None]
STOPS = [False, True]
CONTACTS = ["telegram", "whatsapp", "unreachable", "none", "two_ok", "two_one_unreachable"]


async def build_roster(db, limit: int | None = None) -> tuple[int, dict[int, dict]]:
    """Every combination, one alumnus each (bulk inserts, explicit ids). Returns the school id
    and {alumnus_id: facts}."""
    facts: dict[int, dict] = {}
    alumni, responses, contacts = [], [], []
    combos = list(itertools.product(HISTORIES, MAJORS, CONSENTS, STOPS, CONTACTS))[:limit]
    cid = itertools.count(1)
    for i, (hist, major, consent, stop, contact_kind) in enumerate(combos):
        aid = i + 1
        alumni.append(
            dict(
                id=aid,
                school_id=1,
                nisn=f"{i:010d}",
                name=f"Alumnus {i}",
                birth_date=date(2007, 1, 1),
                kelas="XII X",
                jurusan=major,
                graduation_year=2025,
                consent_vacancies=consent,
                stopped_at=NOW - timedelta(days=1) if stop else None,
            )
        )
        for status, age in HISTORIES[hist]:
            incomplete = status is None or status.endswith("*")
            responses.append(
                dict(
                    alumnus_id=aid,
                    channel="telegram",
                    source="chat",
                    status=(status or "").rstrip("*") or None,
                    started_at=NOW - timedelta(days=age),
                    completed_at=None if incomplete else NOW - timedelta(days=age),
                )
            )
        base = dict(alumnus_id=aid, language="id", state={"stage": "done"})
        chosen = None
        if contact_kind in ("telegram", "whatsapp", "unreachable"):
            c = next(cid)
            contacts.append(
                dict(
                    base,
                    id=c,
                    channel="whatsapp" if contact_kind == "whatsapp" else "telegram",
                    address=f"t{i}" if contact_kind != "whatsapp" else f"62800{i:06d}",
                    last_inbound_at=NOW - timedelta(days=5),
                    unreachable_at=NOW if contact_kind == "unreachable" else None,
                )
            )
            chosen = c if contact_kind != "unreachable" else None
        elif contact_kind.startswith("two"):
            older, newer = next(cid), next(cid)
            contacts.append(
                dict(
                    base,
                    id=older,
                    channel="telegram",
                    address=f"old{i}",
                    last_inbound_at=NOW - timedelta(days=50),
                    unreachable_at=None,
                )
            )
            contacts.append(
                dict(
                    base,
                    id=newer,
                    channel="whatsapp",
                    address=f"62811{i:06d}",
                    last_inbound_at=NOW - timedelta(days=2),
                    unreachable_at=NOW if contact_kind == "two_one_unreachable" else None,
                )
            )
            chosen = newer if contact_kind == "two_ok" else older
        facts[aid] = {
            "hist": hist,
            "major": major.strip().upper(),
            "consent": consent,
            "stop": stop,
            "contact": chosen,
        }
    async with db.session() as s:
        s.add(School(id=1, npsn="20100001", name="SMK Contoh"))
        await s.flush()
        await s.execute(insert(Alumnus), alumni)
        await s.execute(insert(Response), responses)
        await s.execute(insert(Contact), contacts)
        await s.commit()
    if db.is_postgres:  # explicit ids: move the sequences past them
        async with db.session() as s:
            for table in ("school", "alumnus", "contact"):
                await s.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            await s.commit()
    return 1, facts


def expected(facts: dict[int, dict], majors: set[str] | None, kursus: bool) -> dict[int, int]:
    current = {
        "seeking": "mencari_kerja",
        "kursus": "kursus",
        "working": "bekerja",
        "none": None,
        "unfinished_only": None,
        "was_seeking_now_working": "bekerja",
        "was_working_now_seeking": "mencari_kerja",
        "seeking_then_unfinished_working": "mencari_kerja",
    }
    wanted = {"mencari_kerja", "kursus"} if kursus else {"mencari_kerja"}
    out = {}
    for aid, f in facts.items():
        if (
            current[f["hist"]] in wanted
            and (majors is None or f["major"] in majors)
            and f["consent"] is True
            and not f["stop"]
            and f["contact"] is not None
        ):
            out[aid] = f["contact"]
    return out


async def queued(db, vacancy_id: int) -> dict[int, int]:
    async with db.session() as s:
        rows = (
            await s.execute(
                select(OutboxMessage.alumnus_id, OutboxMessage.contact_id).where(
                    OutboxMessage.idempotency_key.like(f"vacancy:{vacancy_id}:%")
                )
            )
        ).all()
    result = {a: c for a, c in rows}
    assert len(result) == len(rows), "someone was queued twice"
    return result


async def publish(db, school_id: int, vacancy_id: int, now: datetime = NOW) -> int:
    return await publish_vacancy(
        db,
        vacancy_id,
        school_id=school_id,
        school_name="SMK Contoh",
        cat=catalogue(),
        settings=SETTINGS,
        zone=ZONE,
        now=now,
    )


@pytest.mark.parametrize(("majors", "kursus"), [("TKJ,RPL", False), ("all", True)])
async def test_targeting_every_combination(db, majors, kursus):
    school_id, facts = await build_roster(db)
    async with db.session() as s:
        v = await vacancies.create_vacancy(
            s,
            school_id,
            company="PT Maju",
            position="Teknisi",
            majors=vacancies.parse_majors(majors),
            location="Bekasi",
            deadline=date(2026, 4, 1),
            include_kursus=kursus,
        )
        await s.commit()
        assert await vacancies.count_targets(s, v) == len(
            expected(facts, None if majors == "all" else {"TKJ", "RPL"}, kursus)
        )
    added = await publish(db, school_id, v.id)
    want = expected(facts, None if majors == "all" else {"TKJ", "RPL"}, kursus)
    assert want, "the roster must contain recipients"
    got = await queued(db, v.id)
    assert got == want  # exactly these people, each on their most recently active chat
    assert added == len(want)
    # publishing again adds nothing
    assert await publish(db, school_id, v.id) == 0
    assert await queued(db, v.id) == want
    async with db.session() as s:
        row = (
            (await s.execute(select(OutboxMessage).where(OutboxMessage.purpose == "vacancy")))
            .scalars()
            .first()
        )
        assert row.payload["action"] == f"interest:{v.id}"
        assert "PT Maju" in row.payload["text"]
        assert row.payload["options"][0]["label"] == "Saya berminat"
        assert row.not_before == NOW


async def test_quiet_hours_push_publish_to_seven(db):
    school_id, facts = await build_roster(db, limit=60)
    async with db.session() as s:
        v = await vacancies.create_vacancy(
            s,
            school_id,
            company="PT A",
            position="B",
            majors=["TKJ"],
            location="C",
            deadline=date(2026, 4, 1),
        )
        await s.commit()
    night = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 22:30 WIB
    assert await publish(db, school_id, v.id, night) > 0
    async with db.session() as s:
        dues = set((await s.execute(select(OutboxMessage.not_before).distinct())).scalars())
    assert dues == {datetime(2026, 3, 3, 0, 0, tzinfo=UTC)}  # 07:00 WIB next day


async def test_unknown_major_and_past_deadline(db):
    school_id, _ = await build_roster(db, limit=300)
    async with db.session() as s:
        with pytest.raises(vacancies.VacancyError, match="known majors: AKL, RPL, TKJ"):
            await vacancies.create_vacancy(
                s,
                school_id,
                company="X",
                position="Y",
                majors=["TKJ", "MESIN"],
                location="Z",
                deadline=date(2026, 4, 1),
            )
        v = await vacancies.create_vacancy(
            s,
            school_id,
            company="X",
            position="Y",
            majors=["rpl"],
            location="Z",
            deadline=date(2026, 3, 1),
        )
        await s.commit()
    with pytest.raises(vacancies.VacancyError, match="deadline"):
        await publish(db, school_id, v.id)
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar() == 0
        assert (await s.get(type(v), v.id)).status == "draft"


def test_parse_majors():
    assert vacancies.parse_majors(" tkj, RPL ,tkj") == ["TKJ", "RPL"]
    assert vacancies.parse_majors("semua") == ["*"]
    assert vacancies.parse_majors("all") == ["*"]
    for nothing in ("", ",", " ; ,", "   "):
        with pytest.raises(vacancies.VacancyError, match="no major given"):
            vacancies.parse_majors(nothing)


async def test_no_majors_is_not_every_major(db):
    school_id, _ = await build_roster(db, limit=30)
    async with db.session() as s:
        for majors in ([], [""], ["  "]):
            with pytest.raises(vacancies.VacancyError, match="no major given"):
                await vacancies.create_vacancy(
                    s,
                    school_id,
                    company="X",
                    position="Y",
                    majors=majors,
                    location="Z",
                    deadline=date(2026, 4, 1),
                )
