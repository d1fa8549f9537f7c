"""A direct reply on WhatsApp that Meta refuses for a while (130429 throughput, 131056 pair
rate, HTTP 5xx) is retried within the person's chain, so their next message waits; when it
still fails, the rest of the replies go to the outbox (purpose `reply`) and leave later, in
order. Permanent failures (131026 unreachable, a bad request) behave as before: no retry.

End to end: the process `jejak run` starts, signed webhooks on its real endpoint, the fake
Graph API's fault injection, and the running scheduler's dispatcher for the handed-over rows.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, timedelta

import pytest
from sqlalchemy import select

from conversations.types import Reply
from storage.models import OutboxMessage, utcnow
from tests.fakes.graph_api import FakeGraphApi, inbound_text
from tests.harness import (
    RunningBot,
    WhatsAppChat,
    is_our_error,
    make_settings,
    whatsapp_overrides,
)

pytestmark = pytest.mark.postgres

ADI_WA = "6281234567801"  # Adi Pratama on the sample roster (no_hp 0812-3456-7801)
BUNGA_WA = "6281322223302"  # Bunga Lestari
STATUS_QUESTION = "Apa kegiatan utama Anda sekarang?"


@pytest.fixture
async def graph():
    async with FakeGraphApi() as api:
        yield api


@pytest.fixture
async def bot(graph, db_url, db, caplog):
    caplog.set_level(logging.WARNING)
    under_test = RunningBot(make_settings(db_url, **whatsapp_overrides(graph)))
    await under_test.start()
    yield under_test
    await under_test.stop()
    errors = [r.getMessage() for r in caplog.records if is_our_error(r)]
    assert errors == [], errors


Shown = list[tuple[str, tuple[str, ...], tuple[str, ...]]]


def shown(graph: FakeGraphApi, wa_id: str, since: int = 0) -> Shown:
    """What the person has on screen, in order: each delivered message's text, buttons and
    list rows."""
    return [
        (c.text or "", tuple(c.button_titles), tuple(r["title"] for r in c.list_rows))
        for c in graph.sent(wa_id)[since:]
    ]


async def at_status_question(chat: WhatsAppChat, dob: str) -> int:
    """Consent, birth date, vacancy consent: the person is at the status question. Returns the
    number of messages they got so far."""
    await chat.send("Halo")
    await chat.tap("Setuju")
    await chat.send(dob)
    assert STATUS_QUESTION in await chat.tap("Ya")
    return len(chat.api.sent(chat.wa_id))


async def reference(bot: RunningBot, graph: FakeGraphApi) -> Shown:
    """BANTUAN at the status question answers with two replies (the commands, then the
    question again, as a list): what Bunga sees without any fault."""
    chat = WhatsAppChat(bot, graph, BUNGA_WA, name="Bunga")
    seen = await at_status_question(chat, "02/11/2007")
    await chat.send("BANTUAN")
    return shown(graph, BUNGA_WA, seen)


async def outbox_rows(bot: RunningBot) -> list[OutboxMessage]:
    async with bot.core.db.session() as s:
        rows = await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))
        return list(rows.scalars().all())


async def settled_outbox(bot: RunningBot, timeout: float = 5.0) -> list[OutboxMessage]:
    """The outbox rows once none is pending or sending (the dispatcher records an outcome
    right after the fake API answered)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = await outbox_rows(bot)
        if all(r.status not in ("pending", "sending") for r in rows):
            return rows
        assert asyncio.get_running_loop().time() < deadline, [(r.id, r.status) for r in rows]
        await asyncio.sleep(0.05)


async def test_help_is_two_replies(bot, graph):
    """The premise of the tests below: a failure of the second reply comes after the first
    one was delivered."""
    expected = await reference(bot, graph)
    assert len(expected) == 2
    assert STATUS_QUESTION in expected[1][0] and "Bekerja" in expected[1][2]


