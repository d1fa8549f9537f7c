"""A bare python-telegram-bot echo bot: the framework's ceiling on this machine.

Run as a subprocess by bench/inbound_bench.py against the fake Bot API server:

    python bench/echo_bot.py --api-url http://127.0.0.1:PORT --token 123456:TEST-TOKEN \
        [--concurrency 0] [--http httpx|aiohttp]

It makes the same Bot API calls per update as Jejak's Telegram channel, without a database or
an engine: a text gets one sendMessage (with a one-button inline keyboard, as most questions
have); a button tap gets answerCallbackQuery, editMessageText (the "✓ choice" mark) and
sendMessage. `--concurrency 0` keeps PTB's default (one update at a time), which DESIGN.md found
as fast as any bounded value; N > 0 uses `concurrent_updates(N)`. `--http aiohttp` puts PTB on
Jejak's aiohttp transport (bot/channels/telegram_http.py) instead of its own httpx one. Stops on
SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes, TypeHandler

ROOT = str(Path(__file__).resolve().parent.parent)
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="echo:ok")]])


async def on_update(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    query = update.callback_query
    if query is not None:
        with contextlib.suppress(TelegramError):
            await query.answer()
        if query.message is not None:
            with contextlib.suppress(TelegramError):
                await query.message.edit_text(f"{query.message.text or ''}\n\n✓ {query.data}")
        await update.get_bot().send_message(chat.id, f"echo: {query.data}", reply_markup=KEYBOARD)
        return
    if update.message is not None and update.message.text is not None:
        await update.get_bot().send_message(
            chat.id, f"echo: {update.message.text}", reply_markup=KEYBOARD
        )


async def main(api_url: str, token: str, concurrency: int, http: str) -> None:
    api_url = api_url.rstrip("/")
    builder = (
        Application.builder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
    )
    pool = max(8, concurrency + 8)
    if http == "aiohttp":
        sys.path.insert(0, ROOT)
        from bot.channels.telegram_http import AiohttpRequest

        builder = builder.request(AiohttpRequest(pool)).get_updates_request(AiohttpRequest(1))
    elif concurrency > 0:
        builder = builder.connection_pool_size(pool)
    if concurrency > 0:
        builder = builder.concurrent_updates(concurrency)
    app = builder.build()
    app.add_handler(TypeHandler(Update, on_update))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=30)
        print("READY", flush=True)
        await stop.wait()
        await app.updater.stop()
        await app.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--concurrency", type=int, default=0)
    parser.add_argument("--http", choices=["httpx", "aiohttp"], default="httpx")
    args = parser.parse_args()
    asyncio.run(main(args.api_url, args.token, args.concurrency, args.http))
