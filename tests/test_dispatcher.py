"""The dispatcher against the fake Bot API (real python-telegram-bot) and the fake Graph API
(real WhatsAppClient): pacing within Telegram's limits, recovery from 429/403/5xx, the
crash rule, WhatsApp's 24-hour rule and its error codes."""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.app import build_core
from bot.channels.whatsapp_api import WhatsAppClient
from bot.outreach.dispatcher import build_dispatcher
from bot.runner import make_telegram
from storage import outbox
from storage.models import Alumnus, Contact, OutboxMessage, utcnow
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.telegram_api import FakeBotApi
from tests.harness import OffsetClock, make_settings

pytestmark = pytest.mark.postgres


@pytest.fixture
async def fake_tg():
    with FakeBotApi() as api:
        yield api


@pytest.fixture
async def core(db, db_url, fake_tg):
    settings = make_settings(
        db_url,
        telegram_bot_token=fake_tg.token,
        telegram_api_url=fake_tg.url,
        quiet_hours_start="00:00",
        quiet_hours_end="00:00",  # no quiet hours in these tests
        outbox_max_attempts=3,
    )
    c = await build_core(settings)
    yield c
    await c.close()


@pytest.fixture
async def telegram(core):
    channel = make_telegram(core)
    await channel.application.initialize()
    yield channel
    await channel.application.shutdown()


_serial = itertools.count()


async def add_people(core, n: int, channel: str = "telegram", **contact) -> list[tuple[int, int]]:
    """n alumni with one contact each; returns [(alumnus_id, contact_id)]."""
    out = []
    start = len([a for a in await _all_addresses(core, channel)])
    async with core.db.session() as s:
        for i in range(n):
            a = Alumnus(
                school_id=core.school.id,
                nisn=f"{next(_serial):010d}",
                name=f"Person {i}",
                birth_date=datetime(2007, 1, 1).date(),
                kelas="XII TKJ 1",
                jurusan="TKJ",
                graduation_year=2025,
            )
            s.add(a)
            await s.flush()
            k = start + i
            address = str(1000 + k) if channel == "telegram" else f"6281{k:08d}"
            c = Contact(channel=channel, address=address, alumnus_id=a.id, state={}, **contact)
            s.add(c)
            await s.flush()
            out.append((a.id, c.id))
        await s.commit()
    return out


async def _all_addresses(core, channel: str) -> list[str]:
    async with core.db.session() as s:
        return list(
            (await s.execute(select(Contact.address).where(Contact.channel == channel))).scalars()
        )


async def queue(core, people, purpose="notice", tag="t", **payload) -> None:
    async with core.db.session() as s:
        rows = []
        for aid, cid in people:
            contact = await s.get(Contact, cid)
            rows.append(
                {
                    "school_id": core.school.id,
                    "purpose": purpose,
                    "idempotency_key": f"{tag}:{cid}",
                    "alumnus_id": aid,
                    "contact_id": cid,
                    "channel": contact.channel,
                    "address": contact.address,
                    "payload": {"text": payload.get("text", f"Halo {tag}"), **payload},
                }
            )
        await outbox.enqueue(s, rows)
        await s.commit()


async def statuses(core) -> dict[str, int]:
    async with core.db.session() as s:
        rows = (await s.execute(select(OutboxMessage.status))).scalars().all()
    out: dict[str, int] = {}
    for st in rows:
        out[st] = out.get(st, 0) + 1
    return out


async def drain(dispatcher, clock: OffsetClock | None = None, rounds: int = 20) -> None:
    """Dispatch until nothing is pending (retries are made due by jumping the clock)."""
    for _ in range(rounds):
        await dispatcher.dispatch_due()
        async with dispatcher.db.session() as s:
            left = (
                await s.execute(select(OutboxMessage.id).where(OutboxMessage.status == "pending"))
            ).first()
        if left is None:
            return
        if clock is not None:
            clock.jump(seconds=30)
        else:
            await asyncio.sleep(0.5)
    raise AssertionError("outbox did not drain")


def _why_429(api: FakeBotApi) -> list[str]:
    calls = [c for c in api.calls() if c.method == "sendMessage"]
    out = []
    for c in calls:
        if c.status == 429:
            window = [x for x in calls if x.ok and c.time - 1.0 < x.time <= c.time]
            chat = [round(x.time - c.time, 3) for x in calls if x.chat_id == c.chat_id]
            out.append(f"chat {c.chat_id}: {len(window)} in the last second; chat times {chat}")
    return out


