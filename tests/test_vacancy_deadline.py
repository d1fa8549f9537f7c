"""A vacancy's deadline, in the school's own zone (here WIT, Asia/Jayapura), end to end:

- a vacancy message still queued when the school's local date is past the deadline is not
  sent: the real dispatcher cancels it (visible in `jejak outreach status` and the metrics);
- the planning pass (the scheduler's `plan` job) closes vacancies past their deadline;
- a "Saya berminat" tap after the deadline is answered "closed" and not recorded;
- publishing on the deadline day once no message may leave before it ends (quiet hours) is
  refused, by the CLI's function and by /lowongan's deadline step.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import metrics
from bot.app import build_core
from bot.outreach.dispatcher import build_dispatcher
from bot.outreach.planner import plan_due, publish_vacancy
from bot.runner import make_telegram
from bot.vacancy_hooks import install as install_vacancy_hooks
from conversations.types import Inbound, InputKind
from storage import outbox, vacancies
from storage import staff as staff_store
from storage.models import Alumnus, Contact, OutboxMessage, Response, Vacancy, VacancyInterest
from tests.fakes.telegram_api import FakeBotApi
from tests.harness import FixedClock, make_settings

pytestmark = pytest.mark.postgres
WIT = ZoneInfo("Asia/Jayapura")
DEADLINE = date(2026, 11, 28)


def wit(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=WIT).astimezone(UTC)


@pytest.fixture
async def fake_tg():
    with FakeBotApi() as api:
        yield api


@pytest.fixture
async def core(db, db_url, fake_tg):
    c = await build_core(
        make_settings(
            db_url,
            timezone="Asia/Jayapura",
            telegram_bot_token=fake_tg.token,
            telegram_api_url=fake_tg.url,
        )
    )
    async with c.db.session() as s:
        for i in range(3):
            a = Alumnus(
                school_id=c.school.id,
                nisn=f"{i:010d}",
                name=f"Pencari {i}",
                birth_date=date(2007, 1, 1),
                kelas="XII TKJ 1",
                jurusan="TKJ",
                graduation_year=2025,
                consent_vacancies=True,
            )
            s.add(a)
            await s.flush()
            s.add(
                Response(
                    alumnus_id=a.id,
                    channel="telegram",
                    status="mencari_kerja",
                    completed_at=wit(20, 10),
                )
            )
            s.add(
                Contact(
                    channel="telegram",
                    address=str(300 + i),
                    alumnus_id=a.id,
                    state={"v": 1, "stage": "done", "lang": "id"},
                    last_inbound_at=wit(20, 10),
                )
            )
        await s.commit()
    c.clock = FixedClock(wit(27, 10))
    install_vacancy_hooks(c, clock=c.clock)
    yield c
    await c.close()


async def new_vacancy(core, deadline: date = DEADLINE) -> int:
    async with core.db.session() as s:
        v = await vacancies.create_vacancy(
            s,
            core.school.id,
            company="PT Papua Jaya",
            position="Teknisi",
            majors=["TKJ"],
            location="Jayapura",
            deadline=deadline,
        )
        await s.commit()
        return v.id


async def publish(core, vacancy_id: int, now: datetime) -> int:
    return await publish_vacancy(
        core.db,
        vacancy_id,
        school_id=core.school.id,
        school_name=core.school.name,
        cat=core.flow.catalogue,
        settings=core.settings,
        zone=WIT,
        now=now,
    )


async def plan(core, now: datetime):
    return await plan_due(
        core.db,
        school_id=core.school.id,
        school_name=core.school.name,
        flow=core.flow,
        settings=core.settings,
        zone=WIT,
        now=now,
    )


async def rows(core) -> list[OutboxMessage]:
    async with core.db.session() as s:
        return list((await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def tap(core, chat: int, vacancy_id: int) -> str:
    outcome = await core.service.handle(
        Inbound("telegram", str(chat), InputKind.ACTION, value=f"interest:{vacancy_id}")
    )
    return "\n".join(r.text for r in outcome.replies)


async def test_a_row_still_queued_after_the_deadline_is_cancelled_not_sent(core, fake_tg):
    vacancy_id = await new_vacancy(core)
    # published at 19:59 WIT on the deadline day: due now, but the bot is down until the
    # next morning (or a slow broadcast runs into the quiet hours)
    assert await publish(core, vacancy_id, wit(28, 19, 59)) == 3
    telegram = make_telegram(core)
    await telegram.application.initialize()
    try:
        clock = FixedClock(wit(29, 7, 0))
        dispatcher = build_dispatcher(core, {"telegram": telegram}, clock=clock)
        stats = await dispatcher.dispatch_due()
    finally:
        await telegram.application.shutdown()
    assert stats.sent == 0 and stats.cancelled == 3, stats
    assert fake_tg.messages() == []
    got = await rows(core)
    assert {(r.status, r.last_error) for r in got} == {("cancelled", "vacancy deadline passed")}
    async with core.db.session() as s:
        assert await outbox.counts(s) == {"vacancy": {"cancelled": 3}}
        assert await outbox.cancelled_reasons(s) == [("vacancy", "vacancy deadline passed", 3)]
    samples = metrics.parse(await metrics.render(core.db))
    assert metrics.sample(samples, "jejak_outbox_messages", status="cancelled") == 3


async def test_on_the_deadline_day_the_row_is_sent(core, fake_tg):
    vacancy_id = await new_vacancy(core)
    assert await publish(core, vacancy_id, wit(27, 22, 30)) == 3  # due 07:00 on the 28th
    assert {r.not_before.replace(tzinfo=UTC) for r in await rows(core)} == {wit(28, 7)}
    telegram = make_telegram(core)
    await telegram.application.initialize()
    try:
        dispatcher = build_dispatcher(core, {"telegram": telegram}, clock=FixedClock(wit(28, 7, 0)))
        stats = await dispatcher.dispatch_due()
    finally:
        await telegram.application.shutdown()
    assert stats.sent == 3, stats
    assert "Batas lamaran: 28-11-2026" in fake_tg.texts(300)[-1]


async def test_the_planner_closes_vacancies_past_their_deadline(core):
    past, today, later = (
        await new_vacancy(core, DEADLINE),
        await new_vacancy(core, date(2026, 11, 29)),
        await new_vacancy(core, date(2026, 12, 5)),
    )
    for vacancy_id in (past, today, later):
        await publish(core, vacancy_id, wit(28, 9))
    # 23:30 WIT on the 28th: still the deadline day there
    assert (await plan(core, wit(28, 23, 30))).closed == 0
    # 00:30 WIT on the 29th (still the 28th in Jakarta: the school's zone counts)
    result = await plan(core, wit(29, 0, 30))
    assert result.closed == 1
    async with core.db.session() as s:
        status = {v.id: v.status for v in (await s.execute(select(Vacancy))).scalars()}
    assert status == {past: "closed", today: "published", later: "published"}
    mine = [r for r in await rows(core) if r.payload["vacancy_id"] == past]
    assert {(r.status, r.last_error) for r in mine} == {("cancelled", "vacancy deadline passed")}
    assert (await plan(core, wit(29, 1))).closed == 0  # once


async def test_a_tap_after_the_deadline_is_answered_closed_and_not_recorded(core):
    vacancy_id = await new_vacancy(core)
    await publish(core, vacancy_id, wit(27, 10))
    core.clock.now = wit(28, 23, 59)  # the deadline day: recorded
    assert "sudah kami catat" in await tap(core, 300, vacancy_id)
    core.clock.now = wit(29, 0, 1)  # the day after, before any planner ran
    out = await tap(core, 301, vacancy_id)
    assert "sudah ditutup" in out and "28-11-2026" in out and "catat" not in out
    await plan(core, wit(29, 0, 2))  # closed by the planner: still closed
    assert "sudah ditutup" in await tap(core, 302, vacancy_id)
    async with core.db.session() as s:
        interests = (await s.execute(select(VacancyInterest))).scalars().all()
    assert len(interests) == 1


async def test_publishing_on_the_deadline_day_needs_a_send_window(core):
    vacancy_id = await new_vacancy(core)
    with pytest.raises(vacancies.DeadlineError, match="quiet hours 20:00-07:00") as err:
        await publish(core, vacancy_id, wit(28, 20, 30))
    assert err.value.reason == "no_window"
    with pytest.raises(vacancies.DeadlineError, match="has passed"):
        await publish(core, vacancy_id, wit(29, 10))
    async with core.db.session() as s:
        assert (await s.get(Vacancy, vacancy_id)).status == "draft"
    assert await rows(core) == []
    assert await publish(core, vacancy_id, wit(28, 19, 0)) == 3  # the evening is still open
    # the day before, late: due at 07:00 on the deadline day, fine
    other = await new_vacancy(core)
    assert await publish(core, other, wit(27, 23, 0)) == 3


async def test_lowongan_refuses_today_once_quiet_hours_began(core):
    async with core.db.session() as s:
        await staff_store.add_staff(s, core.school.id, role="bkk", name="Bu BKK", telegram_id="9")

    async def say(text: str) -> str:
        outcome = await core.service.handle(Inbound("telegram", "9", InputKind.TEXT, text=text))
        return "\n".join(r.text for r in outcome.replies)

    core.clock.now = wit(28, 21, 0)
    for text in ("/lowongan", "PT Papua Jaya", "Teknisi", "TKJ", "Jayapura"):
        await say(text)
    out = await say("28-11-2026")
    assert "jam tenang (20:00–07:00)" in out and "lebih lambat" in out
    assert "Cara melamar" in await say("29-11-2026")
    assert "Kirim ke 3 lulusan" in await say("-")
    # the BKK waits past midnight and past the next evening: the confirmation is refused
    core.clock.now = wit(29, 20, 30)
    out = await say("YA")
    assert "jam tenang" in out
    async with core.db.session() as s:
        assert (await s.execute(select(Vacancy))).scalars().all() == []


def test_outreach_status_lists_cancel_reasons(tmp_path, monkeypatch):
    """`jejak outreach status` shows why messages were cancelled."""
    import asyncio

    from typer.testing import CliRunner

    from bot.cli import _register, app
    from storage import migrate
    from storage.db import Database
    from storage.models import School

    _register()
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path}/s.db"

    async def seed():
        db = Database(url)
        await migrate.upgrade(db)
        async with db.session() as s:
            s.add(School(id=1, npsn="20100001", name="SMK A"))
            await s.flush()
            await outbox.enqueue(
                s,
                [
                    dict(
                        school_id=1,
                        purpose="vacancy",
                        idempotency_key=f"vacancy:1:{i}",
                        channel="telegram",
                        address=str(i),
                        payload={"text": "x"},
                        status="cancelled",
                        last_error="vacancy deadline passed",
                    )
                    for i in range(2)
                ],
            )
            await s.commit()
        await db.dispose()

    asyncio.run(seed())
    result = CliRunner().invoke(
        app,
        ["outreach", "status"],
        env={"DATABASE_URL": url, "SCHOOL_NPSN": "20100001", "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "vacancy deadline passed" in result.output and "Cancelled, by reason" in result.output
