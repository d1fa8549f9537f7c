"""GET /metrics (Prometheus text format) and /healthz on the running process (`bot.runner.start`
with Telegram long polling against the fake Bot API): the values move with real traffic."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta

import httpx
import pytest

from bot import metrics
from bot.runner import Running, start
from storage.invitations import ensure_invitations
from storage.models import OutboxMessage, utcnow
from storage.roster import import_roster
from tests.fakes.telegram_api import FakeBotApi
from tests.harness import SAMPLE_ROSTER, TelegramChat, make_settings

pytestmark = pytest.mark.postgres

ADI = "0071234501"


# ---- the format ---------------------------------------------------------------------------
async def test_counter_and_histogram_render_in_prometheus_text_format():
    registry = metrics.Registry()
    c = registry.counter("x_total", "Things.", ("channel",))
    h = registry.histogram("x_seconds", "Time.", ("channel",), buckets=(0.1, 1.0))
    c.inc(channel="telegram")
    c.inc(2, channel='we"ird\\')
    h.observe(0.05, channel="telegram")
    h.observe(0.5, channel="telegram")
    h.observe(5.0, channel="telegram")
    text = await registry.render()
    assert "# TYPE x_total counter" in text and "# HELP x_seconds Time." in text
    assert 'x_total{channel="telegram"} 1' in text
    assert 'x_total{channel="we\\"ird\\\\"} 2' in text
    assert 'x_seconds_bucket{channel="telegram",le="0.1"} 1' in text
    assert 'x_seconds_bucket{channel="telegram",le="1"} 2' in text  # cumulative
    assert 'x_seconds_bucket{channel="telegram",le="+Inf"} 3' in text
    assert 'x_seconds_count{channel="telegram"} 3' in text
    parsed = metrics.parse(text)
    assert metrics.sample(parsed, "x_total", channel='we"ird\\') == 2
    assert metrics.sample(parsed, "x_seconds_sum", channel="telegram") == pytest.approx(5.55)
    with pytest.raises(ValueError):
        c.inc(kind="nope")


# ---- on the running process ---------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def fake_api():
    with FakeBotApi() as api:
        yield api


@pytest.fixture
async def running(fake_api, db_url, db):
    settings = make_settings(
        db_url,
        telegram_bot_token=fake_api.token,
        telegram_api_url=fake_api.url,
        http_port=free_port(),
    )
    proc = await start(settings)
    await import_roster(proc.core.db, proc.core.school.id, SAMPLE_ROSTER)
    proc.extras["codes"] = {
        a.nisn: c for a, c in await ensure_invitations(proc.core.db, proc.core.school.id)
    }
    yield proc
    await proc.stop()


async def scrape(proc: Running) -> dict:
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"http://127.0.0.1:{proc.web.port}/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return metrics.parse(resp.text)


def value(samples: dict, name: str, **labels: str) -> float:
    return metrics.sample(samples, name, **labels)


async def test_metrics_move_with_a_conversation(running, fake_api):
    before = await scrape(running)
    chat = TelegramChat(fake_api, 8001)
    await chat.send(f"/start {running.extras['codes'][ADI]}")
    await chat.tap("Setuju")
    await chat.tap("Ya, benar")
    await chat.tap("Ya")
    for step in ("6", "sakit"):
        await chat.send(step)
    assert "Terima kasih" in await chat.send("lewati")
    after = await scrape(running)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("jejak_updates_total", channel="telegram", outcome="processed") == 7
    assert moved("jejak_questionnaire_completions_total", channel="telegram") == 1
    assert moved("jejak_sends_total", channel="telegram", result="sent") >= 7
    assert moved("jejak_send_seconds_count", channel="telegram") >= 7
    assert value(after, "jejak_send_seconds_sum", channel="telegram") > 0
    assert value(after, "jejak_process_start_time_seconds") > 1.6e9


async def eventually(check, timeout: float = 5.0):
    """Poll `check()` (async, returns a truthy value when done) until it holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.05)


async def test_duplicates_and_ignored_updates_are_counted(running, fake_api):
    before = await scrape(running)
    update = fake_api.push_text(8002, f"/start {running.extras['codes'][ADI]}")
    await fake_api.await_new_messages(8002, 1)
    fake_api.push_raw(update)  # a redelivery keeps its update_id
    fake_api.push_edited_message(8002, "edited")  # not for the questionnaire

    def moved(samples: dict, outcome: str) -> float:
        return value(samples, "jejak_updates_total", channel="telegram", outcome=outcome) - value(
            before, "jejak_updates_total", channel="telegram", outcome=outcome
        )

    async def both_counted():
        samples = await scrape(running)
        return samples if moved(samples, "duplicate") and moved(samples, "ignored") else None

    after = await eventually(both_counted)
    assert after is not None
    assert moved(after, "duplicate") == 1 and moved(after, "ignored") == 1
    assert moved(after, "processed") == 1
    assert len(fake_api.messages(8002)) == 1