async def test_broadcast_within_telegram_limits(core, telegram, fake_tg):
    """200 recipients + 3 messages to one chat at the fake server's 30/s + 1/s per chat, with
    the bot configured at the same 30/s (the default): no 429 (the last gate's bound holds
    whatever the latency, so CI jitter does not matter)."""
    fake_tg.set_limits(enabled=True, global_per_second=30, per_chat_per_second=1)
    assert core.settings.telegram_rate_per_second == 30
    people = await add_people(core, 200)
    await queue(core, people, tag="a")
    await queue(core, people[:1], tag="b", text="second")
    await queue(core, people[:1], tag="c", text="third")
    dispatcher = build_dispatcher(core, {"telegram": telegram})
    await drain(dispatcher)
    assert fake_tg.stats().get("429", 0) == 0, _why_429(fake_tg)
    assert await statuses(core) == {"sent": 202}
    assert len(fake_tg.messages()) == 202
    assert sorted(int(c.chat_id) for c in fake_tg.messages()) == sorted(
        [1000 + i for i in range(200)] + [1000, 1000]
    )
    # the paced rate: never faster than the limit; not grossly slower (the 95% target is
    # measured by bench/outreach_bench.py, not asserted on a shared CI machine)
    times = sorted(c.time for c in fake_tg.messages() if int(c.chat_id) != 1000)
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 20 <= rate <= 30, rate
    times = [c.time for c in fake_tg.messages(1000)]
    assert all(b - a >= 1.0 for a, b in zip(times, times[1:], strict=False)), times


async def test_recovery_from_429_403_and_5xx(core, telegram, fake_tg):
    people = await add_people(core, 12)
    blocked_aid, blocked_cid = people[3]
    await queue(core, people, tag="a")
    await queue(core, [people[3]], tag="b")  # a second row for the blocked chat: cancelled
    fake_tg.block(1003)
    fake_tg.fail_next(2, status=429, retry_after=1)
    fake_tg.fail_next(2, status=502)
    dispatcher = build_dispatcher(core, {"telegram": telegram})
    await drain(dispatcher)
    st = await statuses(core)
    assert st == {"sent": 11, "unreachable": 1, "cancelled": 1}, st
    delivered = [int(c.chat_id) for c in fake_tg.messages()]
    assert sorted(delivered) == sorted(1000 + i for i in range(12) if i != 3)  # each once
    async with core.db.session() as s:
        contact = await s.get(Contact, blocked_cid)
        assert contact.unreachable_at is not None
        retried = (
            (await s.execute(select(OutboxMessage).where(OutboxMessage.attempts > 1)))
            .scalars()
            .all()
        )
    assert len(retried) >= 2  # the 429s and 5xx were retried, not dropped


async def test_retries_are_bounded(core, telegram, fake_tg):
    people = await add_people(core, 2)
    await queue(core, people, tag="a")
    fake_tg.fail_next(10, status=500, chat_id=1000)
    clock = OffsetClock()
    dispatcher = build_dispatcher(core, {"telegram": telegram}, clock=clock)
    await drain(dispatcher, clock)
    async with core.db.session() as s:
        rows = {r.address: r for r in (await s.execute(select(OutboxMessage))).scalars().all()}
    assert rows["1000"].status == "failed" and rows["1000"].attempts == 3
    assert rows["1001"].status == "sent" and rows["1001"].attempts == 1


async def test_crash_rule_sending_becomes_unknown_and_is_never_resent(core, telegram, fake_tg):
    people = await add_people(core, 3)
    await queue(core, people, tag="a")
    now = utcnow()
    async with core.db.session() as s:
        # row 1: a dead process was mid-send; row 2: a dead process had only leased it
        claimed = await outbox.claim_page(
            s, "dead-worker", now, limit=2, channels=["telegram"], lease=timedelta(seconds=60)
        )
        assert await outbox.mark_sending(s, claimed[0].id, "dead-worker", now)
        await s.commit()
    clock = OffsetClock()
    dispatcher = build_dispatcher(
        core, {"telegram": telegram}, clock=clock, sending_lease=timedelta(minutes=5)
    )
    await dispatcher.dispatch_due()
    # the leased row is not taken before its lease ends; the third row is sent
    assert [int(c.chat_id) for c in fake_tg.messages()] == [1002]
    clock.jump(minutes=6)
    stats = await dispatcher.dispatch_due()
    assert stats.expired_unknown == 1
    assert sorted(int(c.chat_id) for c in fake_tg.messages()) == [1001, 1002]
    assert await statuses(core) == {"sent": 2, "unknown": 1}
    # never resent automatically
    clock.jump(minutes=60)
    await dispatcher.dispatch_due()
    assert len(fake_tg.messages()) == 2
    # the operator decides
    async with core.db.session() as s:
        assert await outbox.resend_unknown(s, clock()) == 1
        await s.commit()
    await dispatcher.dispatch_due()
    assert sorted(int(c.chat_id) for c in fake_tg.messages()) == [1000, 1001, 1002]


