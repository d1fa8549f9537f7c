"""Reminders and follow-ups with a controllable clock: who, when, quiet hours, the cap, STOP,
and a status change ending the job-seeker follow-ups. The follow-up is sent through the real
dispatcher and Telegram channel (fake Bot API) and re-opens the status question."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.app import build_core
from bot.outreach.dispatcher import build_dispatcher
from bot.outreach.planner import in_quiet_hours, next_allowed, plan_due
from bot.runner import make_telegram
from conversations.types import Inbound, InputKind
from storage import outbox
from storage.models import Alumnus, Contact, OutboxMessage, Response
from tests.fakes.telegram_api import FakeBotApi
from tests.harness import FixedClock, make_settings

pytestmark = pytest.mark.postgres
ZONE = ZoneInfo("Asia/Jakarta")
T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # Monday 10:00 WIB


@pytest.fixture
async def fake_tg():
    with FakeBotApi() as api:
        yield api


@pytest.fixture
async def core(db, db_url, fake_tg):
    c = await build_core(
        make_settings(db_url, telegram_bot_token=fake_tg.token, telegram_api_url=fake_tg.url)
    )
    yield c
    await c.close()


async def person(
    core,
    key: str,
    *,
    state: dict,
    completed: list[tuple[str, datetime]] = (),
    in_progress: bool = False,
    stopped: bool = False,
    unreachable: bool = False,
    linked: bool = True,
    chat: int,
) -> tuple[int, int]:
    async with core.db.session() as s:
        a = Alumnus(
            school_id=core.school.id,
            nisn=f"{chat:010d}",
            name=f"{key} Person",
            birth_date=date(2007, 1, 1),
            kelas="XII TKJ 1",
            jurusan="TKJ",
            graduation_year=2025,
            consent_vacancies=True,
            stopped_at=T0 if stopped else None,
        )
        s.add(a)
        await s.flush()
        c = Contact(
            channel="telegram",
            address=str(chat),
            alumnus_id=a.id if linked else None,
            state=state,
            last_inbound_at=T0,
            created_at=T0 - timedelta(hours=1),
            unreachable_at=T0 if unreachable else None,
        )
        s.add(c)
        await s.flush()
        for status, when in completed:
            s.add(
                Response(
                    alumnus_id=a.id,
                    contact_id=c.id,
                    channel="telegram",
                    status=status,
                    started_at=when,
                    completed_at=when,
                )
            )
        if in_progress:
            r = Response(alumnus_id=a.id, contact_id=c.id, channel="telegram", started_at=T0)
            s.add(r)
            await s.flush()
            c.response_id = r.id
        await s.commit()
        return a.id, c.id


def q_state(name: str) -> dict:
    return {
        "v": 1,
        "stage": "q",
        "lang": "id",
        "node": "B1",
        "history": [],
        "answers": {},
        "multi": [],
        "alumnus": {"id": 0, "name": name, "kelas": "XII TKJ 1", "year": 2025},
    }


def done_state(name: str, aid: int) -> dict:
    return {
        "v": 1,
        "stage": "done",
        "lang": "id",
        "history": ["B1"],
        "answers": {"status": "mencari_kerja"},
        "alumnus": {"id": aid, "name": name, "kelas": "XII TKJ 1", "year": 2025},
    }


async def plan(core, now: datetime):
    return await plan_due(
        core.db,
        school_id=core.school.id,
        school_name=core.school.name,
        flow=core.flow,
        settings=core.settings,
        zone=ZONE,
        now=now,
    )


async def rows(core, purpose: str) -> list[OutboxMessage]:
    async with core.db.session() as s:
        return list(
            (
                await s.execute(
                    select(OutboxMessage)
                    .where(OutboxMessage.purpose == purpose)
                    .order_by(OutboxMessage.id)
                )
            ).scalars()
        )


async def test_reminder_schedule_cap_quiet_hours_and_stop(core):
    a, ca = await person(core, "Ani", state=q_state("Ani"), in_progress=True, chat=11)
    await person(core, "Budi", state={"stage": "done"}, completed=[("bekerja", T0)], chat=12)
    await person(core, "Cici", state=q_state("Cici"), stopped=True, chat=13)
    await person(core, "Dodi", state=q_state("Dodi"), unreachable=True, chat=14)
    await person(core, "Eka", state={"stage": "consent"}, linked=False, chat=15)
    f, cf = await person(core, "Fajar", state=q_state("Fajar"), chat=16)

    assert (await plan(core, T0 + timedelta(days=2, hours=23))).reminders == 0
    day3 = T0 + timedelta(days=3)
    assert (await plan(core, day3)).reminders == 2  # Ani and Fajar
    assert (await plan(core, day3 + timedelta(hours=1))).reminders == 0  # idempotent
    got = await rows(core, "reminder")
    assert {r.address for r in got} == {"11", "16"}
    ani = next(r for r in got if r.address == "11")
    assert ani.not_before == day3
    assert "Ani" in ani.payload["text"] and "Apa kegiatan utama Anda" in ani.payload["text"]
    assert ani.payload["question"] == "B1" and len(ani.payload["options"]) == 6

    # Fajar sends STOP: nothing more for him
    async with core.db.session() as s:
        (await s.get(Alumnus, f)).stopped_at = day3
        await s.commit()
    assert (await plan(core, T0 + timedelta(days=5))).reminders == 0
    # day 7, but at 21:00 WIB: planned, due at 07:00 the next morning
    night7 = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # 21:00 WIB, day 7
    assert (await plan(core, night7)).reminders == 1
    second = (await rows(core, "reminder"))[-1]
    assert second.address == "11"
    assert second.not_before == datetime(2026, 3, 10, 0, 0, tzinfo=UTC)  # 07:00 WIB
    assert (await plan(core, T0 + timedelta(days=14))).reminders == 1
    assert (await plan(core, T0 + timedelta(days=30))).reminders == 0  # cap: 3
    assert (await plan(core, T0 + timedelta(days=300))).reminders == 0
    assert len([r for r in await rows(core, "reminder") if r.address == "11"]) == 3


async def test_answering_resets_the_reminder_clock_and_finishing_ends_it(core):
    a, ca = await person(core, "Gita", state=q_state("Gita"), in_progress=True, chat=21)
    assert (await plan(core, T0 + timedelta(days=3))).reminders == 1
    async with core.db.session() as s:  # she wrote on day 4
        (await s.get(Contact, ca)).last_inbound_at = T0 + timedelta(days=4)
        await s.commit()
    assert (await plan(core, T0 + timedelta(days=7))).reminders == 0  # 7 days after day 4
    assert (await plan(core, T0 + timedelta(days=11))).reminders == 1
    async with core.db.session() as s:  # she finished
        s.add(
            Response(
                alumnus_id=a,
                channel="telegram",
                status="bekerja",
                completed_at=T0 + timedelta(days=12),
            )
        )
        await s.commit()
    assert (await plan(core, T0 + timedelta(days=40))).reminders == 0


async def test_followups_reopen_status_and_a_status_change_ends_them(core, fake_tg):
    h, ch = await person(core, "Hadi", state={}, completed=[("mencari_kerja", T0)], chat=31)
    i, ci = await person(core, "Indah", state={}, completed=[("mencari_kerja", T0)], chat=32)
    await person(core, "Joko", state={"stage": "done"}, completed=[("bekerja", T0)], chat=33)
    async with core.db.session() as s:
        (await s.get(Contact, ch)).state = done_state("Hadi Person", h)
        (await s.get(Contact, ci)).state = done_state("Indah Person", i)
        await s.commit()
    assert (await plan(core, T0 + timedelta(days=89))).followups == 0
    day90 = T0 + timedelta(days=90)
    assert (await plan(core, day90)).followups == 2
    assert (await plan(core, day90)).followups == 0

    telegram = make_telegram(core)
    await telegram.application.initialize()
    try:
        clock = FixedClock(day90)
        dispatcher = build_dispatcher(core, {"telegram": telegram}, clock=clock)
        stats = await dispatcher.dispatch_due()
        assert stats.sent == 2, stats
        text = fake_tg.texts(31)[-1]
        assert "Hadi" in text and "Apa kegiatan utama Anda sekarang?" in text
        assert len(fake_tg.last_keyboard(31)) == 6
        async with core.db.session() as s:
            contact = await s.get(Contact, ch)
            assert contact.state["stage"] == "q" and contact.state["node"] == "B1"
            assert contact.response_id is not None
            assert (await s.get(Response, contact.response_id)).completed_at is None
        # Hadi answers through the real shell: working now, with history kept
        for answer in (
            "kerja",
            "PT Baru",
            "Teknisi",
            "swasta",
            "2",
            "05/2026",
            "pkl",
            "lewati",
            "sesuai",
            "lewati",
        ):
            await core.service.handle(
                Inbound(channel="telegram", address="31", kind=InputKind.TEXT, text=answer)
            )
        async with core.db.session() as s:
            done = (
                (
                    await s.execute(
                        select(Response)
                        .where(Response.alumnus_id == h, Response.completed_at.is_not(None))
                        .order_by(Response.id)
                    )
                )
                .scalars()
                .all()
            )
        assert [r.status for r in done] == ["mencari_kerja", "bekerja"]
        # 180 days: Indah (no answer, still seeking) is asked again; Hadi is not
        clock.now = T0 + timedelta(days=180)
        assert (await plan(core, clock.now)).followups == 1
        await dispatcher.dispatch_due()
        assert len(fake_tg.texts(32)) == 2 and len(fake_tg.texts(31)) == 1
    finally:
        await telegram.application.shutdown()


def test_quiet_hours():
    start, end = time(20, 0), time(7, 0)
    at = lambda h, m=0: datetime(2026, 3, 2, h, m, tzinfo=ZONE).astimezone(UTC)  # noqa: E731
    assert not in_quiet_hours(at(19, 59), ZONE, start, end)
    assert in_quiet_hours(at(20, 0), ZONE, start, end)
    assert in_quiet_hours(at(6, 59), ZONE, start, end)
    assert not in_quiet_hours(at(7, 0), ZONE, start, end)
    assert next_allowed(at(23, 0), ZONE, start, end) == datetime(2026, 3, 3, 7, 0, tzinfo=ZONE)
    assert next_allowed(at(3, 0), ZONE, start, end) == datetime(2026, 3, 2, 7, 0, tzinfo=ZONE)
    assert next_allowed(at(12, 0), ZONE, start, end) == at(12, 0)


async def test_a_failing_kind_does_not_stop_the_others(core, caplog):
    """Reminders cannot be planned (a schedule the planner cannot read: settings built
    without validation); follow-ups and vacancy closing still run, the failure is logged and
    counted in the metrics."""
    from bot import metrics

    await person(core, "Ani", state=q_state("Ani"), in_progress=True, chat=41)
    h, ch = await person(core, "Hadi", state={}, completed=[("mencari_kerja", T0)], chat=42)
    async with core.db.session() as s:
        (await s.get(Contact, ch)).state = done_state("Hadi Person", h)
        await s.commit()
    broken = core.settings.model_copy(update={"reminder_days": "3;7;14"})
    errors_before = metrics.PLANNER_RUNS.get(kind="reminders", outcome="error")
    ok_before = metrics.PLANNER_RUNS.get(kind="followups", outcome="ok")
    with caplog.at_level("ERROR", logger="bot.outreach.planner"):
        result = await plan_due(
            core.db,
            school_id=core.school.id,
            school_name=core.school.name,
            flow=core.flow,
            settings=broken,
            zone=ZONE,
            now=T0 + timedelta(days=90),
        )
    assert result.errors == ["reminders"]
    assert result.reminders == 0 and result.followups == 1
    assert await rows(core, "followup") and not await rows(core, "reminder")
    assert "planning of reminders failed" in caplog.text
    assert metrics.PLANNER_RUNS.get(kind="reminders", outcome="error") == errors_before + 1
    assert metrics.PLANNER_RUNS.get(kind="followups", outcome="ok") == ok_before + 1
    # with a readable schedule the same pass plans the reminder too
    assert (await plan(core, T0 + timedelta(days=90))).reminders == 1


async def test_reminders_are_per_graduate_not_per_chat(core):
    """A graduate with unfinished chats on Telegram and WhatsApp gets at most REMINDER_MAX
    reminders in all, on the chat holding the unfinished response, timed from their last
    message on either chat."""
    a, tg = await person(core, "Rani", state=q_state("Rani"), in_progress=True, chat=51)
    async with core.db.session() as s:
        wa = Contact(
            channel="whatsapp",
            address="6281200000051",
            alumnus_id=a,
            state=q_state("Rani"),  # also at the status question there, no response of its own
            last_inbound_at=T0 - timedelta(hours=2),
            created_at=T0 - timedelta(hours=3),
        )
        s.add(wa)
        await s.commit()
        wa_id = wa.id
    assert (await plan(core, T0 + timedelta(days=3))).reminders == 1
    for day in (7, 14, 30, 60):
        await plan(core, T0 + timedelta(days=day))
    got = await rows(core, "reminder")
    assert len(got) == 3
    assert {(r.channel, r.contact_id) for r in got} == {("telegram", tg)}
    assert [r.idempotency_key.rsplit(":", 1)[1] for r in got] == ["1", "2", "3"]

    # the response moves to WhatsApp (she continued there); she wrote there on day 70:
    # that restarts her clock, and the reminders of that pass go to WhatsApp
    async with core.db.session() as s:
        r = Response(alumnus_id=a, contact_id=wa_id, channel="whatsapp", started_at=T0)
        s.add(r)
        await s.flush()
        tg_contact, wa_contact = await s.get(Contact, tg), await s.get(Contact, wa_id)
        tg_contact.response_id = None
        wa_contact.response_id = r.id
        wa_contact.last_inbound_at = T0 + timedelta(days=70)
        await s.commit()
    assert (await plan(core, T0 + timedelta(days=72))).reminders == 0  # 2 days after
    assert (await plan(core, T0 + timedelta(days=73))).reminders == 1
    assert (await rows(core, "reminder"))[-1].channel == "whatsapp"


async def test_without_an_unfinished_response_the_most_recent_chat_is_reminded(core):
    a, tg = await person(core, "Sari", state=q_state("Sari"), chat=61)  # active at T0
    async with core.db.session() as s:
        s.add(
            Contact(
                channel="whatsapp",
                address="6281200000061",
                alumnus_id=a,
                state=q_state("Sari"),
                last_inbound_at=T0 + timedelta(hours=1),  # her latest message
            )
        )
        await s.commit()
    assert (await plan(core, T0 + timedelta(days=3))).reminders == 0  # 3 days after T0+1h
    assert (await plan(core, T0 + timedelta(days=3, hours=1))).reminders == 1
    (row,) = await rows(core, "reminder")
    assert row.channel == "whatsapp" and row.address == "6281200000061"


async def test_reminders_planned_per_chat_before_the_upgrade_count_toward_the_cap(core):
    a, c = await person(core, "Tono", state=q_state("Tono"), chat=71)
    async with core.db.session() as s:
        alumnus, contact = await s.get(Alumnus, a), await s.get(Contact, c)
        await outbox.enqueue(
            s,
            [
                {
                    "school_id": alumnus.school_id,
                    "purpose": "reminder",
                    "idempotency_key": f"reminder:{c}:0:{n}",  # the old per-chat key
                    "alumnus_id": a,
                    "contact_id": c,
                    "channel": contact.channel,
                    "address": contact.address,
                    "payload": {"text": "x"},
                    "status": "sent",
                }
                for n in (1, 2)
            ],
        )
        await s.commit()
    assert (await plan(core, T0 + timedelta(days=14))).reminders == 1
    assert (await rows(core, "reminder"))[-1].idempotency_key == f"reminder:a{a}:0:3"
    assert (await plan(core, T0 + timedelta(days=60))).reminders == 0
