"""WhatsAppClient against the fake Graph API on 127.0.0.1 (real httpx, real sockets)."""

from __future__ import annotations

import inspect
import logging
import socket

import pytest

from bot.channels.base import Sender, SendStatus, Template
from bot.channels.whatsapp_api import WhatsAppClient, WhatsAppError, classify_error, retry_delay
from bot.channels.whatsapp_events import decode_reply_id
from conversations.types import InputKind, Option, Reply
from tests.fakes import FakeGraphApi, HttpServer, Response

TOKEN = "TEST-ACCESS-TOKEN"
PNID = "106540352242922"
TO = "6281234567890"

STATUS = (
    Option("bekerja", "Bekerja", "Bekerja"),
    Option("wirausaha", "Wirausaha", "Wirausaha"),
    Option("melanjutkan", "Kuliah / melanjutkan", "Kuliah"),
    Option("kursus", "Kursus / pelatihan", "Kursus"),
    Option("mencari_kerja", "Belum bekerja, sedang mencari", "Mencari kerja"),
    Option("tidak_mencari", "Belum bekerja, tidak mencari", "Tidak mencari"),
)


@pytest.fixture
def graph():
    with FakeGraphApi(TOKEN, phone_number_id=PNID) as api:
        yield api


@pytest.fixture
async def wa(graph):
    async with WhatsAppClient(graph.versioned_url, PNID, TOKEN, timeout=5) as client:
        yield client