async def test_stop_and_closed_vacancy_cancel_at_send_time(core, telegram, fake_tg):
    people = await add_people(core, 2)
    await queue(core, people, tag="a")
    async with core.db.session() as s:
        alumnus = await s.get(Alumnus, people[0][0])
        alumnus.stopped_at = utcnow()
        await s.commit()
    dispatcher = build_dispatcher(core, {"telegram": telegram})
    await dispatcher.dispatch_due()
    assert [int(c.chat_id) for c in fake_tg.messages()] == [1001]
    assert await statuses(core) == {"sent": 1, "cancelled": 1}


# ---- WhatsApp ----------------------------------------------------------------------------
@pytest.fixture
async def fake_wa():
    with FakeGraphApi(enforce_24h=True) as api:
        yield api


async def test_whatsapp_24h_rule_templates_and_errors(core, fake_wa):
    now = utcnow()
    inside = await add_people(core, 2, "whatsapp", last_inbound_at=now - timedelta(hours=1))
    outside = await add_people(core, 1, "whatsapp", last_inbound_at=now - timedelta(days=3))
    for _, cid in inside:
        async with core.db.session() as s:
            fake_wa.note_inbound((await s.get(Contact, cid)).address, now - timedelta(hours=1))
    payload = {
        "text": "Lowongan: Teknisi",
        "options": [{"code": "interest", "label": "Saya berminat", "short": "Saya berminat"}],
        "action": "interest:7",
        "template": {
            "params": ["Teknisi", "PT A", "Bekasi", "01-04-2026"],
            "buttons": ["a:interest:7"],
        },
    }
    await queue(core, inside + outside, purpose="vacancy", tag="v", **payload)
    # the first person's window closed on Meta's side meanwhile: 131047, resent as template
    fake_wa.fail_next(1, 131047, to=f"6281{0:08d}")
    client = WhatsAppClient(fake_wa.url, "PNID", fake_wa.access_token)
    try:
        dispatcher = build_dispatcher(core, {"whatsapp": client})
        await dispatcher.dispatch_due()
    finally:
        await client.aclose()
    sent = {c.to: c for c in fake_wa.sent()}
    assert set(sent) == {f"6281{i:08d}" for i in range(3)}
    assert sent["628100000001"].type == "interactive"
    assert sent["628100000001"].button_ids == ["a:interest:7"]
    assert sent["628100000000"].template_name == "jejak_lowongan"  # after 131047
    assert sent["628100000002"].template_name == "jejak_lowongan"  # outside the window
    assert not [e for e in fake_wa.errors() if e.error_code == 131047 and e.to != "628100000000"]
    assert await statuses(core) == {"sent": 3}


async def test_whatsapp_unreachable_and_throttling(core, fake_wa):
    now = utcnow()
    people = await add_people(core, 3, "whatsapp", last_inbound_at=now - timedelta(hours=1))
    for i in range(3):
        fake_wa.note_inbound(f"6281{i:08d}", now - timedelta(hours=1))
    await queue(core, people, tag="n")
    await queue(core, people[:1], tag="m")
    fake_wa.fail_recipient("628100000000", 131026)
    fake_wa.fail_next(1, 130429, to="628100000001")
    client = WhatsAppClient(fake_wa.url, "PNID", fake_wa.access_token)
    clock = OffsetClock()
    try:
        dispatcher = build_dispatcher(core, {"whatsapp": client}, clock=clock)
        await drain(dispatcher, clock)
    finally:
        await client.aclose()
    assert await statuses(core) == {"sent": 2, "unreachable": 1, "cancelled": 1}
    async with core.db.session() as s:
        contact = await s.get(Contact, people[0][1])
        assert contact.unreachable_at is not None
    assert sorted(c.to for c in fake_wa.sent()) == ["628100000001", "628100000002"]


