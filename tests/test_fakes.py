"""The fake Bot API and Graph API servers, driven by the real python-telegram-bot and httpx."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, RetryAfter
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from tests.fakes import FakeBotApi, FakeGraphApi, WaitTimeout
from tests.fakes.graph_api import sign, text_payload
from tests.fakes.httpserver import HttpServer, Response

TOKEN = "123456:TEST-TOKEN"
WA_TOKEN = "TEST-ACCESS-TOKEN"


@pytest.fixture
def tg():
    with FakeBotApi(TOKEN) as api:
        yield api


@pytest.fixture
def wa():
    with FakeGraphApi(WA_TOKEN, phone_number_id="1055") as api:
        yield api


def make_bot(api: FakeBotApi) -> Bot:
    return Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url)


# --- HTTP server --------------------------------------------------------------------------------


async def test_http_server_keep_alive_and_bodies():
    seen = []

    async def handler(req):
        seen.append((req.method, req.path, req.form, req.json, sorted(req.files)))
        return Response.json({"n": len(seen)})

    with HttpServer(handler) as srv:
        async with httpx.AsyncClient(base_url=srv.url) as client:
            r1 = await client.post("/a?x=1", data={"k": "v"})
            r2 = await client.post("/b", json={"j": [1]})
            r3 = await client.post("/c", data={"f": "1"}, files={"doc": ("a.txt", b"hi")})
        assert [r.json()["n"] for r in (r1, r2, r3)] == [1, 2, 3]
    assert seen[0] == ("POST", "/a", {"x": "1", "k": "v"}, None, [])
    assert seen[1][3] == {"j": [1]}
    assert seen[2][2] == {"f": "1"} and seen[2][4] == ["doc"]
    assert srv.requests_served == 3 and not srv.running


# --- Telegram -----------------------------------------------------------------------------------


async def test_bot_methods_with_real_ptb(tg):
    async with make_bot(tg) as bot:
        me = await bot.get_me()
        assert me.username == "jejak_test_bot" and me.is_bot
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton("Bekerja", callback_data="status:bekerja")]]
        )
        msg = await bot.send_message(chat_id=777, text="Apa kegiatan Anda?", reply_markup=markup)
        assert msg.text == "Apa kegiatan Anda?" and msg.chat.id == 777
        assert msg.from_user.id == me.id
        assert msg.reply_markup.inline_keyboard[0][0].callback_data == "status:bekerja"
        assert tg.last_keyboard(777) == [[{"text": "Bekerja", "callback_data": "status:bekerja"}]]

        update = tg.tap(777, "Bekerja")
        assert update["callback_query"]["message"]["message_id"] == msg.message_id
        assert await bot.answer_callback_query(update["callback_query"]["id"], text="OK")
        with pytest.raises(BadRequest, match="(?i)query id is invalid"):
            await bot.answer_callback_query("nope")

        edited = await bot.edit_message_text("Terima kasih", chat_id=777, message_id=msg.message_id)
        assert edited.text == "Terima kasih" and tg.last_keyboard(777) is None
        with pytest.raises(BadRequest, match="not modified"):
            await bot.edit_message_text("Terima kasih", chat_id=777, message_id=msg.message_id)

        doc = await bot.send_document(777, document=b"nisn,nama\n", filename="r.csv", caption="x")
        assert doc.document.file_name == "r.csv"
        call = tg.messages(777)[-1]
        assert call.method == "sendDocument" and call.files["document"].data == b"nisn,nama\n"
        data = await (await bot.get_file(doc.document.file_id)).download_as_bytearray()
        assert bytes(data) == b"nisn,nama\n"

        await bot.set_my_commands([("start", "Mulai"), ("bantuan", "Bantuan")])
        assert [c.command for c in await bot.get_my_commands()] == ["start", "bantuan"]
        with pytest.raises(BadRequest, match="too long"):
            await bot.send_message(777, "x" * 4097)
    assert [c.method for c in tg.sent(777)] == ["sendMessage", "editMessageText", "sendDocument"]


async def test_unknown_method_and_wrong_token(tg):
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{tg.base_url}{TOKEN}/frobnicate")
        assert r.status_code == 404
        assert r.json() == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found: method not found",
        }
        r = await client.post(f"{tg.base_url}1:WRONG/getMe")
        assert r.status_code == 401


async def test_application_long_polls_pushed_updates(tg):
    got: list[tuple[str, str]] = []

    async def on_text(update: Update, context) -> None:
        got.append(("text", update.message.text))
        await update.message.reply_text(f"echo {update.message.text}")

    async def on_callback(update: Update, context) -> None:
        got.append(("callback", update.callback_query.data))
        await update.callback_query.answer()
        await update.callback_query.edit_message_text("dipilih")

    app = (
        Application.builder()
        .token(TOKEN)
        .base_url(tg.base_url)
        .base_file_url(tg.base_file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, on_text))
    app.add_handler(CallbackQueryHandler(on_callback))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=5)
        try:
            t0 = time.monotonic()
            tg.push_text(42, "halo", first_name="Siti")
            replies = await tg.await_new_messages(42, 1, timeout=5)
            assert replies[0].text == "echo halo"
            assert time.monotonic() - t0 < 1.0  # the long poll wakes up at once
            await app.bot.send_message(
                42,
                "Pilih",
                reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]]),
            )
            await tg.await_new_messages(42, 1)
            tg.tap(42, "A")
            await tg.await_calls("editMessageText", 1, chat_id=42)
            assert tg.last_message(42)["text"] == "dipilih"
            assert len(tg.callback_answers()) == 1
        finally:
            await app.updater.stop()
            await app.stop()
    assert got == [("text", "halo"), ("callback", "a")]
    assert tg.pending_updates() == 0  # the last offset was confirmed on stop


async def test_get_updates_semantics_and_duplicates(tg):
    async with make_bot(tg) as bot:
        first = tg.push_text(1, "a")
        tg.push_text(1, "b")
        tg.push_text(1, "c")
        batch = await bot.get_updates(limit=2)
        assert [u.message.text for u in batch] == ["a", "b"]
        batch = await bot.get_updates(offset=batch[-1].update_id + 1)
        assert [u.message.text for u in batch] == ["c"]
        t0 = time.monotonic()
        assert await bot.get_updates(offset=batch[-1].update_id + 1, timeout=0.3) == ()
        assert time.monotonic() - t0 >= 0.25  # waited for new updates
        tg.push_raw(first)  # redelivery of an already confirmed update_id
        again = await bot.get_updates(offset=batch[-1].update_id + 1)
        assert [u.update_id for u in again] == [first["update_id"]]
        assert await bot.get_updates(offset=again[-1].update_id + 1) == ()
        assert tg.pending_updates() == 0


def test_junk_update_shapes_deserialise(tg):
    updates = [
        tg.push_photo(5, caption="foto"),
        tg.push_sticker(5),
        tg.push_voice(5),
        tg.push_edited_message(5, "ubah"),
        tg.push_group_message(-100, "halo grup"),
        tg.push_channel_post(-200, "info"),
        tg.push_command(5, "start", "ABC123"),
    ]
    bot = make_bot(tg)
    parsed = [Update.de_json(u, bot) for u in updates]
    assert parsed[0].message.photo[-1].width == 800
    assert parsed[1].message.sticker.emoji == "👍"
    assert parsed[2].message.voice.mime_type == "audio/ogg"
    assert parsed[3].edited_message.text == "ubah"
    assert parsed[4].message.chat.type == "group"
    assert parsed[5].channel_post.chat.type == "channel"
    assert parsed[6].message.text == "/start ABC123"
    assert parsed[6].message.entities[0].type == "bot_command"


async def test_block_and_injected_faults(tg):
    async with make_bot(tg) as bot:
        tg.block(9)
        with pytest.raises(Forbidden, match="blocked by the user"):
            await bot.send_message(9, "hai")
        tg.fail_next(1, 429, retry_after=3, chat_id=10)
        await bot.send_message(11, "other chat is not affected")
        with pytest.raises(RetryAfter, match="Retry in 3 seconds"):
            await bot.send_message(10, "hai")
        tg.fail_next(1, 500)
        with pytest.raises(Exception, match="Internal Server Error"):
            await bot.send_message(10, "hai")
        await bot.send_message(10, "now fine")
    stats = tg.stats()
    assert stats["403"] == 1 and stats["429"] == 1 and stats["5xx"] == 1
    assert tg.too_many_requests == 1
    assert tg.texts(10) == ["now fine"]


async def test_rate_limits(tg):
    tg.set_limits(global_per_second=5, per_chat_per_second=1)
    async with httpx.AsyncClient() as client:
        url = f"{tg.base_url}{TOKEN}/sendMessage"
        r1 = await client.post(url, data={"chat_id": 1, "text": "a"})
        r2 = await client.post(url, data={"chat_id": 1, "text": "b"})
        assert r1.status_code == 200 and r2.status_code == 429
        body = r2.json()
        assert body["parameters"]["retry_after"] == 1
        assert body["description"] == "Too Many Requests: retry after 1"
        codes = [
            (await client.post(url, data={"chat_id": c, "text": "x"})).status_code
            for c in range(2, 8)
        ]
        assert codes == [200, 200, 200, 200, 429, 429]  # 5/s overall
    assert tg.stats()["429_rate_limited"] == 3
    assert len(tg.messages()) == 5


def test_sync_waiter_times_out_with_context(tg):
    with pytest.raises(WaitTimeout, match="to chat 3"):
        tg.wait_messages(3, 1, timeout=0.1)


async def test_webhook_mode_delivers_with_secret(tg):
    received = []

    async def bot_endpoint(req):
        received.append((req.header("x-telegram-bot-api-secret-token"), req.json["update_id"]))
        return Response.json({})

    with HttpServer(bot_endpoint) as endpoint:
        async with make_bot(tg) as bot:
            await bot.set_webhook(f"{endpoint.url}/webhooks/telegram", secret_token="s3cr3t")
            info = await bot.get_webhook_info()
            assert info.url.endswith("/webhooks/telegram")
            with pytest.raises(Exception, match="webhook is active"):
                await bot.get_updates()
            u = tg.push_text(8, "lewat webhook")
            await tg.await_for(lambda: len(received) == 1)
            assert received == [("s3cr3t", u["update_id"])]
            r = await tg.adeliver_webhook(f"{endpoint.url}/x", u, secret_token="other")
            assert r.status_code == 200 and received[-1] == ("other", u["update_id"])
            await bot.delete_webhook()
        assert tg.webhook["url"] == ""


# --- WhatsApp -----------------------------------------------------------------------------------


async def test_graph_valid_and_invalid_payloads(wa):
    auth = {"Authorization": f"Bearer {WA_TOKEN}"}
    async with httpx.AsyncClient(base_url=wa.url, headers=auth) as client:
        ok = await client.post(
            "/v23.0/1055/messages",
            json={"messaging_product": "whatsapp", "to": "+62 812-1", "text": {"body": "Halo"}},
        )
        assert ok.status_code == 200
        body = ok.json()
        assert body["contacts"] == [{"input": "+62 812-1", "wa_id": "628121"}]
        assert body["messages"][0]["id"].startswith("wamid.")

        buttons = {
            "messaging_product": "whatsapp",
            "to": "628121",
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Status?"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "a", "title": "Bekerja"}},
                        {"type": "reply", "reply": {"id": "b", "title": "Melanjutkan studi"}},
                    ]
                },
            },
        }
        assert (await client.post("/1055/messages", json=buttons)).status_code == 200
        long_title = "Bekerja (karyawan/pegawai)"
        buttons["interactive"]["action"]["buttons"][0]["reply"]["title"] = long_title
        bad = await client.post("/1055/messages", json=buttons)
        assert bad.status_code == 400
        err = bad.json()["error"]
        assert err["code"] == 100 and err["type"] == "OAuthException"
        assert "title" in err["error_data"]["details"] and err["fbtrace_id"]

        rows = [{"id": f"r{i}", "title": f"Pilihan {i}"} for i in range(11)]
        lst = {
            "messaging_product": "whatsapp",
            "to": "628121",
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": "Pilih"},
                "action": {"button": "Pilih", "sections": [{"title": "S", "rows": rows}]},
            },
        }
        assert (await client.post("/1055/messages", json=lst)).status_code == 400
        lst["interactive"]["action"]["sections"][0]["rows"] = rows[:10]
        assert (await client.post("/1055/messages", json=lst)).status_code == 200

        tpl = {"messaging_product": "whatsapp", "to": "628121", "type": "template"}
        tpl["template"] = {"name": "pengingat"}
        assert (await client.post("/1055/messages", json=tpl)).status_code == 400
        tpl["template"]["language"] = {"code": "id"}
        r = await client.post("/1055/messages", json=tpl)
        assert r.json()["messages"][0]["message_status"] == "accepted"

        other = await client.post("/999/messages", json=tpl)
        assert other.status_code == 400
        noauth = await client.post(
            "/1055/messages", json=tpl, headers={"Authorization": "Bearer wrong"}
        )
        assert noauth.status_code == 401 and noauth.json()["error"]["code"] == 190

        media = await client.post(
            "/1055/media",
            data={"messaging_product": "whatsapp", "type": "image/png"},
            files={"file": ("c.png", b"\x89PNG", "image/png")},
        )
        assert media.status_code == 200 and media.json()["id"]

    sent = await wa.await_messages("628121", 4)
    assert [c.type for c in sent] == ["text", "interactive", "interactive", "template"]
    assert sent[1].button_titles == ["Bekerja", "Melanjutkan studi"]
    assert len(sent[2].row_ids) == 10
    assert wa.stats()["100"] == 4 and wa.stats()["190"] == 1


def test_graph_faults_24h_rule_and_rate(wa):
    wa.enforce_24h = True
    auth = {"Authorization": f"Bearer {WA_TOKEN}"}

    def send(to, kind="text"):
        payload = {"messaging_product": "whatsapp", "to": to, "type": kind}
        if kind == "text":
            payload["text"] = {"body": "hai"}
        else:
            payload["template"] = {"name": "t", "language": {"code": "id"}}
        return httpx.post(f"{wa.url}/1055/messages", json=payload, headers=auth)

    r = send("6281")
    assert r.status_code == 400 and r.json()["error"]["code"] == 131047
    assert send("6281", "template").status_code == 200
    wa.note_inbound("6281", time.time() - 25 * 3600)
    assert send("6281").json()["error"]["code"] == 131047
    wa.note_inbound("+62 81")
    assert send("6281").status_code == 200

    wa.fail_recipient("6282", 131026)
    wa.note_inbound("6282")
    assert send("6282").json()["error"]["code"] == 131026
    wa.fail_next(1, 130429)
    r = send("6281")
    assert r.status_code == 429 and r.json()["error"]["code"] == 130429
    wa.fail_next(1, status=503)
    assert send("6281").status_code == 503
    assert send("6281").status_code == 200
    wa.fail_next(1, 131056, retry_after=0.5, after=1)  # lets one through, then fails one
    assert send("6281").status_code == 200
    r = send("6281")
    assert r.json()["error"]["code"] == 131056 and r.headers["retry-after"] == "0.5"
    assert send("6281").status_code == 200

    wa.set_limits(messages_per_second=2)
    codes = [send("6281").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert [c.error_code for c in wa.errors()] == [
        131047,
        131047,
        131026,
        130429,
        2,
        131056,
        130429,
    ]


async def test_graph_webhook_helper_signs_and_notes_inbound(wa):
    got = []
    secret = "app-secret"

    async def endpoint(req):
        got.append((req.header("x-hub-signature-256"), req.body))
        return Response.text("ok")

    wa.enforce_24h = True
    with HttpServer(endpoint) as srv:
        await wa.apost_webhook(f"{srv.url}/webhooks/whatsapp", text_payload("6283", "halo"), secret)
    signature, body = got[0]
    assert signature == sign(body, secret)
    async with httpx.AsyncClient() as client:
        r = await client.post(
            f"{wa.url}/1055/messages",
            json={"messaging_product": "whatsapp", "to": "6283", "text": {"body": "hai"}},
            headers={"Authorization": f"Bearer {WA_TOKEN}"},
        )
    assert r.status_code == 200  # the posted inbound opened the 24-hour window


async def test_async_waiter_does_not_block_the_loop(wa):
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    with pytest.raises(WaitTimeout):
        await wa.await_messages("1", 1, timeout=0.2)
    task.cancel()
    assert ticks >= 5
