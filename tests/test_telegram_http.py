"""The aiohttp transport under python-telegram-bot (bot/channels/telegram_http.py): a real PTB
Bot on it against the fake Bot API server, and against sockets that misbehave on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, InvalidToken, NetworkError, TimedOut

from bot.channels.telegram_http import AiohttpRequest
from tests.fakes.telegram_api import FakeBotApi


def bot_on(api_url: str, token: str, request: AiohttpRequest, **kwargs) -> Bot:
    return Bot(
        token,
        base_url=f"{api_url}/bot",
        base_file_url=f"{api_url}/file/bot",
        request=request,
        get_updates_request=AiohttpRequest(1),
        **kwargs,
    )


async def test_messages_keyboards_files_and_long_polling_reach_the_bot_api():
    with FakeBotApi() as api:
        async with bot_on(api.url, api.token, AiohttpRequest(4)) as bot:
            me = await bot.get_me()
            assert me.username == api.bot_user["username"]

            markup = InlineKeyboardMarkup([[InlineKeyboardButton("Ya", callback_data="q:ya")]])
            sent = await bot.send_message(
                chat_id=77, text="Halo, apa kabar? ✓", reply_markup=markup
            )
            [call] = api.sent(77, "sendMessage")
            assert call.params["text"] == "Halo, apa kabar? ✓"
            assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "q:ya"
            assert sent.reply_markup == markup

            document = await bot.send_document(
                chat_id=77, document=b"nisn;nama\n001;Adi\n", filename="data.csv", caption="CSV"
            )
            [upload] = api.sent(77, "sendDocument")
            [(name, part)] = upload.files.items()
            assert part.filename == "data.csv" and part.data == b"nisn;nama\n001;Adi\n"
            assert upload.params["caption"] == "CSV"
            assert document.document.file_name == "data.csv"

            # a long poll waits on the server for longer than the 5 s read timeout would allow
            # if PTB's poll timeout were not added to it
            api.push_text(77, "satu")
            updates = await bot.get_updates(timeout=1)
            assert [u.message.text for u in updates] == ["satu"]
            started = asyncio.get_running_loop().time()
            assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1) == ()
            assert asyncio.get_running_loop().time() - started >= 0.9


async def test_bot_api_errors_keep_their_meaning():
    with FakeBotApi() as api:
        with pytest.raises(InvalidToken):  # the fake answers 401 Unauthorized
            async with bot_on(api.url, "999:WRONG", AiohttpRequest(1)):
                pass
        async with bot_on(api.url, api.token, AiohttpRequest(1)) as bot:
            with pytest.raises(BadRequest, match="(?i)text"):  # 400: empty text
                await bot.send_message(chat_id=77, text="")


@contextlib.asynccontextmanager
async def silent_server():
    """Accepts connections and reads, never answers."""
    held: list[asyncio.StreamWriter] = []

    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_server_that_never_answers_times_out():
    async with silent_server() as url:
        request = AiohttpRequest(1, read_timeout=0.3)
        await request.initialize()
        try:
            with pytest.raises(TimedOut):
                await request.post(f"{url}/bot1:X/getMe")
        finally:
            await request.shutdown()


async def test_a_closed_port_is_a_network_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = AiohttpRequest(1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as raised:
            await request.post(f"http://127.0.0.1:{port}/bot1:X/getMe")
        assert not isinstance(raised.value, TimedOut)
        assert "aiohttp." in str(raised.value)
    finally:
        await request.shutdown()


async def test_use_before_initialize_or_after_shutdown_is_refused_and_restart_works():
    with FakeBotApi() as api:
        request = AiohttpRequest(1)
        with pytest.raises(NetworkError, match="not initialized"):
            await request.post(f"{api.url}/bot{api.token}/getMe")
        await request.initialize()
        assert (await request.post(f"{api.url}/bot{api.token}/getMe"))["id"]
        await request.shutdown()
        await request.shutdown()  # twice is harmless
        with pytest.raises(NetworkError, match="not initialized"):
            await request.post(f"{api.url}/bot{api.token}/getMe")
        await request.initialize()  # PTB re-initialises after a shutdown (restart)
        assert (await request.post(f"{api.url}/bot{api.token}/getMe"))["id"]
        await request.shutdown()