def test_window_template_is_the_one_rule():
    from bot.outreach.messages import window_template
    from bot.settings import Settings

    settings = Settings(_env_file=None)
    now = datetime(2026, 3, 2, tzinfo=UTC)
    payload = {"template": {"params": ["a"]}}
    assert window_template(settings, "telegram", "vacancy", payload, None, now) is None
    assert (
        window_template(settings, "whatsapp", "vacancy", payload, now - timedelta(hours=2), now)
        is None
    )
    t = window_template(settings, "whatsapp", "reminder", payload, now - timedelta(hours=24), now)
    assert t is not None and t.name == settings.whatsapp_template_reminder
    assert t.parameters == ("a",)
    assert window_template(settings, "whatsapp", "followup", payload, None, now).name == (
        settings.whatsapp_template_followup
    )


# ---- the send schedule -------------------------------------------------------------------
async def test_schedule_spacing_and_pause(db):
    """Slots are spaced 1/(rate x 96%) apart with no gap between reserved blocks, even when
    many tasks wait at once; a pause voids the slots handed out before it (also while tasks
    wait for a block) and the next slot is after it. (The shared limiter on PostgreSQL,
    the in-process one on SQLite.)"""
    from bot.outreach.ratelimit import HEADROOM, make_limiter

    limiter = make_limiter(db, {"telegram": 50})
    step = 1 / (50 * HEADROOM)
    slots = await asyncio.wait_for(
        asyncio.gather(*(limiter.reserve("telegram") for _ in range(40))), 10
    )
    times = sorted(s.at for s in slots)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # (the database -> local clock mapping may tighten by a round trip's jitter between blocks)
    assert min(gaps) >= step - 0.005, gaps
    assert times[-1] - times[0] <= 39 * step + 0.05, "gaps between blocks"
    assert all(limiter.valid(s) for s in slots)

    waiting = [asyncio.create_task(limiter.reserve("telegram")) for _ in range(30)]
    await limiter.pause("telegram", 0.5)
    paused_at = asyncio.get_running_loop().time()
    assert not any(limiter.valid(s) for s in slots)
    after = await asyncio.wait_for(asyncio.gather(*waiting), 10)
    fresh = [s for s in after if limiter.valid(s)]
    assert fresh, "every slot reserved after the pause was voided"
    assert min(s.at for s in fresh) >= paused_at + 0.5 - 0.05


# ---- the scheduler -----------------------------------------------------------------------
async def test_scheduler_stops_cleanly_with_a_dispatch_in_flight(core, telegram, fake_tg, caplog):
    """`jejak run`'s scheduler stopped while its dispatch job is mid-pass: the pass winds down
    (no row left `sending`, what was sent is recorded `sent`, the rest stays pending) and
    nothing is logged at ERROR (APScheduler's "Job ... raised an exception" on a cancelled job,
    our own "job failed")."""
    from bot.outreach.scheduler import Outreach

    core.settings.telegram_rate_per_second = 5  # 20 rows take about 4 s
    people = await add_people(core, 20)
    await queue(core, people, tag="s")
    outreach = Outreach(core, {"telegram": telegram}, plan_every=3600, dispatch_every=0.5)
    caplog.set_level(logging.INFO)
    outreach.start()
    await fake_tg.await_messages(n=3, timeout=15)  # the dispatch job is mid-pass
    started = asyncio.get_running_loop().time()
    await outreach.stop()
    assert asyncio.get_running_loop().time() - started < 3
    assert outreach.scheduler is None
    errors = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    st = await statuses(core)
    assert set(st) == {"sent", "pending"}, st
    assert st["sent"] == len(fake_tg.messages()) and 3 <= st["sent"] < 20
    await asyncio.sleep(1.0)  # and nothing runs after stop
    assert await statuses(core) == st


async def test_per_chat_spacing_holds_across_processes(core, telegram, fake_tg):
    """Two dispatchers (two processes: separate workers and in-process pacers) with rows for the
    same Telegram chat: the second does not send within a second of the first's message
    (claim_page reads contact.last_outbound_at), so the fake's 1/s per chat never answers 429."""
    fake_tg.set_limits(enabled=True, global_per_second=30, per_chat_per_second=1)
    people = await add_people(core, 1)
    await queue(core, people, tag="first")
    first = build_dispatcher(core, {"telegram": telegram}, worker="process-a")
    second = build_dispatcher(core, {"telegram": telegram}, worker="process-b")
    assert (await first.dispatch_due()).sent == 1
    await queue(core, people, tag="second")
    assert (await second.dispatch_due()).sent == 0  # too soon for this chat: left pending
    assert await statuses(core) == {"sent": 1, "pending": 1}
    await asyncio.sleep(1.1)
    assert (await second.dispatch_due()).sent == 1
    times = [c.time for c in fake_tg.messages()]
    assert len(times) == 2 and times[1] - times[0] >= 1.0
    assert fake_tg.stats().get("429", 0) == 0


