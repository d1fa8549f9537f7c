"""The weekly staff digest with a controlled clock, on the hand-checked report fixture, through
the outbox and the real dispatcher to the fake Bot API and the fake Graph API (SQLite and
PostgreSQL): due at DIGEST_WEEKDAY DIGEST_TIME school time, queued once per staff member per
week however often the planner runs, containing what changed since the week before; on
WhatsApp outside the 24-hour window it goes as the digest template.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.channels.whatsapp_api import WhatsAppClient
from bot.digest import digest_due, plan_digests, week_label
from bot.outreach.dispatcher import build_dispatcher
from bot.outreach.scheduler import Outreach
from storage import staff as staff_store
from storage.models import Alumnus, Contact, OutboxMessage, School, Staff
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.telegram_api import FakeBotApi
from tests.fixtures import reports_fixture
from tests.harness import WA_PHONE_NUMBER_ID, BotUnderTest, make_settings
from tests.test_staff_chat import RPL_2024, TKJ_2024, TKJ_2025

pytestmark = pytest.mark.postgres

WIB = ZoneInfo("Asia/Jakarta")
MONDAY = datetime(2025, 9, 29, 0, 0, tzinfo=UTC)  # Monday 29-09-2025 07:00 WIB
SRI_TG = 9001
BUDI_WA = "6281999000002"  # never wrote: outside the 24-hour window -> template
BKK_WA = "6281999000003"  # wrote an hour before: free text


# ---- when (pure) ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (MONDAY, MONDAY),  # exactly at 07:00 WIB
        (MONDAY - timedelta(minutes=1), MONDAY - timedelta(days=7)),  # 06:59: last week's
        (MONDAY + timedelta(days=6, hours=16), MONDAY),  # Sunday 23:00 WIB
        (MONDAY + timedelta(days=7), MONDAY + timedelta(days=7)),
    ],
)
def test_digest_due_is_the_newest_scheduled_time(now, expected):
    assert digest_due(now, WIB, 0, time(7, 0)) == expected


def test_digest_due_in_another_zone_and_day():
    wita = ZoneInfo("Asia/Makassar")  # UTC+8
    friday = datetime(2025, 10, 3, 7, 30, tzinfo=UTC)  # Friday 15:30 WITA
    assert digest_due(friday, wita, 4, time(15, 30)) == friday
    assert digest_due(friday - timedelta(seconds=1), wita, 4, time(15, 30)) == friday - timedelta(
        days=7
    )
    assert week_label(MONDAY, WIB) == "2025-W40"


# ---- through the outbox ----------------------------------------------------------------------
@pytest.fixture
async def fake_api():
    with FakeBotApi() as api:
        yield api


@pytest.fixture
async def graph():
    async with FakeGraphApi() as api:
        yield api


@pytest.fixture
async def setup(fake_api, graph, db_url, db):
    built = await reports_fixture.build(db)
    bot = BotUnderTest(
        make_settings(db_url, telegram_bot_token=fake_api.token, telegram_api_url=fake_api.url)
    )
    await bot.start(seed=False)
    core = bot.core
    async with core.db.session() as s:
        sid = built.school_id
        sri = await staff_store.add_staff(
            s, sid, role="teacher", name="Bu Sri Wahyuni", telegram_id=str(SRI_TG)
        )
        budi = await staff_store.add_staff(
            s, sid, role="teacher", name="Pak Budi Santoso", whatsapp=BUDI_WA
        )
        rina = await staff_store.add_staff(s, sid, role="bkk", name="Rina BKK", whatsapp=BKK_WA)
        await staff_store.add_staff(s, sid, role="admin", name="Tanpa Chat")  # no chat: skipped
        await staff_store.add_staff(  # a teacher with no class: nothing to report
            s, sid, role="teacher", name="Guru Baru", telegram_id="9009"
        )
        s.add(
            Contact(
                channel="whatsapp",
                address=BKK_WA,
                language="id",
                state={},
                last_inbound_at=MONDAY - timedelta(hours=1),
            )
        )
        await s.commit()
    client = WhatsAppClient(graph.url, WA_PHONE_NUMBER_ID, graph.access_token)
    yield bot, {"sri": sri.id, "budi": budi.id, "rina": rina.id}, client
    await client.aclose()
    await bot.stop()


async def plan(core, now: datetime) -> int:
    return await plan_digests(core.db, flow=core.flow, settings=core.settings, now=now)


async def digest_rows(core) -> list[OutboxMessage]:
    async with core.db.session() as s:
        rows = await s.execute(
            select(OutboxMessage)
            .where(OutboxMessage.purpose == "digest")
            .order_by(OutboxMessage.id)
        )
        return list(rows.scalars())


async def test_weekly_digest_once_per_staff_with_the_changes(setup, fake_api, graph):
    bot, ids, client = setup
    core = bot.core
    assert await plan(core, MONDAY - timedelta(minutes=1)) == 0  # last week's is long past
    assert await plan(core, MONDAY) == 3
    # the job runs again (a second tick, another process, a restart): nothing more
    assert await plan(core, MONDAY) == 0
    assert await plan(core, MONDAY + timedelta(hours=5)) == 0
    rows = await digest_rows(core)
    by_staff = {r.staff_id: r for r in rows}
    assert sorted(by_staff) == sorted(ids.values())
    assert {r.idempotency_key for r in rows} == {f"digest:{i}:2025-W40" for i in ids.values()}

    sri = by_staff[ids["sri"]]
    assert (sri.channel, sri.address) == ("telegram", str(SRI_TG))
    text = sri.payload["text"]
    assert text.startswith("🗓 Ringkasan mingguan untuk Bu Sri Wahyuni (29-09-2025)")
    # what changed since Monday 22-09 07:00 WIB (and before this digest's time)
    assert (
        "Sejak 22-09-2025: 2 jawaban baru\n"
        "• Budi Hartono — Bekerja (memperbarui)\n"
        "• Dewi Anggraini — Wirausaha"
    ) in text
    assert "Sejak 22-09-2025: belum ada jawaban baru." in text  # the 2025 cohort
    assert "Adi Saputra — Bekerja" not in text and "Putri Ayu — Bekerja" not in text
    assert TKJ_2024 in text and TKJ_2025 in text  # and the /ringkasan of each cohort
    assert sri.payload["template"]["params"] == [
        "Bu Sri Wahyuni",
        "XII TKJ 1 2025: 2 dari 3 menjawab, 0 baru; XII TKJ 1 2024: 5 dari 10 menjawab, 2 baru",
    ]
    budi = by_staff[ids["budi"]]
    assert RPL_2024 in budi.payload["text"] and budi.contact_id is None
    rina = by_staff[ids["rina"]]
    assert "• XII TKJ 1: 2 dari 3 menjawab (67%)" in rina.payload["text"]
    assert rina.contact_id is not None

    # the dispatcher sends them: Telegram as text, WhatsApp as text inside the 24-hour window
    # and as the digest template outside it
    senders = {"telegram": bot.telegram, "whatsapp": client}
    stats = await build_dispatcher(core, senders, clock=lambda: MONDAY).dispatch_due()
    assert (stats.sent, stats.templated, stats.failed) == (3, 1, 0)
    (message,) = await fake_api.await_new_messages(SRI_TG, 1, timeout=10)
    assert message.text == text
    (template,) = graph.sent(BUDI_WA)
    assert template.template_name == "jejak_ringkasan"
    params = [p["text"] for p in template.payload["template"]["components"][0]["parameters"]]
    assert params == ["Pak Budi Santoso", "XII RPL 1 2024: 3 dari 5 menjawab, 0 baru"]
    (free,) = graph.sent(BKK_WA)
    assert free.type == "text" and free.text.startswith("🗓 Ringkasan mingguan untuk Rina BKK")

    # sent once: planning and dispatching again the same week changes nothing
    assert await plan(core, MONDAY + timedelta(hours=1)) == 0
    stats = await build_dispatcher(core, senders, clock=lambda: MONDAY).dispatch_due()
    assert stats.sent == 0
    await asyncio.sleep(0.2)
    assert len(fake_api.messages(SRI_TG)) == 1 and len(graph.sent()) == 2

    # next week: Putri answered on 30-09
    next_monday = MONDAY + timedelta(days=7)
    assert await plan(core, next_monday) == 3
    row = next(r for r in await digest_rows(core) if r.idempotency_key.endswith(":2025-W41"))
    assert "Sejak 29-09-2025: 1 jawaban baru\n• Putri Ayu — Bekerja" in row.payload["text"]


async def test_planners_racing_queue_one_digest_each(setup):
    bot, ids, _ = setup
    results = await asyncio.gather(*(plan(bot.core, MONDAY) for _ in range(3)))
    assert sum(results) == 3
    rows = await digest_rows(bot.core)
    assert sorted(r.staff_id for r in rows) == sorted(ids.values())


async def test_outreach_tick_queues_and_sends_the_digest(setup, fake_api, graph):
    bot, ids, client = setup
    clock = lambda: MONDAY + timedelta(minutes=30)  # noqa: E731
    outreach = Outreach(bot.core, {"telegram": bot.telegram, "whatsapp": client}, clock=clock)
    first = await outreach.tick()
    assert first.digests == 3 and first.dispatch.sent == 3
    again = await outreach.tick()
    assert again.digests == 0 and again.dispatch.sent == 0
    assert len(fake_api.messages(SRI_TG)) == 1

    # `jejak run` registers the digest's cron job: hourly at DIGEST_TIME's minute, the planner
    # picks the schools whose local time it is (a real clock here: with one in the past,
    # APScheduler would first walk every missed run of the interval jobs)
    live = Outreach(bot.core, {})  # no senders: nothing leaves while it runs
    scheduler = live.start()
    try:
        job = scheduler.get_job("outreach-digest")
        fields = {f.name: str(f) for f in job.trigger.fields}
        assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("*", "*", "0")
        assert str(job.trigger.timezone) == "Asia/Jakarta"
    finally:
        await live.stop()


async def test_each_school_at_its_own_local_time(setup, fake_api):
    """Two schools in one deployment: SMK Lain is in WITA (UTC+8), so its Monday 07:00 comes
    an hour before SMK Uji's (WIB); each digest speaks of its own school only."""
    bot, ids, _ = setup
    async with bot.core.db.session() as s:
        other = (await s.execute(select(School).where(School.npsn == "20100002"))).scalar_one()
        lain = await staff_store.add_staff(
            s, other.id, role="bkk", name="Bu Lain", telegram_id="9020"
        )
    assert other.timezone == "Asia/Makassar"
    wita_seven = MONDAY - timedelta(hours=1)  # 07:00 WITA = 06:00 WIB
    assert await plan(bot.core, wita_seven - timedelta(minutes=1)) == 0
    assert await plan(bot.core, wita_seven) == 1
    (row,) = await digest_rows(bot.core)
    assert row.staff_id == lain.id and row.school_id == other.id
    text = row.payload["text"]
    assert "• XII TKJ 1: 1 dari 1 menjawab (100%)" in text  # Zaki, SMK Lain's one graduate
    assert "Total: 1 dari 1 menjawab (100%)" in text
    assert await plan(bot.core, MONDAY) == 3  # SMK Uji's staff at 07:00 WIB
    assert await plan(bot.core, MONDAY) == 0


