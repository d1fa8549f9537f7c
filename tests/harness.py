"""End-to-end harness: the real app (core + channels) against the fake platform servers.

`BotUnderTest` builds the real Core on a given database URL, imports the sample roster, creates
invitation codes, and starts the real Telegram channel (python-telegram-bot, long polling)
against a `FakeBotApi`. `TelegramChat` drives one person's chat and waits for the bot's replies.

`RunningBot` starts the whole process the way `jejak run` does (`bot.runner.start`: HTTP server,
WhatsApp webhook, Telegram); `whatsapp_overrides(api)` points WhatsApp at a `FakeGraphApi`.
`WhatsAppChat` drives one person's WhatsApp chat through signed webhooks to the real endpoint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import func, select

from bot.app import Core, build_core
from bot.runner import Running, make_telegram
from bot.runner import start as start_process
from bot.settings import Settings
from conversations.types import Inbound, InputKind
from storage.invitations import ensure_invitations
from storage.models import Alumnus, Answer, Contact, Delivery, Response, utcnow
from storage.roster import import_roster
from tests.fakes.graph_api import (
    DEFAULT_PHONE_NUMBER_ID,
    FakeGraphApi,
    GraphCall,
    contact,
    inbound_button_reply,
    inbound_list_reply,
    inbound_template_button,
    inbound_text,
    sign,
    webhook_envelope,
)
from tests.fakes.telegram_api import FakeBotApi

SAMPLE_ROSTER = Path(str(resources.files("bot").joinpath("sample_roster.csv")))


class FixedClock:
    """A clock for code that takes `clock=`: it says `now` until the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class OffsetClock:
    """Real time plus a controllable offset (retries become due when the test says so)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def jump(self, **kw: float) -> None:
        self.offset += timedelta(**kw)


def flat(text: str) -> str:
    """CLI output with its line breaks and runs of spaces as single spaces (rich wraps lines)."""
    return " ".join(text.split())


def run_cli(env: dict, *args: str, input: str | None = None):
    """`jejak ARGS` in this process (typer's CliRunner) with `env`; a crash is raised, an exit is
    the result's exit_code."""
    from typer.testing import CliRunner

    from bot.cli import _register, app

    _register()
    result = CliRunner().invoke(app, list(args), env=env, input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def start_inbound(address: str, external_id: str) -> Inbound:
    """A Telegram `/start` (no code) from `address`, as the channel hands it to the shell."""
    return Inbound(
        channel="telegram",
        address=address,
        kind=InputKind.START,
        text="/start",
        external_id=external_id,
    )


def make_settings(db_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db_url,
        "school_name": "SMK Contoh",
        "school_npsn": "20100001",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class BotUnderTest:
    settings: Settings
    core: Core | None = None
    telegram: Any = None
    codes: dict[str, str] = field(default_factory=dict)  # nisn -> invitation code

    async def start(self, *, seed: bool = True) -> BotUnderTest:
        self.core = await build_core(self.settings)
        if seed:
            await import_roster(self.core.db, self.core.school.id, SAMPLE_ROSTER)
            invites = await ensure_invitations(self.core.db, self.core.school.id)
            self.codes = {a.nisn: code for a, code in invites}
        self.telegram = make_telegram(self.core)
        if self.telegram is not None:
            await self.telegram.start_polling()
        return self

    async def stop(self) -> None:
        if self.telegram is not None:
            await self.telegram.stop()
            self.telegram = None
        if self.core is not None:
            await self.core.close()
            self.core = None

    # -- database checks --
    async def alumnus(self, nisn: str) -> Alumnus:
        async with self.core.db.session() as s:
            return (await s.execute(select(Alumnus).where(Alumnus.nisn == nisn))).scalar_one()

    async def responses(self, nisn: str) -> list[tuple[Response, dict[str, Any]]]:
        alumnus = await self.alumnus(nisn)
        async with self.core.db.session() as s:
            rows = (
                (
                    await s.execute(
                        select(Response)
                        .where(Response.alumnus_id == alumnus.id)
                        .order_by(Response.id)
                    )
                )
                .scalars()
                .all()
            )
            out = []
            for r in rows:
                answers = await s.execute(
                    select(Answer.field, Answer.value).where(Answer.response_id == r.id)
                )
                out.append((r, dict(answers.all())))
            return out

    async def contact(self, channel: str, address: str) -> Contact | None:
        async with self.core.db.session() as s:
            return (
                await s.execute(
                    select(Contact).where(Contact.channel == channel, Contact.address == address)
                )
            ).scalar_one_or_none()


class TelegramChat:
    """One person's private chat with the bot through the fake Bot API."""

    def __init__(self, api: FakeBotApi, chat_id: int, **user: Any) -> None:
        self.api = api
        self.chat_id = chat_id
        self.user = user

    async def _replies(self, n: int, timeout: float) -> list[str]:
        calls = await self.api.await_new_messages(self.chat_id, n, timeout=timeout)
        return [c.text or "" for c in calls]

    async def send(self, text: str, n: int = 1, timeout: float = 10.0) -> str:
        """Send text; wait for `n` new bot messages; return the last one's text."""
        self.api.push_text(self.chat_id, text, **self.user)
        return (await self._replies(n, timeout))[-1]

    async def tap(self, label: str, n: int = 1, timeout: float = 10.0) -> str:
        self.api.tap(self.chat_id, label, **self.user)
        return (await self._replies(n, timeout))[-1]

    def buttons(self) -> list[str]:
        keyboard = self.api.last_keyboard(self.chat_id) or []
        return [b["text"] for row in keyboard for b in row]

    def last_text(self) -> str:
        message = self.api.last_message(self.chat_id)
        return (message or {}).get("text", "")


# ---- the whole process (`jejak run`) and WhatsApp ------------------------------------------
WA_APP_SECRET = "test-app-secret"
WA_VERIFY_TOKEN = "test-verify-token"
WA_PHONE_NUMBER_ID = DEFAULT_PHONE_NUMBER_ID


def whatsapp_overrides(api: FakeGraphApi) -> dict[str, Any]:
    """Settings that turn the WhatsApp channel on against `api` (a FakeGraphApi)."""
    return {
        "whatsapp_access_token": api.access_token,
        "whatsapp_phone_number_id": WA_PHONE_NUMBER_ID,
        "whatsapp_app_secret": WA_APP_SECRET,
        "whatsapp_verify_token": WA_VERIFY_TOKEN,
        "whatsapp_api_url": api.url,
        "http_host": "127.0.0.1",
        "http_port": 0,  # an ephemeral port; `RunningBot.base_url` tells which
    }


@dataclass
class RunningBot(BotUnderTest):
    """The process `jejak run` starts (`bot.runner.start`): HTTP server, WhatsApp webhook,
    Telegram long polling when a token is set. Seeds the sample roster and invitations."""

    running: Running | None = None
    http: httpx.AsyncClient | None = None  # one client for the test's webhook POSTs

    async def start(self, *, seed: bool = True) -> RunningBot:
        self.running = await start_process(self.settings)
        self.http = httpx.AsyncClient(timeout=10, verify=False)
        self.core = self.running.core
        if seed:
            await import_roster(self.core.db, self.core.school.id, SAMPLE_ROSTER)
            invites = await ensure_invitations(self.core.db, self.core.school.id)
            self.codes = {a.nisn: code for a, code in invites}
        return self

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.aclose()
            self.http = None
        if self.running is not None:
            await self.running.stop()
            self.running = None
            self.core = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.running.web.port}"

    @property
    def whatsapp_url(self) -> str:
        return f"{self.base_url}/webhooks/whatsapp"

    async def settle(self) -> None:
        """Wait until the WhatsApp background work scheduled so far is done."""
        if self.running is not None and self.running.whatsapp is not None:
            await self.running.whatsapp.drain()

    async def deliveries(self) -> list[Delivery]:
        async with self.core.db.session() as s:
            rows = await s.execute(select(Delivery).order_by(Delivery.id))
            return list(rows.scalars().all())

    async def count(self, model: Any) -> int:
        async with self.core.db.session() as s:
            return (await s.execute(select(func.count()).select_from(model))).scalar_one()


class WhatsAppChat:
    """One person's WhatsApp chat: posts signed webhooks (Meta's shapes) to the bot's real HTTP
    endpoint and reads what the bot sent through the FakeGraphApi. Each input waits until the
    bot's background work is done, then returns the text of all new messages to this person
    (`.batch` holds them as GraphCalls)."""

    def __init__(self, bot: RunningBot, api: FakeGraphApi, wa_id: str, name: str = "Budi") -> None:
        self.bot = bot
        self.api = api
        self.wa_id = wa_id
        self.name = name
        self.batch: list[GraphCall] = []
        self._seen = 0

    # -- raw --
    def envelope(self, *messages: dict, statuses: Iterable[dict] = ()) -> dict:
        return webhook_envelope(
            messages=messages, statuses=statuses, contacts=[contact(self.wa_id, self.name)]
        )

    async def post(self, payload: Any, signature: str | None = None) -> httpx.Response:
        """POST a whole webhook body (dict or raw bytes) as Meta does, signed with the app
        secret unless `signature` is given ("" omits the header)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        signature = sign(body, WA_APP_SECRET) if signature is None else signature
        if signature:
            headers["X-Hub-Signature-256"] = signature
        self.api.note_inbound(self.wa_id)  # the fake's 24-hour window, when enforced
        return await self.bot.http.post(self.bot.whatsapp_url, content=body, headers=headers)

    def new_messages(self) -> list[GraphCall]:
        sent = self.api.sent(self.wa_id)
        new, self._seen = sent[self._seen :], len(sent)
        return new

    async def deliver(self, *messages: dict, expect_reply: bool = True) -> str:
        response = await self.post(self.envelope(*messages))
        assert response.status_code == 200, response.text
        await self.bot.settle()
        self.batch = self.new_messages()
        if expect_reply:
            assert self.batch, "the bot sent nothing"
        return "\n\n".join(c.text or "" for c in self.batch)

    # -- what a person does --
    async def send(self, text: str) -> str:
        return await self.deliver(inbound_text(self.wa_id, text))

    async def tap(self, title: str) -> str:
        """Tap the reply button or list row titled `title` (or whose id ends in ":<title>")
        on the newest interactive message, the way WhatsApp reports it."""
        message = self.last_interactive()
        assert message is not None, "no interactive message to tap"
        kind = message.interactive.get("type")
        if kind == "button":
            choices = list(zip(message.button_ids, message.button_titles, strict=True))
        else:
            choices = [(row["id"], row["title"]) for row in message.list_rows]
        match = [(rid, t) for rid, t in choices if t == title or rid.rsplit(":", 1)[-1] == title]
        assert len(match) == 1, f"{title!r} is not one of {choices}"
        rid, shown = match[0]
        if kind == "button":
            msg = inbound_button_reply(self.wa_id, rid, shown, context_id=message.message_id)
        else:
            msg = inbound_list_reply(self.wa_id, rid, shown, context_id=message.message_id)
        return await self.deliver(msg)

    async def tap_template(self, payload: str, text: str) -> str:
        """A template's quick-reply button (`type: button`)."""
        return await self.deliver(inbound_template_button(self.wa_id, payload, text))

    # -- what the person sees --
    def last_interactive(self) -> GraphCall | None:
        return next((c for c in reversed(self.api.sent(self.wa_id)) if c.interactive), None)

    def buttons(self) -> list[str]:
        last = self.api.sent(self.wa_id)[-1:]
        return last[0].button_titles if last else []

    def rows(self) -> list[str]:
        last = self.api.sent(self.wa_id)[-1:]
        return [row["title"] for row in last[0].list_rows] if last else []

    def last_text(self) -> str:
        last = self.api.sent(self.wa_id)[-1:]
        return (last[0].text or "") if last else ""


def is_our_error(record: logging.LogRecord) -> bool:
    """An ERROR logged by Jejak's own code (bot, storage, conversations), e.g. "whatsapp event
    failed" from a background task that the webhook's 200 no longer reports."""
    return record.levelno >= logging.ERROR and record.name.split(".")[0] in (
        "bot",
        "storage",
        "conversations",
    )
