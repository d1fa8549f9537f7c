"""Telegram webhook mode end to end: `bot.runner.start` (the process `jejak run` starts) registers
its webhook with a secret at a fake Bot API server, which then POSTs every update to
`/webhooks/telegram` on the bot's own HTTP server; replies go back through the fake API.
"""

from __future__ import annotations

import secrets
import socket

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli import _register, app
from bot.runner import Running, start
from bot.settings import Settings
from storage.invitations import ensure_invitations
from storage.models import Answer, Contact, InboundEvent
from storage.roster import import_roster
from tests.fakes.telegram_api import FakeBotApi
from tests.harness import SAMPLE_ROSTER, TelegramChat, make_settings

pytestmark = pytest.mark.postgres

ADI = "0071234501"
SECRET = "s3cret-Token_42"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def fake_api():
    with FakeBotApi() as api:
        yield api


async def start_bot(db_url: str, api: FakeBotApi, *, webhook: bool) -> tuple[Running, dict]:
    port = free_port()
    extra = {}
    if webhook:
        extra = {
            "telegram_webhook_url": f"http://127.0.0.1:{port}/webhooks/telegram",
            "telegram_webhook_secret": SECRET,
        }
    settings = make_settings(
        db_url,
        telegram_bot_token=api.token,
        telegram_api_url=api.url,
        http_port=port,
        **extra,
    )
    running = await start(settings)
    await import_roster(running.core.db, running.core.school.id, SAMPLE_ROSTER)
    codes = {
        a.nisn: c for a, c in await ensure_invitations(running.core.db, running.core.school.id)
    }
    return running, codes


@pytest.fixture
async def webhook_bot(fake_api, db_url, db):  # `db` migrates (and resets PostgreSQL) first
    running, codes = await start_bot(db_url, fake_api, webhook=True)
    yield running, codes
    await running.stop()


async def count(running: Running, model) -> int:
    async with running.core.db.session() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


def url(running: Running, path: str) -> str:
    return f"http://127.0.0.1:{running.web.port}{path}"


async def test_webhook_registered_with_secret_and_a_whole_questionnaire(webhook_bot, fake_api):
    running, codes = webhook_bot
    hook = fake_api.webhook
    assert hook["url"] == url(running, "/webhooks/telegram")
    assert hook["secret_token"] == SECRET
    assert "callback_query" in (hook["allowed_updates"] or [])
    assert running.telegram.mode == "webhook"

    chat = TelegramChat(fake_api, 7001)
    assert "Apakah Anda setuju?" in await chat.send(f"/start {codes[ADI]}")
    assert "Adi Pratama" in await chat.tap("Setuju")
    await chat.tap("Ya, benar")
    assert "kegiatan utama" in await chat.tap("Ya")
    await chat.tap("1. Bekerja")
    # a burst: the fake delivers one chat's updates one at a time, each after the previous
    # POST was answered; the bot answers only once an update is handled, so order holds
    for text in ("PT Maju Jaya", "Teknisi Jaringan"):
        fake_api.push_text(7001, text)
    await fake_api.await_new_messages(7001, 2)
    await chat.tap("1. Perusahaan swasta")
    for text in ("2", "07/2025", "pkl", "lewati", "sangat sesuai", "Praktik lebih banyak"):
        fake_api.push_text(7001, text)
    replies = await fake_api.await_new_messages(7001, 6)
    assert "Terima kasih, jawaban Anda sudah tersimpan" in (replies[-1].text or "")

    async with running.core.db.session() as s:
        answers = dict((await s.execute(select(Answer.field, Answer.value))).all())
    assert answers["employer"] == "PT Maju Jaya"
    assert answers["job_title"] == "Teknisi Jaringan"
    assert answers["start_month"] == "07/2025"
    assert answers["school_feedback"] == "Praktik lebih banyak"
    # the reply can arrive before the fake has noted the answer to its POST
    await fake_api.await_for(lambda: fake_api.pending_updates() == 0)
    deliveries = fake_api.webhook_deliveries
    assert deliveries and all(d["status"] == 200 for d in deliveries)
    assert len(deliveries) == await count(running, InboundEvent)

    async with httpx.AsyncClient() as client:
        health = (await client.get(url(running, "/healthz"))).json()
    telegram = health["channels"]["telegram"]
    assert telegram["mode"] == "webhook" and telegram["running"] is True
    assert telegram["last_update_at"] and telegram["last_send_at"]
    assert telegram["ok"] is True and telegram["pending_updates"] == 0
    assert health["database"] == "ok"