async def test_a_teachers_digest_holds_her_own_cohorts_only(setup):
    """XII TKJ 1 of 2024 had Pak Budi as wali kelas, the 2025 one has Bu Sri: each digest
    holds its teacher's cohorts only; a member named after their chat's display name gets the
    cohort of their code, not the classes of the teacher they are named like."""
    bot, ids, _ = setup
    core = bot.core
    async with core.db.session() as s:
        await s.execute(
            update(Alumnus)
            .where(Alumnus.kelas == "XII TKJ 1", Alumnus.graduation_year == 2024)
            .values(homeroom_teacher="Pak Budi Santoso, S.Kom.")
        )
        await s.commit()
        school_id = (await s.get(Staff, ids["sri"])).school_id
        code = await staff_store.create_invitation(
            s, school_id, role="teacher", kelas=["XII TKJ 1"]
        )
        posing = await staff_store.redeem_invitation(
            s, code.code, "telegram", "9440", display_name="Pak Budi Santoso"
        )
    assert await plan(core, MONDAY) == 4
    by_staff = {r.staff_id: r for r in await digest_rows(core)}
    sri = by_staff[ids["sri"]].payload
    assert TKJ_2025 in sri["text"] and TKJ_2024 not in sri["text"]
    assert "Budi Hartono" not in sri["text"] and "+6281100000006" not in sri["text"]
    assert sri["template"]["params"][1] == "XII TKJ 1 2025: 2 dari 3 menjawab, 0 baru"
    budi = by_staff[ids["budi"]].payload
    assert RPL_2024 in budi["text"] and TKJ_2024 in budi["text"]
    assert TKJ_2025 not in budi["text"] and "Putri Ayu" not in budi["text"]
    other = by_staff[posing.staff.id].payload
    assert TKJ_2025 in other["text"]
    assert TKJ_2024 not in other["text"] and RPL_2024 not in other["text"]
