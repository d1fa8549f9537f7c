"""`jejak run`: the long-running process (Telegram polling or webhook, WhatsApp webhook server,
outreach scheduler), until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from bot.app import Core, build_core
from bot.channels.telegram import TelegramChannel
from bot.settings import Settings
from storage import contacts

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
        on_unreachable=unreachable,
    )


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    core = await build_core(settings)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(core.close)
        telegram = make_telegram(core)
        if telegram is None:
            log.warning("TELEGRAM_BOT_TOKEN is not set: Telegram is off")
        else:
            await telegram.start_polling()
            stack.push_async_callback(telegram.stop)
            log.info("telegram: polling %s", settings.telegram_api_url)
        if telegram is None:
            raise SystemExit("No channel is configured: set TELEGRAM_BOT_TOKEN (see README).")
        await stop.wait()


def run_forever(settings: Settings) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())