async def test_healthz_is_503_when_the_webhook_was_deleted_elsewhere(webhook_bot, fake_api):
    """Someone calls deleteWebhook (or setWebhook to another URL) with the token: the process
    runs on, but no update will ever arrive. /healthz says so and how to fix it."""
    running, _codes = webhook_bot
    async with httpx.AsyncClient() as client:
        assert (await client.get(url(running, "/healthz"))).status_code == 200
        bot_api = f"{fake_api.url}/bot{fake_api.token}"
        assert (await client.post(f"{bot_api}/deleteWebhook")).json()["ok"] is True
        running.telegram.probe.ttl = 0  # ask the Bot API again now rather than in 30 s
        resp = await client.get(url(running, "/healthz"))
    assert resp.status_code == 503
    telegram = resp.json()["channels"]["telegram"]
    assert telegram["ok"] is False and "TELEGRAM_WEBHOOK_URL" in telegram["error"]


async def test_redelivered_update_is_answered_once(webhook_bot, fake_api):
    running, codes = webhook_bot
    chat = TelegramChat(fake_api, 7002)
    update = fake_api.push_text(7002, f"/start {codes[ADI]}")
    await fake_api.await_new_messages(7002, 1)
    events = await count(running, InboundEvent)
    for _ in range(2):  # Telegram redelivers after a timeout it did not see answered
        resp = await fake_api.adeliver_webhook(
            url(running, "/webhooks/telegram"), update, secret_token=SECRET
        )
        assert resp.status_code == 200
    assert len(fake_api.messages(7002)) == 1
    assert await count(running, InboundEvent) == events
    assert "Adi Pratama" in await chat.tap("Setuju")


@pytest.mark.parametrize("secret", [None, "wrong-secret", SECRET.lower()])
async def test_webhook_without_the_secret_is_refused_and_nothing_stored(
    webhook_bot, fake_api, secret
):
    running, codes = webhook_bot
    update = {
        "update_id": 990001,
        "message": {
            "message_id": 1,
            "date": 1700000000,
            "chat": {"id": 7003, "type": "private", "first_name": "Eve"},
            "from": {"id": 7003, "is_bot": False, "first_name": "Eve"},
            "text": f"/start {codes[ADI]}",
        },
    }
    resp = await fake_api.adeliver_webhook(
        url(running, "/webhooks/telegram"), update, secret_token=secret
    )
    assert resp.status_code == 403
    assert await count(running, InboundEvent) == 0
    assert await count(running, Contact) == 0
    assert fake_api.messages(7003) == []


async def test_malformed_webhook_body_is_a_400(webhook_bot):
    running, _ = webhook_bot
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with httpx.AsyncClient() as client:
        for body in (b"not json", b"[1, 2]", b'{"no_update_id": 1}'):
            resp = await client.post(
                url(running, "/webhooks/telegram"), content=body, headers=headers
            )
            assert resp.status_code == 400
    assert await count(running, InboundEvent) == 0


async def test_polling_stays_the_default(fake_api, db_url, db):
    running, codes = await start_bot(db_url, fake_api, webhook=False)
    try:
        assert running.telegram.mode == "polling"
        assert not fake_api.webhook.get("url")
        chat = TelegramChat(fake_api, 7004)
        assert "Apakah Anda setuju?" in await chat.send(f"/start {codes[ADI]}")
        assert fake_api.webhook_deliveries == []
        async with httpx.AsyncClient() as client:
            resp = await client.post(
                url(running, "/webhooks/telegram"),
                json={"update_id": 1},
                headers={"X-Telegram-Bot-Api-Secret-Token": "anything"},
            )
            assert resp.status_code == 404  # the endpoint is off in polling mode
            health = (await client.get(url(running, "/healthz"))).json()
        assert health["channels"]["telegram"]["mode"] == "polling"
        assert health["channels"]["telegram"]["polling"] is True
    finally:
        await running.stop()


async def test_webhook_url_without_secret_refuses_to_start(fake_api, db_url, db):
    settings = make_settings(
        db_url,
        telegram_bot_token=fake_api.token,
        telegram_api_url=fake_api.url,
        http_port=free_port(),
        telegram_webhook_url="https://bot.example.sch.id/webhooks/telegram",
    )
    with pytest.raises(SystemExit, match="TELEGRAM_WEBHOOK_SECRET"):
        await start(settings)
    assert not fake_api.webhook.get("url")