async def test_a_status_confirmation_is_not_undone_by_a_late_outcome(core):
    """confirm_from_status on a `sending` row, then the same request's late timeout (RETRY):
    the row stays `sent` (a pending row would be sent again). Positive statuses resolve
    sending/unknown/attempted-pending rows only; `failed` only an unknown one."""
    people = await add_people(core, 4, "whatsapp")
    await queue(core, people, tag="w")
    now = utcnow()
    async with core.db.session() as s:
        rows = await outbox.claim_page(
            s, "w1", now, limit=4, channels=["whatsapp"], lease=timedelta(seconds=60)
        )
        ids = [r.id for r in rows]
        for row_id in ids[:3]:
            assert await outbox.mark_sending(s, row_id, "w1", now)
        await s.commit()
    async with core.db.session() as s:
        assert await outbox.confirm_from_status(s, ids[0], "sent", "wamid.A", now) == "sent"
        await outbox.record_retry(s, ids[0], now, error_code="timeout", error="timeout")
        # a failed status for a row whose own request is still in flight: left to it
        assert await outbox.confirm_from_status(s, ids[1], "failed", "wamid.B", now) is None
        # never attempted: a status cannot be ours
        assert await outbox.confirm_from_status(s, ids[3], "sent", "wamid.D", now) is None
        await s.commit()
    async with core.db.session() as s:
        got = {r.id: r for r in (await s.execute(select(OutboxMessage))).scalars()}
    assert got[ids[0]].status == "sent" and got[ids[0]].external_id == "wamid.A"
    assert [got[i].status for i in ids[1:]] == ["sending", "sending", "pending"]
    assert outbox.parse_callback_data(outbox.callback_data(ids[0])) == ids[0]
    assert outbox.parse_callback_data("outbox:x") is None
    assert outbox.parse_callback_data(None) is None


# ---- direct replies handed over by the WhatsApp channel (purpose "reply") ---------------------
async def queue_replies(core, cid: int, texts: list[str], *, due: list[datetime], **extra) -> None:
    """Rows as `WhatsAppChannel` hands them over: no alumnus, the inbound wamid in the key."""
    async with core.db.session() as s:
        contact = await s.get(Contact, cid)
        rows = [
            {
                "school_id": core.school.id,
                "purpose": "reply",
                "idempotency_key": f"reply:wamid.X{cid}:{n}",
                "contact_id": cid,
                "channel": "whatsapp",
                "address": contact.address,
                "payload": {"text": text, **(extra if n == 0 else {})},
                "not_before": when,
            }
            for n, (text, when) in enumerate(zip(texts, due, strict=True))
        ]
        await outbox.enqueue(s, rows)
        await s.commit()