async def test_throttled_reply_is_retried_after_the_suggested_delay(bot, graph):
    """130429 without a Retry-After header: retried after the code's base delay (2 s)."""
    expected = await reference(bot, graph)
    chat = WhatsAppChat(bot, graph, ADI_WA)
    seen = await at_status_question(chat, "14/03/2007")
    graph.fail_next(1, 130429, to=ADI_WA)
    await chat.send("BANTUAN")
    assert shown(graph, ADI_WA, seen) == expected
    assert len(graph.errors(130429)) == 1
    assert "perusahaan" in await chat.tap("bekerja")  # the next step as usual
    assert await outbox_rows(bot) == []


@pytest.mark.parametrize(
    ("code", "status"),
    [(130429, None), (131056, None), (None, 500)],
    ids=["130429", "131056", "http500"],
)
@pytest.mark.parametrize("after", [0, 1], ids=["first-reply", "second-reply"])
async def test_transient_failures_are_retried_in_order_exactly_once(
    bot, graph, code, status, after
):
    expected = await reference(bot, graph)
    chat = WhatsAppChat(bot, graph, ADI_WA)
    seen = await at_status_question(chat, "14/03/2007")
    graph.fail_next(2, code, status=status, to=ADI_WA, retry_after=0.05, after=after)
    await chat.send("BANTUAN")
    assert shown(graph, ADI_WA, seen) == expected  # every message, in order, once
    assert len(graph.errors()) == 2
    assert "perusahaan" in await chat.tap("bekerja")
    assert await outbox_rows(bot) == []


async def test_the_next_message_waits_for_the_retries_of_the_previous_one(bot, graph):
    """Two messages in a row: the second is handled only after the first one's replies are
    out (one chain per person), so its reply comes after them."""
    expected = await reference(bot, graph)
    chat = WhatsAppChat(bot, graph, ADI_WA)
    seen = await at_status_question(chat, "14/03/2007")
    graph.fail_next(2, 130429, to=ADI_WA, retry_after=0.3, after=1)
    await chat.post(chat.envelope(inbound_text(ADI_WA, "BANTUAN")))
    await chat.send("1")
    got = shown(graph, ADI_WA, seen)
    assert got[:2] == expected
    assert len(got) == 3 and "perusahaan" in got[2][0]


async def test_replies_still_failing_go_to_the_outbox_and_arrive_in_order(bot, graph):
    """The retries in the chain run out: the failed reply goes to the outbox and the
    dispatcher sends it (after one more failure here); a message written meanwhile is
    answered after it, through the outbox too; then replies are direct again."""
    expected = await reference(bot, graph)
    chat = WhatsAppChat(bot, graph, ADI_WA)
    seen = await at_status_question(chat, "14/03/2007")
    # 3 attempts in the chain + 1 by the dispatcher; then it goes through
    graph.fail_next(4, 130429, to=ADI_WA, retry_after=0.5, after=1)
    await chat.send("BANTUAN")
    assert shown(graph, ADI_WA, seen) == expected[:1]  # the reply delivered before
    rows = await outbox_rows(bot)
    assert [(r.purpose, r.status) for r in rows] == [("reply", "pending")]
    assert len(graph.errors(130429)) == 3
    # the person types meanwhile: the reply to it queues behind the one still waiting
    await chat.deliver(inbound_text(ADI_WA, "1"), expect_reply=False)
    assert len(await outbox_rows(bot)) == 2
    await graph.await_messages(ADI_WA, n=seen + 3, timeout=20)  # the scheduler sends them
    got = shown(graph, ADI_WA, seen)
    assert got[:2] == expected
    assert len(got) == 3 and "perusahaan" in got[2][0]
    rows = await settled_outbox(bot)
    assert [(r.purpose, r.status, r.attempts) for r in rows] == [
        ("reply", "sent", 2),
        ("reply", "sent", 1),
    ]
    assert [r.payload for r in rows] == [{}, {}]  # the texts are not kept
    # the queue has drained: the next reply is direct again
    assert "jabatan" in (await chat.send("PT Maju Jaya")).lower()
    assert len(await outbox_rows(bot)) == 2


