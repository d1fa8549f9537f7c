"""`jejak run`: the long-running process — the HTTP server (health, webhooks), Telegram (long
polling, or webhook when TELEGRAM_WEBHOOK_URL is set), WhatsApp (webhook), until SIGINT/SIGTERM.

Channels are built by `make_telegram` / `make_whatsapp` so tests and benchmarks wire the same
objects the process does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from bot.app import Core, build_core
from bot.channels.telegram import TelegramChannel
from bot.channels.whatsapp import WhatsAppChannel
from bot.channels.whatsapp_api import WhatsAppClient
from bot.outreach.scheduler import Outreach, senders_of
from bot.settings import Settings
from bot.staff import install as install_staff_router
from bot.vacancy_hooks import install as install_vacancy_hooks
from bot.web import WebDeps, WebServer, create_app
from storage import contacts, process_lock
from storage.db import checked_url, database_problem
from storage.schools import PLACEHOLDER_NPSN

log = logging.getLogger(__name__)


def make_telegram(core: Core) -> TelegramChannel | None:
    token = core.settings.token("telegram_bot_token")
    if not token:
        return None

    async def unreachable(channel: str, address: str, reason: str) -> None:
        await contacts.mark_unreachable(core.db, channel, address, reason)

    return TelegramChannel(
        token,
        core.service,
        api_url=core.settings.telegram_api_url,
        concurrency=core.settings.telegram_concurrency,
        http=core.settings.telegram_http,
        on_unreachable=unreachable,
    )


def whatsapp_missing(settings: Settings) -> list[str]:
    """The WhatsApp settings still unset (all four turn the channel on)."""
    names = [
        "whatsapp_access_token",
        "whatsapp_phone_number_id",
        "whatsapp_app_secret",
        "whatsapp_verify_token",
    ]
    return [n.upper() for n in names if not getattr(settings, n)]


def make_whatsapp(core: Core) -> WhatsAppChannel | None:
    if whatsapp_missing(core.settings):
        return None
    client = WhatsAppClient.from_settings(core.settings)
    return WhatsAppChannel(client, core.service, core.db)


@dataclass
class Running:
    """What `start` brought up; `stop` takes it down in reverse order."""

    core: Core
    web: WebServer
    telegram: TelegramChannel | None = None
    whatsapp: WhatsAppChannel | None = None
    deps: WebDeps | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    async def stop(self) -> None:
        await self.stack.aclose()


async def start(settings: Settings, *, core: Core | None = None) -> Running:
    checked_url(settings.database_url)  # DatabaseUnavailable: not SQLite or PostgreSQL
    try:  # SQLite: one `jejak run` per database file (storage/process_lock.py)
        run_lock = process_lock.acquire(settings.database_url)
    except process_lock.AlreadyRunning as exc:
        raise SystemExit(f"jejak run: {exc}") from None
    except OSError as exc:  # the database's folder cannot be written
        problem = database_problem(exc, settings.database_url)
        if problem is None:
            raise
        raise problem from exc
    try:
        core = core or await build_core(settings)
    except BaseException:
        if run_lock is not None:
            run_lock.release()
        raise
    if core.school.npsn == PLACEHOLDER_NPSN:
        log.warning(
            "SCHOOL_NPSN is not set: the bot runs as the placeholder school %s (%s); set "
            "SCHOOL_NPSN, SCHOOL_NAME and TIMEZONE for real use",
            PLACEHOLDER_NPSN,
            core.school.name,
        )
    stack = AsyncExitStack()
    if run_lock is not None:
        stack.callback(run_lock.release)
    stack.push_async_callback(core.close)
    try:
        telegram = make_telegram(core)
        whatsapp = make_whatsapp(core)
        install_staff_router(core)  # staff codes, /ringkasan, /rekap, /ekspor, /bantuan_staf
        install_vacancy_hooks(core)  # "Saya berminat" taps, /lowongan, /peminat
        partial = [n for n in whatsapp_missing(settings) if n] if whatsapp is None else []
        if whatsapp is None and len(partial) < 4:
            log.warning("WhatsApp is off: %s not set", ", ".join(partial))
        deps = WebDeps(
            db=core.db,
            whatsapp=whatsapp,
            whatsapp_app_secret=settings.token("whatsapp_app_secret"),
            whatsapp_verify_token=settings.token("whatsapp_verify_token"),
        )
        if whatsapp is not None:
            stack.push_async_callback(whatsapp.client.aclose)
            stack.push_async_callback(whatsapp.stop)  # hands retries over, then drains
            deps.channel_health["whatsapp"] = whatsapp.health
        web = WebServer(create_app(deps), settings.http_host, settings.http_port)
        if telegram is not None:
            deps.channel_health["telegram"] = telegram.health
            if settings.telegram_webhook_url:
                secret = settings.token("telegram_webhook_secret")
                if not secret:
                    raise SystemExit("TELEGRAM_WEBHOOK_URL needs TELEGRAM_WEBHOOK_SECRET too.")
                deps.telegram, deps.telegram_secret = telegram, secret
        await web.start()
        stack.push_async_callback(web.stop)
        log.info("http: listening on %s:%s", settings.http_host, web.port)
        if telegram is not None:
            if settings.telegram_webhook_url:
                await telegram.start_webhook(settings.telegram_webhook_url, deps.telegram_secret)
                log.info("telegram: webhook mode")
            else:
                await telegram.start_polling()
                log.info("telegram: long polling")
            stack.push_async_callback(telegram.stop)
        if telegram is None and whatsapp is None:
            log.warning(
                "no channel is configured (set TELEGRAM_BOT_TOKEN and/or the WHATSAPP_* "
                "settings): only the HTTP server runs"
            )
        outreach = Outreach(core, senders_of(telegram, whatsapp))
        outreach.start()  # the scheduler: plan reminders/follow-ups, dispatch the outbox
        stack.push_async_callback(outreach.stop)
        running = Running(core, web, telegram, whatsapp, deps, stack=stack)
        running.extras["outreach"] = outreach
        return running
    except BaseException:
        await stack.aclose()
        raise


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    # `start` may wait a long time (the Bot API unreachable at boot): a stop request ends it
    starting = asyncio.ensure_future(start(settings))
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        return
    running = starting.result()
    try:
        await stop.wait()
    finally:
        await running.stop()


def run_forever(settings: Settings) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())
