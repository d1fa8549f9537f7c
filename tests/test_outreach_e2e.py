"""Outreach end to end (real database):

Telegram (real PTB against the fake Bot API):
- exactly once across a crash: a dispatcher subprocess is killed with SIGKILL in the middle of
  a broadcast and a new one takes over; the fake server sees every recipient, each once;
- the "Saya berminat" button records interest and confirms; /peminat lists it for BKK staff;
  /lowongan creates and publishes a vacancy by chat.
WhatsApp (the process `jejak run` starts, its real webhook, the fake Graph API):
- the running scheduler sends a published vacancy through the WhatsApp channel (a Delivery row
  per message, biz_opaque_callback_data "outbox:<id>"), as a message inside the 24-hour
  window and as the template outside it; the "Saya berminat" button, list row and template
  quick reply record interest once per person;
- the crash rule: a row cut off mid-send is confirmed `sent` by Meta's status webhook
  (before or after it turned `unknown`); one without a status stays `unknown`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from bot.outreach.dispatcher import build_dispatcher
from bot.outreach.planner import publish_vacancy
from bot.vacancy_hooks import install
from storage import staff as staff_store
from storage import vacancies
from storage.models import Alumnus, Contact, OutboxMessage, Response, VacancyInterest, utcnow
from tests.fakes.graph_api import (
    FakeGraphApi,
    inbound_list_reply,
    status_event,
    status_for,
)
from tests.fakes.telegram_api import FakeBotApi
from tests.harness import (
    BotUnderTest,
    OffsetClock,
    RunningBot,
    WhatsAppChat,
    make_settings,
    whatsapp_overrides,
)

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[1]
FIRST_CHAT = 5000


@pytest.fixture
async def fake_api():
    with FakeBotApi() as api:
        yield api


@pytest.fixture
async def bot(fake_api, db_url, db):
    under_test = BotUnderTest(
        make_settings(
            db_url,
            telegram_bot_token=fake_api.token,
            telegram_api_url=fake_api.url,
            quiet_hours_start="00:00",
            quiet_hours_end="00:00",
        )
    )
    await under_test.start(seed=False)
    install(under_test.core)
    yield under_test
    await under_test.stop()


def wa_number(i: int) -> str:
    return f"62812{i:07d}"


async def seed_seekers(
    core, n: int, *, channel: str = "telegram", last_inbound: list[timedelta] | None = None
) -> None:
    """n job-seekers who consented to vacancies, each with one linked chat (Telegram chat
    FIRST_CHAT + i, or WhatsApp number wa_number(i)) whose person last wrote
    `last_inbound[i]` ago (default 3 days)."""
    now = utcnow()
    async with core.db.session() as s:
        first = 100_000
        await s.execute(
            insert(Alumnus),
            [
                dict(
                    id=first + i,
                    school_id=core.school.id,
                    nisn=f"{first + i:010d}",
                    name=f"Pencari {i}",
                    birth_date=date(2007, 1, 1),
                    kelas=f"XII TKJ {1 + i % 2}",
                    jurusan="TKJ",
                    graduation_year=2025,
                    consent_vacancies=True,
                    phone=f"62812{i:07d}",
                )
                for i in range(n)
            ],
        )
        await s.execute(
            insert(Contact),
            [
                dict(
                    channel=channel,
                    address=str(FIRST_CHAT + i) if channel == "telegram" else wa_number(i),
                    alumnus_id=first + i,
                    language="id",
                    state={"stage": "done", "lang": "id"},
                    last_inbound_at=now - (last_inbound[i] if last_inbound else timedelta(days=3)),
                )
                for i in range(n)
            ],
        )
        await s.execute(
            insert(Response),
            [
                dict(
                    alumnus_id=first + i,
                    channel="telegram",
                    source="chat",
                    status="mencari_kerja",
                    started_at=now - timedelta(days=3),
                    completed_at=now - timedelta(days=3),
                )
                for i in range(n)
            ],
        )
        await s.commit()


async def new_vacancy(core, **kw) -> int:
    async with core.db.session() as s:
        v = await vacancies.create_vacancy(
            s,
            core.school.id,
            company=kw.get("company", "PT Maju Jaya"),
            position=kw.get("position", "Teknisi Jaringan"),
            majors=["TKJ"],
            location="Bekasi",
            deadline=date.today() + timedelta(days=30),
        )
        await s.commit()
        return v.id


async def publish(core, vacancy_id: int) -> int:
    return await publish_vacancy(
        core.db,
        vacancy_id,
        school_id=core.school.id,
        school_name=core.school.name,
        cat=core.flow.catalogue,
        settings=core.settings,
        zone=core.settings.zone,
        now=utcnow(),
    )


def start_worker(db_url: str, api: FakeBotApi, rate: float, lease: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.outreach_worker",
            db_url,
            api.url,
            api.token,
            str(rate),
            str(lease),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return proc


async def outbox_statuses(core) -> Counter:
    async with core.db.session() as s:
        return Counter((await s.execute(select(OutboxMessage.status))).scalars().all())


async def test_broadcast_exactly_once_across_sigkill(bot, fake_api, db_url):
    n = 40
    core = bot.core
    await seed_seekers(core, n)
    vacancy_id = await new_vacancy(core)
    assert await publish(core, vacancy_id) == n
    assert await publish(core, vacancy_id) == 0  # publish twice: nothing more

    worker = start_worker(db_url, fake_api, rate=10, lease=1.0)
    try:
        await fake_api.await_messages(n=12, timeout=30)
        # at 10/s a send takes a few ms of every 100: the kill almost always lands between
        # sends; if it lands in one, that row stays `sending` and becomes `unknown`
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    at_kill = len(fake_api.messages())
    assert 12 <= at_kill < n

    worker = start_worker(db_url, fake_api, rate=10, lease=1.0)
    try:
        for _ in range(600):  # up to 60 s on a loaded machine
            st = await outbox_statuses(core)
            if st["pending"] == 0 and st["sending"] == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(10)
    st = await outbox_statuses(core)
    received = Counter(int(c.chat_id) for c in fake_api.messages())
    assert max(received.values()) == 1, "someone got the vacancy twice"
    assert set(st) <= {"sent", "unknown"} and st["unknown"] <= 1, st
    if st["unknown"] == 0:
        assert set(received) == {FIRST_CHAT + i for i in range(n)}
    else:  # the kill landed mid-request: that one person may or may not have it
        assert len(received) >= n - 1
    assert st["sent"] + st["unknown"] == n


async def test_interest_button_and_staff_commands(bot, fake_api):
    core = bot.core
    await seed_seekers(core, 3)
    vacancy_id = await new_vacancy(core)
    assert await publish(core, vacancy_id) == 3
    telegram = bot.telegram
    await build_dispatcher(core, {"telegram": telegram}).dispatch_due()
    chat = FIRST_CHAT + 1
    (vacancy_message,) = await fake_api.await_new_messages(chat, 1, timeout=10)
    text = vacancy_message.text
    assert "Teknisi Jaringan — PT Maju Jaya" in text and "Bekasi" in text
    assert [b["text"] for row in fake_api.last_keyboard(chat) for b in row] == ["Saya berminat"]
    assert fake_api.last_keyboard(chat)[0][0]["callback_data"] == f"a:interest:{vacancy_id}"

    # the tap carries the person's Telegram @username: kept on the chat for the BKK
    fake_api.tap(chat, "Saya berminat", username="pencari_satu")
    (reply,) = await fake_api.await_new_messages(chat, 1, timeout=10)
    assert "sudah kami catat" in reply.text
    fake_api.push_callback(chat, f"a:interest:{vacancy_id}", username="pencari_satu")  # again
    (again,) = await fake_api.await_new_messages(chat, 1, timeout=10)
    assert "sudah tercatat" in again.text
    # another one taps without a username (and has a phone number in the roster)
    other = FIRST_CHAT + 2
    await fake_api.await_new_messages(other, 1, timeout=10)
    fake_api.tap(other, "Saya berminat")
    await fake_api.await_new_messages(other, 1, timeout=10)
    async with core.db.session() as s:
        interests = (await s.execute(select(VacancyInterest))).scalars().all()
        assert len(interests) == 2
        people = {p.name: p for p in await vacancies.interested(s, vacancy_id)}
    assert people["Pencari 1"].username == "pencari_satu" and people["Pencari 2"].username is None

    # BKK staff: /peminat lists them; an alumnus may not use it
    async with core.db.session() as s:
        await staff_store.add_staff(s, core.school.id, role="bkk", name="Bu BKK", telegram_id="777")
    fake_api.push_text(777, f"/peminat {vacancy_id}")
    (listing,) = await fake_api.await_new_messages(777, 1, timeout=10)
    assert "Pencari 1" in listing.text and "XII TKJ" in listing.text
    assert "Telegram t.me/pencari_satu; HP +628120000001" in listing.text
    assert "Telegram (tanpa username); HP +628120000002" in listing.text
    assert "chat" not in listing.text.lower() and str(chat) not in listing.text
    fake_api.push_text(chat, f"/peminat {vacancy_id}")
    (refused,) = await fake_api.await_new_messages(chat, 1, timeout=10)
    # an alumnus learns nothing: the questionnaire answers as to any text (bot/staff.py's rule)
    fake_api.push_text(chat, "/tidak_ada_perintah_ini")
    (control,) = await fake_api.await_new_messages(chat, 1, timeout=10)
    assert refused.text == control.text and "Pencari" not in refused.text

    # /lowongan: a guided conversation that publishes
    steps = [
        ("/lowongan", "Nama perusahaan"),
        ("CV Sinar", "Posisi"),
        ("Admin Gudang", "Jurusan yang ada: TKJ"),
        ("MESIN", "tidak dikenal"),
        ("tkj", "Lokasi"),
        ("Cikarang", "Batas lamaran"),
        ("01-01-2020", "sudah lewat"),
        ((date.today() + timedelta(days=10)).strftime("%d-%m-%Y"), "Cara melamar"),
        ("-", "Kirim ke 3 lulusan"),
        ("YA", "diterbitkan: 3 pesan"),
    ]
    for text_in, expected in steps:
        fake_api.push_text(777, text_in)
        (out,) = await fake_api.await_new_messages(777, 1, timeout=10)
        assert expected in out.text, (text_in, out.text)
    async with core.db.session() as s:
        queued = (
            (
                await s.execute(
                    select(OutboxMessage).where(OutboxMessage.idempotency_key.like("vacancy:2:%"))
                )
            )
            .scalars()
            .all()
        )
    assert len(queued) == 3 and "CV Sinar" in queued[0].payload["text"]


# ---- WhatsApp: the process `jejak run` starts ---------------------------------------------
@pytest.fixture
async def graph():
    async with FakeGraphApi() as api:
        yield api


@pytest.fixture
async def wa_bot(graph, db_url, db):
    under_test = RunningBot(
        make_settings(
            db_url, **whatsapp_overrides(graph), quiet_hours_start="00:00", quiet_hours_end="00:00"
        )
    )
    await under_test.start(seed=False)
    yield under_test
    await under_test.stop()


async def outbox_rows(core) -> dict[str, OutboxMessage]:
    async with core.db.session() as s:
        rows = (await s.execute(select(OutboxMessage))).scalars().all()
    return {r.address: r for r in rows}


async def test_whatsapp_vacancy_through_the_channel_and_interest(wa_bot, graph):
    """Through `jejak run`'s own scheduler: the WhatsApp channel sends (Delivery rows, the
    outbox id as biz_opaque_callback_data); "Saya berminat" by button, list row and template
    quick reply: interest recorded once per person and confirmed."""
    core = wa_bot.core
    await seed_seekers(
        core,
        3,
        channel="whatsapp",
        last_inbound=[timedelta(hours=1), timedelta(hours=2), timedelta(days=3)],
    )
    vacancy_id = await new_vacancy(core)
    assert await publish(core, vacancy_id) == 3
    await graph.await_messages(n=3, timeout=20)  # the running scheduler dispatches them
    rows = await outbox_rows(core)
    for _ in range(100):  # the outcome is committed right after Meta's answer
        if all(r.status == "sent" for r in rows.values()):
            break
        await asyncio.sleep(0.1)
        rows = await outbox_rows(core)
    assert {a: r.status for a, r in rows.items()} == {wa_number(i): "sent" for i in range(3)}

    sent = {c.to: c for c in graph.sent()}
    assert set(sent) == {wa_number(i) for i in range(3)}
    for i in range(3):
        call, row = sent[wa_number(i)], rows[wa_number(i)]
        assert call.payload["biz_opaque_callback_data"] == f"outbox:{row.id}"
        assert row.external_id == call.message_id
    assert sent[wa_number(0)].button_ids == [f"a:interest:{vacancy_id}"]
    assert sent[wa_number(0)].button_titles == ["Saya berminat"]
    template = sent[wa_number(2)]
    assert template.template_name == core.settings.whatsapp_template_vacancy
    (button,) = [c for c in template.payload["template"]["components"] if c["type"] == "button"]
    assert button["parameters"][0]["payload"] == f"a:interest:{vacancy_id}"
    # the channel sent them: each message has its Delivery row, so statuses find it
    deliveries = {d.external_id: d for d in await wa_bot.deliveries()}
    assert {c.message_id for c in sent.values()} <= set(deliveries)
    assert deliveries[template.message_id].kind == "template"
    assert deliveries[sent[wa_number(0)].message_id].kind == "reply"
    first = WhatsAppChat(wa_bot, graph, wa_number(0))
    status = await first.post(first.envelope(statuses=[status_for(sent[wa_number(0)], "read")]))
    assert status.status_code == 200
    await wa_bot.settle()
    deliveries = {d.external_id: d for d in await wa_bot.deliveries()}
    assert deliveries[sent[wa_number(0)].message_id].status == "read"

    first.new_messages()  # what the person has seen so far
    text = await first.tap("Saya berminat")  # the reply button
    assert "sudah kami catat" in text and "Teknisi Jaringan" in text
    again = await first.deliver(
        inbound_list_reply(wa_number(0), f"a:interest:{vacancy_id}", "Saya berminat")
    )
    assert "sudah tercatat" in again
    third = WhatsAppChat(wa_bot, graph, wa_number(2))
    third.new_messages()
    text = await third.tap_template(f"a:interest:{vacancy_id}", "Saya berminat")
    assert "sudah kami catat" in text
    async with core.db.session() as s:
        interests = (await s.execute(select(VacancyInterest))).scalars().all()
        people = await vacancies.interested(s, vacancy_id)
    assert sorted(i.alumnus_id for i in interests) == [100_000, 100_002]
    assert sorted(p.name for p in people) == ["Pencari 0", "Pencari 2"]


class DiesAfterRequest:
    """The WhatsApp channel, but the process "dies" right after each request reached Meta: the
    dispatcher never learns the outcome, as when it is killed mid-send."""

    channel = "whatsapp"

    def __init__(self, channel) -> None:
        self.inner = channel

    async def send(self, address, reply, **kwargs):
        await self.inner.send(address, reply, **kwargs)
        raise RuntimeError("killed after the request")


async def test_whatsapp_status_webhook_confirms_a_row_cut_off_mid_send(wa_bot, graph, caplog):
    core = wa_bot.core
    await wa_bot.running.extras["outreach"].stop()  # this test dispatches by hand
    await seed_seekers(core, 3, channel="whatsapp", last_inbound=[timedelta(hours=1)] * 3)
    vacancy_id = await new_vacancy(core)
    assert await publish(core, vacancy_id) == 3
    clock = OffsetClock()
    dispatcher = build_dispatcher(
        core, {"whatsapp": DiesAfterRequest(wa_bot.running.whatsapp)}, clock=clock
    )
    with caplog.at_level(logging.CRITICAL, logger="bot.outreach.dispatcher"):
        await dispatcher.dispatch_due()
    assert {r.status for r in (await outbox_rows(core)).values()} == {"sending"}
    sent = {c.to: c for c in graph.sent()}
    assert len(sent) == 3

    def chat(i: int) -> WhatsAppChat:
        return WhatsAppChat(wa_bot, graph, wa_number(i))

    async def status(i: int, value: str) -> None:
        person = chat(i)
        response = await person.post(
            person.envelope(statuses=[status_for(sent[wa_number(i)], value)])
        )
        assert response.status_code == 200
        await wa_bot.settle()

    # a status while the row is still `sending` (the process died a moment ago): sent
    await status(0, "sent")
    # the others outlive the sending lease: unknown, never resent
    clock.offset = timedelta(minutes=10)
    assert await dispatcher.expire_stale() == 2
    rows = await outbox_rows(core)
    assert [rows[wa_number(i)].status for i in range(3)] == ["sent", "unknown", "unknown"]
    # Meta's status for an `unknown` row: it was sent after all
    await status(1, "delivered")
    await dispatcher.dispatch_due()
    rows = await outbox_rows(core)
    assert [rows[wa_number(i)].status for i in range(3)] == ["sent", "sent", "unknown"]
    for i in (0, 1):
        assert rows[wa_number(i)].external_id == sent[wa_number(i)].message_id
        assert rows[wa_number(i)].sent_at is not None
    assert len(graph.sent()) == 3  # nothing was sent again
    # a later status of a row already sent changes nothing; an unrelated callback neither
    await status(0, "read")
    person = chat(2)
    other = status_event(
        sent[wa_number(2)].message_id,
        wa_number(2),
        "delivered",
        biz_opaque_callback_data="something-else:5",
    )
    await person.post(person.envelope(statuses=[other]))
    await wa_bot.settle()
    rows = await outbox_rows(core)
    assert [rows[wa_number(i)].status for i in range(3)] == ["sent", "sent", "unknown"]