async def test_replies_go_in_order_as_free_text_and_are_not_kept(core, fake_wa):
    """A later reply does not overtake an earlier one of the same chat, even when the earlier
    one is due later (it waits for a retry); none is sent as a template; once sent, the text
    is not kept in the outbox."""
    now = utcnow()
    [(_, cid)] = await add_people(core, 1, "whatsapp", last_inbound_at=now - timedelta(hours=2))
    [(_, other)] = await add_people(core, 1, "whatsapp", last_inbound_at=now)
    address = f"6281{0:08d}"
    fake_wa.note_inbound(address, now - timedelta(hours=2))
    fake_wa.note_inbound(f"6281{1:08d}", now)
    await queue_replies(
        core, cid, ["first", "second"], due=[now + timedelta(minutes=1), now - timedelta(minutes=1)]
    )
    await queue_replies(core, other, ["to someone else"], due=[now])
    client = WhatsAppClient(fake_wa.url, "PNID", fake_wa.access_token)
    clock = OffsetClock()
    try:
        dispatcher = build_dispatcher(core, {"whatsapp": client}, clock=clock)
        await dispatcher.dispatch_due()
        assert fake_wa.texts(address) == []  # "second" waits behind "first"
        assert fake_wa.texts(f"6281{1:08d}") == ["to someone else"]
        clock.jump(minutes=2)
        await drain(dispatcher, clock)
    finally:
        await client.aclose()
    assert fake_wa.texts(address) == ["first", "second"]
    assert all(c.type == "text" for c in fake_wa.sent())
    async with core.db.session() as s:
        rows = (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
    assert [(r.status, r.payload) for r in rows] == [("sent", {})] * 3


async def test_a_reply_past_the_24_hour_window_is_cancelled_not_templated(core, fake_wa):
    """A queued reply whose window has closed (by our clock, or by Meta's 131047) is not sent:
    no template stands in for a questionnaire reply (docs/outreach.md)."""
    now = utcnow()
    [(_, late)] = await add_people(core, 1, "whatsapp", last_inbound_at=now - timedelta(hours=25))
    [(_, meta)] = await add_people(core, 1, "whatsapp", last_inbound_at=now - timedelta(hours=1))
    await queue_replies(core, late, ["late one", "late two"], due=[now, now])
    await queue_replies(core, meta, ["refused"], due=[now])
    fake_wa.fail_next(1, 131047, to=f"6281{1:08d}")
    client = WhatsAppClient(fake_wa.url, "PNID", fake_wa.access_token)
    try:
        dispatcher = build_dispatcher(core, {"whatsapp": client})
        stats = await dispatcher.dispatch_due()
        stats.add(await dispatcher.dispatch_due())  # the second late reply, after the first
    finally:
        await client.aclose()
    assert fake_wa.sent() == []
    assert [c.error_code for c in fake_wa.errors()] == [131047]  # one attempt, no template
    assert stats.cancelled == 3 and stats.templated == 0
    async with core.db.session() as s:
        rows = (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
    assert [(r.status, r.last_error, r.payload) for r in rows] == [
        ("cancelled", "24-hour window closed", {})
    ] * 3


async def test_a_partly_delivered_reply_resumes_after_its_delivered_messages(core, fake_wa):
    """`skip_parts`: the messages of a long reply delivered before it was queued are not sent
    again."""
    now = utcnow()
    [(_, cid)] = await add_people(core, 1, "whatsapp", last_inbound_at=now)
    address = f"6281{0:08d}"
    fake_wa.note_inbound(address, now)
    long_text = "\n\n".join(f"Paragraf {i}: " + "x" * 900 for i in range(6))  # two messages
    await queue_replies(core, cid, [long_text], due=[now], skip_parts=1)
    client = WhatsAppClient(fake_wa.url, "PNID", fake_wa.access_token)
    try:
        await build_dispatcher(core, {"whatsapp": client}).dispatch_due()
    finally:
        await client.aclose()
    [text] = fake_wa.texts(address)
    assert text.startswith("Paragraf 4") and text.endswith("x" * 900)
    assert await statuses(core) == {"sent": 1}


async def test_replies_go_out_in_quiet_hours(db, db_url, fake_wa):
    """Quiet hours hold reminders and vacancies, not the replies someone is waiting for."""
    core = await build_core(
        make_settings(db_url, quiet_hours_start="08:00", quiet_hours_end="20:00")
    )
    try:
        clock = OffsetClock()  # 12:00 in the school's zone (WIB): quiet
        local = clock().astimezone(core.settings.zone)
        clock.offset = local.replace(hour=12, minute=0) - local
        now = clock()
        people = await add_people(core, 2, "whatsapp", last_inbound_at=now)
        for i in range(2):
            fake_wa.note_inbound(f"6281{i:08d}", utcnow())
        await queue_replies(core, people[0][1], ["a reply"], due=[now])
        await queue(core, people[1:], purpose="reminder", tag="r")
        client = WhatsAppClient(fake_wa.url, "PNID", fake_wa.access_token)
        try:
            await build_dispatcher(core, {"whatsapp": client}, clock=clock).dispatch_due()
        finally:
            await client.aclose()
        assert fake_wa.texts() == ["a reply"]
    finally:
        await core.close()


async def test_replies_to_an_unreachable_number_are_dropped_with_their_text(core, fake_wa):
    now = utcnow()
    [(_, cid)] = await add_people(core, 1, "whatsapp", last_inbound_at=now)
    address = f"6281{0:08d}"
    fake_wa.fail_recipient(address, 131026)
    await queue_replies(core, cid, ["first", "second"], due=[now, now])
    client = WhatsAppClient(fake_wa.url, "PNID", fake_wa.access_token)
    try:
        stats = await build_dispatcher(core, {"whatsapp": client}).dispatch_due()
    finally:
        await client.aclose()
    assert (stats.unreachable, stats.cancelled) == (1, 1)
    assert len(fake_wa.errors(131026)) == 1
    async with core.db.session() as s:
        rows = (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
    assert [(r.status, r.payload) for r in rows] == [("unreachable", {}), ("cancelled", {})]