async def test_429_is_counted_and_the_reply_still_arrives(running, fake_api):
    before = await scrape(running)
    fake_api.fail_next(1, status=429, retry_after=1, chat_id=8003)
    chat = TelegramChat(fake_api, 8003)
    assert "Apakah Anda setuju?" in await chat.send(
        f"/start {running.extras['codes'][ADI]}", timeout=10
    )
    after = await scrape(running)
    assert (
        value(after, "jejak_rate_limited_total", channel="telegram")
        - value(before, "jejak_rate_limited_total", channel="telegram")
        == 1
    )
    assert (
        value(after, "jejak_sends_total", channel="telegram", result="retry")
        - value(before, "jejak_sends_total", channel="telegram", result="retry")
        == 1
    )


async def test_outbox_gauges_read_from_the_database(running):
    samples = await scrape(running)
    for status in ("pending", "sent", "failed"):
        assert ("jejak_outbox_messages", (("status", status),)) in samples
    base = {s: value(samples, "jejak_outbox_messages", status=s) for s in metrics.OUTBOX_STATUSES}
    school_id = running.core.school.id
    now = utcnow()
    rows = [("pending", now + timedelta(days=1))] * 3 + [("pending", now - timedelta(hours=1))]
    rows += [("sent", now)] * 2 + [("failed", now)]
    async with running.core.db.session() as s:
        for i, (status, due) in enumerate(rows):
            s.add(
                OutboxMessage(
                    school_id=school_id,
                    purpose="notice",
                    idempotency_key=f"metrics-test-{i}",
                    channel="sms",  # no sender for it: the dispatcher leaves these alone
                    address=str(9000 + i),
                    payload={"text": "x"},
                    status=status,
                    not_before=due,
                )
            )
        await s.commit()
    samples = await scrape(running)
    assert value(samples, "jejak_outbox_messages", status="pending") - base["pending"] == 4
    assert value(samples, "jejak_outbox_messages", status="sent") - base["sent"] == 2
    assert value(samples, "jejak_outbox_messages", status="failed") - base["failed"] == 1
    late = value(samples, "jejak_outbox_oldest_pending_seconds")
    assert 3500 < late < 3700


async def test_healthz_reports_database_and_channel(running, fake_api):
    url = f"http://127.0.0.1:{running.web.port}/healthz"
    async with httpx.AsyncClient() as client:
        body = (await client.get(url)).json()
        assert body["status"] == "ok" and body["database"] == "ok"
        telegram = body["channels"]["telegram"]
        assert telegram == {
            "mode": "polling",
            "running": True,
            "polling": True,
            "last_update_at": None,
            "last_send_at": None,
            "ok": True,
        }
        await TelegramChat(fake_api, 8004).send("/start")
        telegram = (await client.get(url)).json()["channels"]["telegram"]
        assert telegram["last_update_at"] and telegram["last_send_at"]


async def test_healthz_is_503_once_the_bot_api_rejects_the_token(running, fake_api):
    """A revoked token leaves the process running and polling (PTB keeps retrying); only asking
    the Bot API tells. The answer is reused for the probe's ttl: one getMe per ttl."""
    url = f"http://127.0.0.1:{running.web.port}/healthz"
    async with httpx.AsyncClient() as client:
        before = len(fake_api.calls("getMe"))
        for _ in range(3):
            assert (await client.get(url)).status_code == 200
        assert len(fake_api.calls("getMe")) - before <= 1  # cached within the ttl (30 s)
        fake_api.token = "123456:REVOKED-BY-BOTFATHER"  # the old token now gets 401
        running.telegram.probe.ttl = 0  # ask again now rather than in 30 s
        resp = await client.get(url)
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "degraded" and body["database"] == "ok"
    telegram = body["channels"]["telegram"]
    assert telegram["ok"] is False and "TELEGRAM_BOT_TOKEN" in telegram["error"]
    assert fake_api.token.split(":")[1] not in resp.text
    async with httpx.AsyncClient() as client:  # what a load balancer asks: the database only
        database_only = await client.get(url, params={"only": "database"})
    assert database_only.status_code == 200
    assert database_only.json() == {"status": "ok", "database": "ok"}


async def test_whatsapp_updates_and_sends_are_counted(db_url, db):
    from tests.fakes.graph_api import FakeGraphApi
    from tests.harness import RunningBot, WhatsAppChat, whatsapp_overrides

    async with FakeGraphApi() as graph:
        bot = await RunningBot(make_settings(db_url, **whatsapp_overrides(graph))).start()
        try:
            before = await scrape(bot.running)
            chat = WhatsAppChat(bot, graph, "6281234567801", "Adi")
            assert await chat.send("halo")
            await chat.send("halo lagi")
            after = await scrape(bot.running)
            health = (await bot.http.get(f"{bot.base_url}/healthz")).json()
        finally:
            await bot.stop()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("jejak_updates_total", channel="whatsapp", outcome="processed") == 2
    assert moved("jejak_sends_total", channel="whatsapp", result="sent") >= 2
    assert moved("jejak_send_seconds_count", channel="whatsapp") >= 2
    whatsapp = health["channels"]["whatsapp"]
    assert whatsapp["mode"] == "webhook" and whatsapp["running"] is True
    assert whatsapp["last_update_at"] and whatsapp["last_send_at"]
