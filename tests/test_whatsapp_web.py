"""The WhatsApp webhook endpoint of the running process (`bot.runner.start`): Meta's
verification handshake, signatures, malformed bodies, duplicates and races, delivery statuses,
every kind of event Meta documents, and answering before the work is done.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest

from storage.models import Contact, Delivery, InboundEvent, Response
from tests.fakes.graph_api import (
    FakeGraphApi,
    contact,
    inbound_text,
    sign,
    status_event,
    webhook_envelope,
)
from tests.harness import (
    WA_APP_SECRET,
    WA_VERIFY_TOKEN,
    RunningBot,
    WhatsAppChat,
    is_our_error,
    make_settings,
    whatsapp_overrides,
)

pytestmark = pytest.mark.postgres

FIXTURES = Path(__file__).parent / "fixtures" / "whatsapp"
ADI = "0071234501"
ADI_WA = "6281234567801"  # Adi's no_hp on the roster
FIXTURE_WA = "6281234567890"  # the sender in the fixture catalogue (Siti Rahma)
MEDIA_LINE = "hanya bisa membaca"


class SlowGraphApi(FakeGraphApi):
    """The fake Graph API, taking `delay` seconds to answer (on its own thread and loop), and
    accepting a business-scoped user id as `recipient` (a person who shares no number), which
    the base fake predates."""

    delay = 0.0

    async def _handle(self, req):
        if self.delay:
            await asyncio.sleep(self.delay)
        payload = req.json
        if isinstance(payload, dict) and payload.get("recipient") and "to" not in payload:
            payload["to"] = payload["recipient"]
        return await super()._handle(req)


@pytest.fixture
async def graph():
    async with SlowGraphApi() as api:
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


async def nothing_stored(bot: RunningBot) -> None:
    for model in (Contact, InboundEvent, Delivery, Response):
        assert await bot.count(model) == 0, model.__name__


async def test_verification_handshake_and_health(bot):
    http, url = bot.http, bot.whatsapp_url
    ok = await http.get(
        url,
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": WA_VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": WA_VERIFY_TOKEN, "hub.challenge": "1"},
        {},
    ):
        refused = await http.get(url, params=params)
        assert refused.status_code == 403 and "1" not in refused.text, params
    health = await http.get(f"{bot.base_url}/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["channels"]["whatsapp"]["mode"] == "webhook"
    assert body["channels"]["whatsapp"]["ok"] is True
    assert body["channels"]["whatsapp"]["quality_rating"] == "GREEN"


async def test_healthz_is_503_once_the_graph_api_rejects_the_access_token(bot, graph):
    """An expired or revoked access token: webhooks still arrive and are answered 200, but
    nothing can be sent. /healthz asks the Graph API for the phone number and says so."""
    graph.access_token = "ROTATED-IN-META"
    bot.running.whatsapp.probe.ttl = 0  # ask again now rather than within the 30 s cache
    health = await bot.http.get(f"{bot.base_url}/healthz")
    assert health.status_code == 503
    whatsapp = health.json()["channels"]["whatsapp"]
    assert whatsapp["ok"] is False and "WHATSAPP_ACCESS_TOKEN" in whatsapp["error"]
    assert [c.status for c in graph.calls("phone_get")][-1] == 401


async def test_wrong_or_missing_signature_is_refused_and_nothing_stored(bot, graph):
    chat = WhatsAppChat(bot, graph, ADI_WA)
    payload = chat.envelope(inbound_text(ADI_WA, "halo"))
    body = json.dumps(payload).encode()
    other = json.dumps(chat.envelope(inbound_text(ADI_WA, "lain"))).encode()
    valid = sign(body, WA_APP_SECRET)
    for signature in (
        "",  # no header
        "sha256=" + "0" * 64,
        sign(body, "another-app-secret"),
        sign(other, WA_APP_SECRET),  # a valid signature of another body
        valid.replace("sha256=", "sha1="),
        valid[:-2],
        "garbage",
    ):
        response = await chat.post(body, signature=signature)
        assert response.status_code == 403, signature
    await bot.settle()
    assert graph.sent() == []
    await nothing_stored(bot)
    # the same body correctly signed is taken
    response = await chat.post(body, signature=valid)
    assert response.status_code == 200
    await bot.settle()
    assert "Apakah Anda setuju?" in graph.texts(ADI_WA)[-1]


async def test_malformed_body_is_400_and_logged_without_personal_data(bot, graph, caplog):
    caplog.set_level(logging.DEBUG)
    chat = WhatsAppChat(bot, graph, ADI_WA, name="Adi Pratama")
    good = chat.envelope(inbound_text(ADI_WA, "NISN 0071234501 lahir 14-03-2007"))
    not_a_list = json.loads(json.dumps(good))
    not_a_list["entry"][0]["changes"][0]["value"]["messages"] = {"from": ADI_WA}
    bad_message = json.loads(json.dumps(good))
    bad_message["entry"][0]["changes"][0]["value"]["messages"][0] = f"{ADI_WA} Adi Pratama"
    bodies = [
        b'{"object": "whatsapp_business_account", "entry": [' + ADI_WA.encode(),  # cut short
        b"\xff\xfe Adi Pratama " + ADI_WA.encode(),  # not UTF-8
        json.dumps([good]).encode(),
        json.dumps({"object": "whatsapp_business_account"}).encode(),
        json.dumps({"object": "whatsapp_business_account", "entry": ADI_WA}).encode(),
        json.dumps(not_a_list).encode(),
        json.dumps(bad_message).encode(),
        b"[" * 100_000 + b"]" * 100_000,
    ]
    for body in bodies:
        response = await chat.post(body)
        assert response.status_code == 400, body[:80]
    await bot.settle()
    assert graph.sent() == []
    await nothing_stored(bot)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "malformed whatsapp webhook" in logged
    for secret in (ADI_WA, "Adi Pratama", "0071234501", "14-03-2007", "Pratama"):
        assert secret not in logged


async def test_same_wamid_twice_or_racing_is_processed_once(bot, graph):
    chat = WhatsAppChat(bot, graph, ADI_WA)
    await chat.send("halo")
    await chat.tap("Setuju")
    await chat.send("14-03-2007")
    await chat.tap("Ya")
    # Meta redelivers the same message
    again = inbound_text(ADI_WA, "bekerja", wamid="wamid.DUPLICATE0001")
    await chat.deliver(again)
    assert "perusahaan/instansi" in chat.last_text()
    await chat.deliver(again, expect_reply=False)
    assert chat.batch == []
    # two deliveries of one message race each other
    racing = chat.envelope(inbound_text(ADI_WA, "PT Satu", wamid="wamid.RACE0001"))
    responses = await asyncio.gather(chat.post(racing), chat.post(racing))
    assert [r.status_code for r in responses] == [200, 200]
    await bot.settle()
    new = chat.new_messages()
    assert len(new) == 1 and "jabatan" in (new[0].text or "")
    [(response, answers)] = await bot.responses(ADI)
    assert answers == {"status": "bekerja", "employer": "PT Satu"}
    # and a different message still counts
    text = await chat.send("Teknisi")
    assert "Jenis tempat kerja" in text


async def test_status_events_are_recorded_and_undeliverable_marks_unreachable(bot, graph):
    chat = WhatsAppChat(bot, graph, ADI_WA)
    await chat.send("halo")
    await chat.tap("Setuju")
    first, second = graph.sent(ADI_WA)
    deliveries = {d.external_id: d for d in await bot.deliveries()}
    assert set(deliveries) == {first.message_id, second.message_id}
    assert all(d.status == "accepted" and d.contact_id for d in deliveries.values())

    async def statuses(*events):
        response = await chat.post(webhook_envelope(statuses=events))
        assert response.status_code == 200
        await bot.settle()
        return {d.external_id: d for d in await bot.deliveries()}

    rows = await statuses(
        status_event(first.message_id, ADI_WA, "sent"),
        status_event(first.message_id, ADI_WA, "delivered"),
    )
    assert rows[first.message_id].status == "delivered"
    rows = await statuses(status_event(first.message_id, ADI_WA, "read"))
    assert rows[first.message_id].status == "read"
    # a late "delivered" does not undo "read"
    rows = await statuses(status_event(first.message_id, ADI_WA, "delivered"))
    assert rows[first.message_id].status == "read"
    # failed: the error is recorded with the message
    rows = await statuses(status_event(second.message_id, ADI_WA, "failed", error_code=131049))
    assert rows[second.message_id].status == "failed"
    assert rows[second.message_id].error_code == "131049"
    assert "healthy ecosystem" in rows[second.message_id].error_title
    assert (await bot.contact("whatsapp", ADI_WA)).unreachable_at is None
    # a status for a message this process never recorded (another deployment): kept, no crash
    rows = await statuses(status_event("wamid.NOTOURS01", ADI_WA, "delivered"))
    assert rows["wamid.NOTOURS01"].status == "delivered"
    # 131026 (not on WhatsApp / cannot receive): the contact is unreachable
    rows = await statuses(status_event(second.message_id, ADI_WA, "failed", error_code=131026))
    assert rows[second.message_id].error_code == "131026"
    contact_row = await bot.contact("whatsapp", ADI_WA)
    assert contact_row.unreachable_at is not None
    assert "131026" in contact_row.unreachable_reason
    assert graph.sent(ADI_WA) == [first, second]  # statuses are never answered


async def test_status_may_arrive_before_the_send_is_recorded(bot, graph):
    """Meta's "sent" can reach us before the reply's own bookkeeping: one row, both facts."""
    chat = WhatsAppChat(bot, graph, ADI_WA)
    graph.delay = 0.3  # the bot waits for the Graph API while the status comes in
    response = await chat.post(chat.envelope(inbound_text(ADI_WA, "halo")))
    assert response.status_code == 200
    wamid = (await graph.await_messages(ADI_WA, 1))[0].message_id
    await chat.post(webhook_envelope(statuses=[status_event(wamid, ADI_WA, "delivered")]))
    graph.delay = 0
    await bot.settle()
    [row] = await bot.deliveries()
    assert (row.external_id, row.status, row.kind) == (wamid, "delivered", "reply")
    assert row.contact_id is not None


async def test_a_reply_to_an_undeliverable_number_marks_it_unreachable(bot, graph):
    chat = WhatsAppChat(bot, graph, ADI_WA)
    await chat.send("halo")
    graph.fail_recipient(ADI_WA, 131026)
    await chat.deliver(inbound_text(ADI_WA, "Setuju"), expect_reply=False)
    contact_row = await bot.contact("whatsapp", ADI_WA)
    assert contact_row.unreachable_at is not None
    assert graph.errors(131026)


async def test_every_fixture_of_the_catalogue_is_taken(bot, graph):
    """Each documented payload shape gets 200; media, stickers, locations, contacts and
    unsupported messages get the polite line; reactions, system notices, statuses and errors
    get nothing; several messages / entries in one POST are all handled."""
    chat = WhatsAppChat(bot, graph, FIXTURE_WA, name="Siti Rahma")
    await chat.send("halo")  # now at the consent question
    polite = {
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "unsupported",
        "order",
    }
    silent = {
        "reaction",
        "reaction_removed",
        "system",
        "request_welcome",
        "status_sent",
        "status_delivered",
        "status_read",
        "status_failed",
        "status_failed_undeliverable",
        "value_errors",
    }
    seen = set()
    for path in sorted(FIXTURES.glob("*.json")):
        name = path.stem
        response = await chat.post(path.read_bytes())
        assert response.status_code == 200, name
        await bot.settle()
        new = chat.new_messages()
        if name in polite:
            assert len(new) == 1 and MEDIA_LINE in (new[0].text or ""), name
        elif name in silent:
            assert new == [], name
        seen.add(name)
    assert polite | silent <= seen
    assert await bot.count(InboundEvent) > len(polite)
    # the BSUID sender (no phone number shared) was answered by user id
    assert any(c.payload.get("recipient") == "ID.13491208655302741918" for c in graph.sent())


async def test_several_messages_and_entries_in_one_post(bot, graph):
    adi = WhatsAppChat(bot, graph, ADI_WA, name="Adi")
    for step in ("halo", "Setuju", "14-03-2007", "Ya"):
        await adi.send(step)
    other = WhatsAppChat(bot, graph, "6289900003333", name="Tamu")
    body = webhook_envelope(
        messages=[
            inbound_text(ADI_WA, "bekerja"),
            inbound_text("6289900003333", "halo"),
            inbound_text(ADI_WA, "PT Banyak"),
        ],
        contacts=[contact(ADI_WA, "Adi"), contact("6289900003333", "Tamu")],
    )
    second = webhook_envelope(messages=[inbound_text(ADI_WA, "Staf Gudang")])
    body["entry"].extend(second["entry"])
    body["entry"][0]["changes"][0]["value"]["brand_new_field"] = {"x": [1, 2]}
    body["brand_new_top_level"] = True
    response = await adi.post(body)
    assert response.status_code == 200
    await bot.settle()
    assert [c.text for c in adi.new_messages()][-1].startswith("Jenis tempat kerja")
    assert "Apakah Anda setuju?" in (other.new_messages()[0].text or "")
    [(_, answers)] = await bot.responses(ADI)
    assert answers == {"status": "bekerja", "employer": "PT Banyak", "job_title": "Staf Gudang"}


async def test_answers_200_at_once_while_the_work_runs_in_the_background(bot, graph):
    chat = WhatsAppChat(bot, graph, ADI_WA)
    graph.delay = 1.5  # a slow Graph API
    started = time.perf_counter()
    response = await chat.post(chat.envelope(inbound_text(ADI_WA, "halo")))
    took = time.perf_counter() - started
    assert response.status_code == 200 and took < 1.0, took
    assert graph.sent(ADI_WA) == []  # the reply is still on its way
    await bot.settle()
    graph.delay = 0
    assert "Apakah Anda setuju?" in graph.texts(ADI_WA)[-1]