# ---- the settings: what Telegram can post to, and what it accepts as a secret ----------------
def webhook_settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://bot.example.sch.id/webhooks/telegram", "must be a public https:// address"),
        ("bot.example.sch.id/webhooks/telegram", "must be a public https:// address"),
        ("https:///webhooks/telegram", "must be a public https:// address"),
        ("https://bot.example.sch.id", "must end in /webhooks/telegram"),
        ("https://bot.example.sch.id/", "must end in /webhooks/telegram"),
        ("https://bot.example.sch.id/telegram", "must end in /webhooks/telegram"),
        ("https://bot.example.sch.id/webhooks/telegram/", "must end in /webhooks/telegram"),
        ("https://bot.example.sch.id/webhooks/whatsapp", "must end in /webhooks/telegram"),
        ("https://bot.example.sch.id:8080/webhooks/telegram", "ports 443, 80, 88, 8443"),
        ("https://bot.example.sch.id:x/webhooks/telegram", "is not a valid URL"),
    ],
)
def test_bad_webhook_url_is_refused_naming_the_setting(url, says):
    with pytest.raises(ValidationError) as caught:
        webhook_settings(telegram_webhook_url=url, telegram_webhook_secret=SECRET)
    (error,) = caught.value.errors()
    assert error["loc"] == ("telegram_webhook_url",)
    assert "TELEGRAM_WEBHOOK_URL" in error["msg"] and says in error["msg"]


@pytest.mark.parametrize(
    "secret", ["with space", "s3cret!", "tanda.titik", "rahasia=1", "kunci_ä", "x" * 257]
)
def test_bad_webhook_secret_is_refused_without_showing_it(secret):
    with pytest.raises(ValidationError) as caught:
        webhook_settings(
            telegram_webhook_url="https://bot.example.sch.id/webhooks/telegram",
            telegram_webhook_secret=secret,
        )
    (error,) = caught.value.errors()
    assert error["loc"] == ("telegram_webhook_secret",)
    assert "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters" in error["msg"]
    assert secret not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("https://bot.example.sch.id/webhooks/telegram", SECRET),
        ("https://bot.example.sch.id:8443/webhooks/telegram", secrets.token_urlsafe(32)),
        ("https://smkn1.sch.id/jejak/webhooks/telegram", "A" * 256),  # a proxy strips /jejak
        ("  https://bot.example.sch.id:443/webhooks/telegram  ", "-_-"),
    ],
)
def test_good_webhook_settings_are_kept(url, secret):
    settings = webhook_settings(telegram_webhook_url=url, telegram_webhook_secret=secret)
    assert settings.telegram_webhook_url == url.strip()
    assert settings.token("telegram_webhook_secret") == secret


def test_empty_webhook_settings_mean_long_polling():
    settings = webhook_settings(telegram_webhook_url="", telegram_webhook_secret="")
    assert settings.telegram_webhook_url is None
    assert settings.telegram_webhook_secret is None


def test_plain_http_only_through_a_local_bot_api_server():
    local = webhook_settings(
        telegram_api_url="http://127.0.0.1:8081",
        telegram_webhook_url="http://10.0.0.5:8080/webhooks/telegram",
        telegram_webhook_secret=SECRET,
    )
    assert local.telegram_webhook_url == "http://10.0.0.5:8080/webhooks/telegram"
    with pytest.raises(ValidationError, match="ports 443, 80, 88, 8443"):
        webhook_settings(
            telegram_api_url="https://api.telegram.org",
            telegram_webhook_url="https://10.0.0.5:8080/webhooks/telegram",
        )


def test_cli_names_the_bad_webhook_setting_and_opens_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _register()
    result = CliRunner().invoke(
        app,
        ["migrate"],
        env={
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/j.db",
            "TELEGRAM_WEBHOOK_URL": "https://bot.example.sch.id/",
            "TELEGRAM_WEBHOOK_SECRET": "rahasia sekali",
            "JEJAK_ENV_FILE": None,
            "COLUMNS": "300",
        },
    )
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "Setting TELEGRAM_WEBHOOK_URL: TELEGRAM_WEBHOOK_URL must end in /webhooks/telegram" in (
        output
    )
    assert "Setting TELEGRAM_WEBHOOK_SECRET: TELEGRAM_WEBHOOK_SECRET must be" in output
    assert "rahasia sekali" not in output
    assert not (tmp_path / "j.db").exists()