async def test_an_unreachable_number_is_not_retried(bot, graph):
    chat = WhatsAppChat(bot, graph, ADI_WA)
    await at_status_question(chat, "14/03/2007")
    graph.fail_recipient(ADI_WA, 131026)
    await chat.deliver(inbound_text(ADI_WA, "BANTUAN"), expect_reply=False)
    assert len(graph.errors(131026)) == 1
    assert (await bot.contact("whatsapp", ADI_WA)).unreachable_at is not None
    assert await outbox_rows(bot) == []


async def test_a_refused_message_is_not_retried(bot, graph):
    """A permanent error (code 100, bad request) for one message: no retry, no outbox row, and
    the replies after it are not sent (as before)."""
    chat = WhatsAppChat(bot, graph, ADI_WA)
    seen = await at_status_question(chat, "14/03/2007")
    graph.fail_next(1, 100, to=ADI_WA)
    await chat.deliver(inbound_text(ADI_WA, "BANTUAN"), expect_reply=False)
    assert len(graph.errors(100)) == 1
    assert shown(graph, ADI_WA, seen) == []
    assert await outbox_rows(bot) == []


async def test_a_long_reply_resumes_after_the_messages_already_delivered(bot, graph):
    """A reply that takes two messages fails at the second: the retry sends only the second."""
    await WhatsAppChat(bot, graph, ADI_WA).send("Halo")
    seen = len(graph.sent(ADI_WA))
    long_text = "\n\n".join(f"Paragraf {i}: " + "x" * 900 for i in range(6))
    graph.fail_next(1, 131056, to=ADI_WA, retry_after=0.05, after=1)
    await bot.running.whatsapp.reply(ADI_WA, [Reply(long_text)], key="wamid.LONG")
    texts = graph.texts(ADI_WA)[seen:]
    assert len(texts) == 2 and "\n\n".join(texts) == long_text
    assert len(graph.errors(131056)) == 1


async def test_a_long_suggested_delay_goes_to_the_outbox_at_once(bot, graph):
    """131048 (spam rate limit) asks for an hour: the chain does not wait for it."""
    chat = WhatsAppChat(bot, graph, ADI_WA)
    seen = await at_status_question(chat, "14/03/2007")
    started = asyncio.get_running_loop().time()
    graph.fail_next(1, 131048, to=ADI_WA)
    await chat.deliver(inbound_text(ADI_WA, "BANTUAN"), expect_reply=False)
    assert asyncio.get_running_loop().time() - started < 5
    assert shown(graph, ADI_WA, seen) == [] and len(graph.errors(131048)) == 1
    rows = await outbox_rows(bot)
    assert [(r.purpose, r.status) for r in rows] == [("reply", "pending")] * 2
    due = [r.not_before if r.not_before.tzinfo else r.not_before.replace(tzinfo=UTC) for r in rows]
    assert all(when > utcnow() + timedelta(minutes=50) for when in due)


async def test_stopping_hands_a_waiting_retry_to_the_outbox(bot, graph):
    """Shutdown does not wait out a retry delay: the replies are queued for after the restart."""
    chat = WhatsAppChat(bot, graph, ADI_WA)
    seen = await at_status_question(chat, "14/03/2007")
    graph.fail_next(1, 130429, to=ADI_WA, retry_after=20)
    await chat.post(chat.envelope(inbound_text(ADI_WA, "BANTUAN")))
    await graph.await_for(lambda: graph.errors(130429), timeout=5)
    started = asyncio.get_running_loop().time()
    await bot.running.whatsapp.stop()
    assert asyncio.get_running_loop().time() - started < 5
    assert shown(graph, ADI_WA, seen) == []
    rows = await outbox_rows(bot)
    assert [(r.purpose, r.status) for r in rows] == [("reply", "pending")] * 2