async def test_client_implements_the_sender_protocol(wa):
    sender: Sender = wa
    assert sender.channel == "whatsapp"
    params = inspect.signature(wa.send).parameters
    assert list(params)[:2] == ["address", "reply"]
    assert params["template"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["template"].default is None


async def test_text_reply_is_sent_and_its_id_returned(wa, graph):
    result = await wa.send(TO, Reply("Halo Siti! Terima kasih sudah membalas."))
    assert result.status is SendStatus.SENT
    [call] = await graph.await_messages(TO)
    assert call.text == "Halo Siti! Terima kasih sudah membalas."
    assert result.external_id == call.message_id and result.external_id.startswith("wamid.")


async def test_choices_are_sent_as_list_and_buttons_the_fake_accepts(wa, graph):
    assert (await wa.send(TO, Reply("Apa kegiatanmu?", "status", STATUS))).status is SendStatus.SENT
    assert (await wa.send(TO, Reply("Status?", "status", STATUS[3:]))).status is SendStatus.SENT
    lst, buttons = await graph.await_messages(TO, 2)
    assert lst.interactive["type"] == "list"
    assert [decode_reply_id(r).value for r in lst.row_ids] == [o.code for o in STATUS]
    assert buttons.button_titles == ["Kursus", "Mencari kerja", "Tidak mencari"]
    decoded = decode_reply_id(buttons.button_ids[1])
    assert (decoded.kind, decoded.question, decoded.value) == (
        InputKind.CHOICE,
        "status",
        "mencari_kerja",
    )
    assert graph.errors() == []


async def test_long_reply_goes_out_as_several_messages_in_order(wa, graph):
    text = "\n\n".join(f"Bagian {i}. " + "isi " * 300 for i in range(5))
    result = await wa.send(TO, Reply(text))
    assert result.status is SendStatus.SENT
    calls = graph.sent(TO)
    assert len(calls) >= 2 and calls[0].text.startswith("Bagian 0")
    assert result.external_id == calls[-1].message_id


async def test_template_replaces_the_reply(wa, graph):
    graph.register_template("jejak_pengingat", "id", body_params=2, quick_replies=1)
    template = Template("jejak_pengingat", "id", ("Siti", "SMK Contoh"), ("a:resume",))
    result = await wa.send(TO, Reply("ignored"), template=template)
    assert result.status is SendStatus.SENT
    [call] = await graph.await_messages(TO)
    assert call.template_name == "jejak_pengingat" and call.template_language == "id"
    wrong = await wa.send(TO, Reply("x"), template=Template("jejak_pengingat", "id", ("Siti",)))
    assert (wrong.status, wrong.error_code) == (SendStatus.FAILED, "132000")
    # a quick-reply payload for a button the approved template does not have
    extra = Template("jejak_pengingat", "id", ("Siti", "SMK"), ("a:resume", "a:stop"))
    refused = await wa.send(TO, Reply("x"), template=extra)
    assert (refused.status, refused.error_code) == (SendStatus.FAILED, "132000")


async def test_24_hour_window_needs_a_template(wa, graph):
    graph.enforce_24h = True
    result = await wa.send(TO, Reply("Halo lagi"))
    assert (result.status, result.error_code) == (SendStatus.NEEDS_TEMPLATE, "131047")
    assert result.retry_after is None
    graph.note_inbound(TO)
    assert (await wa.send(TO, Reply("Halo lagi"))).status is SendStatus.SENT


@pytest.mark.parametrize(
    ("code", "status", "retry_after"),
    [
        (130429, SendStatus.RETRY, 2.0),
        (131056, SendStatus.RETRY, 6.0),
        (131000, SendStatus.RETRY, 5.0),
        (131048, SendStatus.RETRY, 3600.0),
        (131049, SendStatus.RETRY, 12 * 3600.0),
        (1, SendStatus.RETRY, 5.0),
        (2, SendStatus.RETRY, 30.0),
        (131026, SendStatus.UNREACHABLE, None),
        (131047, SendStatus.NEEDS_TEMPLATE, None),
        (100, SendStatus.FAILED, None),
        (132001, SendStatus.FAILED, None),
    ],
)
async def test_api_errors_are_classified(wa, graph, code, status, retry_after):
    graph.fail_next(1, code)
    result = await wa.send(TO, Reply("Halo"))
    assert (result.status, result.error_code, result.retry_after) == (
        status,
        str(code),
        retry_after,
    )
    assert result.error  # a short message is recorded
    # the fault was consumed: the next send goes through
    assert (await wa.send(TO, Reply("Halo"))).status is SendStatus.SENT


async def test_blocked_recipient_is_unreachable_every_time(wa, graph):
    graph.fail_recipient(TO, 131026)
    for _ in range(2):
        assert (await wa.send(TO, Reply("Halo"))).status is SendStatus.UNREACHABLE
    assert (await wa.send("6289900001111", Reply("Halo"))).status is SendStatus.SENT


async def test_bad_token_fails_with_a_clear_error(graph, caplog):
    async with WhatsAppClient(graph.url, PNID, "WRONG-TOKEN") as client:
        with caplog.at_level(logging.WARNING, logger="bot.channels.whatsapp_api"):
            result = await client.send(TO, Reply("Halo"))
    assert (result.status, result.error_code) == (SendStatus.FAILED, "190")
    assert "WHATSAPP_ACCESS_TOKEN" in result.error
    assert "WRONG-TOKEN" not in caplog.text and "190" in caplog.text


async def test_server_error_without_code_retries(wa, graph):
    graph.fail_next(1, status=503)
    result = await wa.send(TO, Reply("Halo"))
    assert result.status is SendStatus.RETRY and result.retry_after > 0


async def test_logs_never_carry_the_phone_number(wa, graph, caplog):
    graph.fail_next(1, 131026, details=f"Recipient +{TO} cannot receive messages")
    with caplog.at_level(logging.DEBUG, logger="bot.channels.whatsapp_api"):
        result = await wa.send(TO, Reply("Halo"))
    assert result.status is SendStatus.UNREACHABLE
    assert "131026" in caplog.text
    assert TO not in caplog.text and TO not in (result.error or "")


async def test_upload_and_send_document_and_image(wa, graph):
    data = b"PK\x03\x04 fake xlsx"
    media_id = await wa.upload_media(data, "application/vnd.ms-excel", "rekap.xlsx")
    [upload] = graph.calls("media")
    assert upload.files["file"].data == data and upload.files["file"].filename == "rekap.xlsx"
    doc = await wa.send_document(TO, media_id, "rekap.xlsx", "Rekap XII TKJ 1")
    img = await wa.send_image(TO, media_id, "Grafik")
    assert doc.status is SendStatus.SENT and img.status is SendStatus.SENT
    doc_call, img_call = await graph.await_messages(TO, 2)
    assert doc_call.payload["document"] == {
        "id": media_id,
        "filename": "rekap.xlsx",
        "caption": "Rekap XII TKJ 1",
    }
    assert img_call.payload["image"]["id"] == media_id


async def test_upload_failure_raises_with_the_classified_result(graph):
    async with WhatsAppClient(graph.url, PNID, "WRONG") as client:
        with pytest.raises(WhatsAppError) as info:
            await client.upload_media(b"x", "image/png", "a.png")
    assert info.value.result.status is SendStatus.FAILED
    assert info.value.result.error_code == "190"


async def test_mark_read(wa, graph):
    assert (await wa.mark_read("wamid.IN1")).status is SendStatus.SENT
    [call] = graph.calls("read")
    assert call.payload["message_id"] == "wamid.IN1"


async def test_empty_reply_is_not_sent(wa, graph):
    result = await wa.send(TO, Reply("   "))
    assert result.status is SendStatus.FAILED and graph.calls() == []


# --- errors the fake cannot produce: a tiny server of our own -------------------------------


async def test_retry_after_header_and_network_errors():
    async def handler(request):
        return Response.json(
            {"error": {"message": "(#4) Application request limit reached", "code": 4}},
            429,
            headers={"Retry-After": "17"},
        )

    with HttpServer(handler) as server:
        async with WhatsAppClient(server.url, PNID, TOKEN) as client:
            result = await client.send(TO, Reply("Halo"))
    assert (result.status, result.error_code, result.retry_after) == (SendStatus.RETRY, "4", 17.0)

    # nothing listens on the port any more: a network error, retried
    async with WhatsAppClient(server.url, PNID, TOKEN) as client:
        result = await client.send(TO, Reply("Halo"), attempt=2)
    assert (result.status, result.error_code, result.retry_after) == (
        SendStatus.RETRY,
        "network",
        20.0,
    )


async def test_timeout_is_retried():
    # a listening socket that never answers
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with WhatsAppClient(url, PNID, TOKEN, timeout=0.2) as client:
            result = await client.send(TO, Reply("Halo"))
    assert (result.status, result.error_code) == (SendStatus.RETRY, "timeout")


async def test_failure_in_a_later_part_is_reported_with_its_position():
    bodies = []

    async def handler(request):
        bodies.append(request.json)
        if len(bodies) == 2:
            return Response.json(
                {"error": {"message": "(#131000) Something went wrong", "code": 131000}}, 500
            )
        return Response.json({"messages": [{"id": f"wamid.{len(bodies)}"}]})

    text = "\n\n".join(f"Bagian {i}. " + "isi " * 1000 for i in range(3))  # three messages
    with HttpServer(handler) as server:
        async with WhatsAppClient(server.url, PNID, TOKEN) as client:
            result = await client.send(TO, Reply(text))
    assert len(bodies) == 2  # stopped at the failure
    assert bodies[0]["text"]["body"].startswith("Bagian 0")
    assert result.status is SendStatus.RETRY and result.error.startswith("part 2/3")


def test_classify_error_table():
    assert classify_error(400, 131047) == (SendStatus.NEEDS_TEMPLATE, None)
    assert classify_error(None, 131026) == (SendStatus.UNREACHABLE, None)  # from a status webhook
    assert classify_error(429, None) == (SendStatus.RETRY, 5.0)
    assert classify_error(429, None, retry_after="3") == (SendStatus.RETRY, 3.0)
    assert classify_error(429, 130429, retry_after="soon") == (SendStatus.RETRY, 2.0)
    assert classify_error(400, 80007, attempt=1) == (SendStatus.RETRY, 120.0)
    assert classify_error(500, 12345) == (SendStatus.RETRY, 5.0)
    assert classify_error(400, 131051) == (SendStatus.FAILED, None)
    assert classify_error(400, 131050) == (SendStatus.FAILED, None)
    assert classify_error(401, 190) == (SendStatus.FAILED, None)
    assert classify_error(400, None) == (SendStatus.FAILED, None)


def test_retry_delay_doubles_and_is_capped():
    assert [retry_delay(2.0, a) for a in range(4)] == [2.0, 4.0, 8.0, 16.0]
    assert retry_delay(5.0, 50) == 3600.0
    assert retry_delay(12 * 3600.0, 3) == 12 * 3600.0  # a long base is kept, not doubled
