"""Staff commands in chat, end to end on both channels: the process `jejak run` starts
(`bot.runner.start`: Telegram long polling against the fake Bot API, the WhatsApp webhook
answering through the fake Graph API) on the hand-checked report fixture
(tests/fixtures/reports_fixture.py), on SQLite and PostgreSQL.

- /ringkasan for a teacher (exact numbers and names, why each has not answered, at which
  question, how to reach them), for BKK (every class of a cohort, one class in detail);
- long lists split into several messages within the platform's length;
- /rekap: the text and the chart as a photo (sendPhoto multipart; WhatsApp media upload then an
  image message) that is a valid PNG; /ekspor: an XLSX document that openpyxl opens;
- a staff invitation code links a teacher's chat (Telegram deep link, WhatsApp typed code).
"""

from __future__ import annotations

import asyncio
import io
import struct
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from bot.outreach.planner import plan_due
from storage import staff as staff_store
from storage.invitations import ensure_invitations
from storage.models import Alumnus, Answer, Contact, OutboxMessage, Response, Staff, utcnow
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.telegram_api import FakeBotApi
from tests.fixtures import reports_fixture
from tests.harness import (
    RunningBot,
    TelegramChat,
    WhatsAppChat,
    make_settings,
    whatsapp_overrides,
)

pytestmark = pytest.mark.postgres

SRI_TG = 9001  # Bu Sri Wahyuni, wali kelas of XII TKJ 1 (2024 and 2025): by roster name
BKK_TG = 9003  # Bu Rina, BKK
BUDI_WA = "6281999000002"  # Pak Budi Santoso, wali kelas of XII RPL 1 (2024)
ADMIN_WA = "6281999000004"  # Pak Admin
SENTINEL = "/bantuan_staf"

TKJ_2024 = """📋 Ringkasan XII TKJ 1 (lulus 2024)
Lulusan: 10 · Sudah menjawab: 5 (50%)

Status saat ini:
• Bekerja: 2
• Kuliah / melanjutkan: 1
• Wirausaha: 1
• Belum bekerja, sedang mencari: 1

Belum menjawab (5):

Belum membuka undangan (1):
• Fajar Nugroho — +6281100000006

Sudah mulai, belum selesai (1):
• Gita Permata — berhenti di: jenis tempat kerja — +6281100000007

Tidak dapat dihubungi (1):
• Indah Sari — +6281100000009

Minta berhenti (STOP) (1):
• Hadi Kusuma

Tidak bersedia ikut (1):
• Joko Susilo"""

TKJ_2025 = """📋 Ringkasan XII TKJ 1 (lulus 2025)
Lulusan: 3 · Sudah menjawab: 2 (67%)

Status saat ini:
• Bekerja: 1
• Kuliah / melanjutkan: 1

Belum menjawab (1):

Belum membuka undangan (1):
• Rudi Hermawan — +6281100000017"""

RPL_2024 = """📋 Ringkasan XII RPL 1 (lulus 2024)
Lulusan: 5 · Sudah menjawab: 3 (60%)

Status saat ini:
• Bekerja: 1
• Kursus / pelatihan: 1
• Belum bekerja, tidak mencari: 1

Belum menjawab (2):

Belum membuka undangan (1):
• Nur Aini — +6281100000014

Sudah mulai, belum selesai (1):
• Oki Setiawan — berhenti di: status — +6281100000015"""


# ---- the process under test ------------------------------------------------------------------
def quiet_digest(**overrides: Any) -> dict[str, Any]:
    """Settings that keep the weekly digest from falling due while a chat test runs (the
    start-up digest job must not add messages to the chats under test)."""
    weekday = (date.today().weekday() + 3) % 7
    return {"digest_weekday": weekday, **overrides}


@pytest.fixture
async def fake_api():
    with FakeBotApi() as api:
        yield api


@pytest.fixture
async def graph():
    async with FakeGraphApi() as api:
        yield api


@pytest.fixture
async def built(db):
    """The report fixture, loaded before the bot starts (the bot's school is SMK Uji)."""
    return await reports_fixture.build(db)


@pytest.fixture
async def bot(fake_api, graph, db_url, built):
    settings = make_settings(
        db_url,
        telegram_bot_token=fake_api.token,
        telegram_api_url=fake_api.url,
        **whatsapp_overrides(graph),
        **quiet_digest(),
    )
    under_test = RunningBot(settings)
    await under_test.start(seed=False)
    assert under_test.core.school.id == built.school_id
    async with under_test.core.db.session() as s:
        sid = built.school_id
        # teachers by roster name (wali_kelas): no class given explicitly
        await staff_store.add_staff(
            s, sid, role="teacher", name="Bu Sri Wahyuni", telegram_id=str(SRI_TG)
        )
        await staff_store.add_staff(
            s, sid, role="teacher", name="Pak Budi Santoso", whatsapp=BUDI_WA
        )
        await staff_store.add_staff(s, sid, role="bkk", name="Rina BKK", telegram_id=str(BKK_TG))
        await staff_store.add_staff(s, sid, role="admin", name="Pak Admin", whatsapp=ADMIN_WA)
    yield under_test
    await under_test.stop()


# ---- helpers --------------------------------------------------------------------------------
async def tg_exchange(api: FakeBotApi, chat_id: int, text: str, sentinel: str = SENTINEL):
    """Send `text`, then `sentinel`; return every bot message (Call) caused by `text`.

    One chat's updates are handled strictly in order and each one's replies are sent before
    the next is handled, so the sentinel's reply marks the end of the answer to `text`."""
    marker = await tg_sentinel_reply(api, chat_id, sentinel)
    start = len(api.messages(chat_id))
    api.push_text(chat_id, text)
    api.push_text(chat_id, sentinel)
    k = len(marker)

    def done():
        calls = api.messages(chat_id)[start:]
        tail = [c.text or "" for c in calls[-k:]]
        return calls if len(calls) >= k + 1 and tail == marker else None

    calls = await api.await_for(done, timeout=20)
    return calls[:-k]


async def tg_sentinel_reply(api: FakeBotApi, chat_id: int, sentinel: str) -> list[str]:
    """What the bot answers to `sentinel` in this chat (asked once, then remembered)."""
    markers = api.__dict__.setdefault("_sentinel_replies", {})
    if (chat_id, sentinel) not in markers:
        start = len(api.messages(chat_id))
        api.push_text(chat_id, sentinel)
        await api.await_new_messages(chat_id, 1, timeout=10)
        while True:  # an answer may be several messages: wait until no more arrive
            n = len(api.messages(chat_id))
            await asyncio.sleep(0.3)
            if len(api.messages(chat_id)) == n:
                break
        markers[(chat_id, sentinel)] = [c.text or "" for c in api.messages(chat_id)[start:]]
    return markers[(chat_id, sentinel)]


def texts(calls) -> list[str]:
    return [c.text or "" for c in calls]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def open_xlsx(data: bytes):
    from openpyxl import load_workbook

    assert data[:2] == b"PK", "not a zip (xlsx) file"
    return load_workbook(io.BytesIO(data), read_only=True)


# ---- /ringkasan -------------------------------------------------------------------------------
async def test_teacher_summary_on_telegram_exact(bot, fake_api):
    calls = await tg_exchange(fake_api, SRI_TG, "/ringkasan")
    assert texts(calls) == [TKJ_2025, TKJ_2024]  # her cohorts, newest first

    # a year picks one cohort; the class name in any case and spacing
    calls = await tg_exchange(fake_api, SRI_TG, "/ringkasan xii tkj1 2024")
    assert texts(calls) == [TKJ_2024]


async def test_stopped_at_question_shows_its_short_text(bot, fake_api, built):
    # the engine keeps the node id ("C3") in the chat state: shown as the question's short name
    async with bot.core.db.session() as s:
        await s.execute(
            update(Contact)
            .where(Contact.alumnus_id == built.ids["Gita"])
            .values(state={"node": "C3"})
        )
        await s.commit()
    (message,) = await tg_exchange(fake_api, SRI_TG, "/ringkasan XII TKJ 1 2024")
    assert "• Gita Permata — berhenti di: jenis tempat kerja — +6281100000007" in message.text
    assert "C3" not in message.text


async def test_teacher_summary_on_whatsapp_exact(bot, graph):
    chat = WhatsAppChat(bot, graph, BUDI_WA, name="Budi Santoso")
    assert await chat.send("/ringkasan") == RPL_2024
    assert [c.type for c in chat.batch] == ["text"]


async def test_bkk_overview_and_any_class(bot, fake_api):
    (overview,) = await tg_exchange(fake_api, BKK_TG, "/ringkasan")
    assert overview.text.splitlines()[:2] == [
        "📋 Ringkasan per kelas, lulusan 2025",
        "• XII TKJ 1: 2 dari 3 menjawab (67%)",
    ]
    assert "Angkatan lain: 2024" in overview.text
    (overview,) = await tg_exchange(fake_api, BKK_TG, "/ringkasan 2024")
    lines = overview.text.splitlines()
    assert lines[:3] == [
        "📋 Ringkasan per kelas, lulusan 2024",
        "• XII RPL 1: 3 dari 5 menjawab (60%)",
        "• XII TKJ 1: 5 dari 10 menjawab (50%)",
    ]
    assert "Total: 8 dari 15 menjawab (53%)" in lines
    assert texts(await tg_exchange(fake_api, BKK_TG, "/ringkasan XII RPL 1 2024")) == [RPL_2024]
    (unknown,) = await tg_exchange(fake_api, BKK_TG, "/ringkasan XII MESIN 9")
    assert unknown.text.startswith('Kelas "XII MESIN 9" tidak ada pada daftar lulusan.')


async def test_long_lists_split_within_the_platform_length(bot, fake_api, graph, built):
    # 150 graduates of a new class, none answered, with long names: one teacher's class
    async with bot.core.db.session() as s:
        await s.execute(
            insert(Alumnus),
            [
                dict(
                    school_id=built.school_id,
                    nisn=f"77{i:08d}",
                    name=f"Siswa Dengan Nama Yang Cukup Panjang Sekali Nomor {i:03d}",
                    birth_date=date(2006, 1, 1),
                    kelas="XII AKL 2",
                    jurusan="AKL",
                    graduation_year=2025,
                    homeroom_teacher="Pak Budi Santoso",
                    phone=f"62812{i:08d}",
                )
                for i in range(150)
            ],
        )
        await s.commit()
    calls = await tg_exchange(fake_api, BKK_TG, "/ringkasan XII AKL 2")
    assert len(calls) >= 3 and all(len(c.text) <= 4096 for c in calls)
    joined = "\n".join(texts(calls))
    assert all(f"Nomor {i:03d} — +62812{i:08d}" in joined for i in range(150))
    assert "Belum menjawab (150):" in joined

    chat = WhatsAppChat(bot, graph, BUDI_WA, name="Budi Santoso")
    await chat.send("/ringkasan XII AKL 2")
    assert len(chat.batch) >= 3 and all(len(c.text) <= 4096 for c in chat.batch)
    joined = "\n".join(c.text for c in chat.batch)
    assert all(f"Nomor {i:03d} — +62812{i:08d}" in joined for i in range(150))


# ---- /rekap and /ekspor ------------------------------------------------------------------------
async def test_rekap_text_and_chart_photo_on_telegram(bot, fake_api):
    calls = await tg_exchange(fake_api, BKK_TG, "/rekap 2024")
    *text_calls, photo = calls
    text = "\n".join(texts(text_calls))
    for line in (
        "📊 Rekap lulusan 2024",
        "RPL: 5 lulusan, 3 menjawab (60%)",
        "B 1 · M 0 · W 0 · Kursus 1 · Mencari 0 · Tidak mencari 1",
        "BMW 33% · Relevan 100% · Masa tunggu (median) 0 bln",
        "TKJ: 10 lulusan, 5 menjawab (50%)",
        "B 2 · M 1 · W 1 · Kursus 0 · Mencari 1 · Tidak mencari 0",
        "BMW 80% · Relevan 50% · Masa tunggu (median) 2 bln",
        "Semua jurusan: 15 lulusan, 8 menjawab (53%)",
    ):
        assert line in text.splitlines(), line
    assert photo.method == "sendPhoto" and photo.params["caption"] == "📊 Keterserapan lulusan 2024"
    upload = photo.files["photo"]
    width, height = png_size(upload.data)
    assert width == 1080 and 400 <= height <= 3000
    assert 10_000 < len(upload.data) < 2_000_000

    # every cohort: both years in the text, the chart of both
    calls = await tg_exchange(fake_api, BKK_TG, "/rekap")
    assert "📊 Rekap lulusan 2025" in calls[0].text and calls[-1].method == "sendPhoto"
    assert calls[-1].params["caption"] == "📊 Keterserapan lulusan 2024, 2025"
    png_size(calls[-1].files["photo"].data)


async def test_rekap_and_ekspor_on_whatsapp(bot, graph):
    chat = WhatsAppChat(bot, graph, ADMIN_WA, name="Admin")
    await chat.send("/rekap 2025")
    *text_messages, image = chat.batch
    assert "TKJ: 3 lulusan, 2 menjawab (67%)" in "\n".join(c.text for c in text_messages)
    assert image.type == "image" and image.text == "📊 Keterserapan lulusan 2025"
    media_id = image.payload["image"]["id"]
    uploads = [c for c in graph.calls("media") if c.ok]
    stored = graph._media[media_id]
    assert stored.content_type == "image/png" and uploads
    assert png_size(stored.data)[0] == 1080

    await chat.send("/ekspor 2024")
    (document,) = chat.batch
    assert document.type == "document"
    assert document.payload["document"]["filename"].startswith("penelusuran_lulusan_2024_")
    assert document.text.startswith("📎 Ekspor penelusuran lulusan (lulusan 2024)")
    stored = graph._media[document.payload["document"]["id"]]
    assert stored.content_type.endswith("spreadsheetml.sheet")
    wb = open_xlsx(stored.data)
    assert wb.sheetnames == ["lulusan", "rekap_jurusan"]
    rows = list(wb["lulusan"].iter_rows(values_only=True))
    assert rows[0][:3] == ("nisn", "nama", "kelas") and len(rows) == 1 + 15


async def test_ekspor_document_on_telegram(bot, fake_api):
    (document,) = await tg_exchange(fake_api, BKK_TG, "/ekspor")
    assert document.method == "sendDocument"
    upload = document.files["document"]
    assert upload.filename.startswith("penelusuran_lulusan_semua_")
    assert upload.filename.endswith(".xlsx")
    wb = open_xlsx(upload.data)
    rows = list(wb["lulusan"].iter_rows(values_only=True))
    assert len(rows) == 1 + 18  # every roster entry of the school, not the other school's
    by_name = {r[1]: r for r in rows[1:]}
    assert by_name["Adi Saputra"][0] == "0012345601"  # NISN as text, leading zeros kept
    assert by_name["Adi Saputra"][5] == "bekerja"
    assert by_name["Fajar Nugroho"][5:6] in ((), (None,))  # a non-responder: no status
    assert "Zaki Other" not in by_name
    rekap = list(wb["rekap_jurusan"].iter_rows(values_only=True))
    assert len(rekap) == 1 + 3


# ---- linking a chat with a staff invitation code ---------------------------------------------
async def test_staff_code_links_a_teacher_on_both_channels(bot, fake_api, graph, built):
    async with bot.core.db.session() as s:
        tg_code = (
            await staff_store.create_invitation(
                s, built.school_id, role="teacher", kelas=["XII RPL 1"], name="Bu Ani"
            )
        ).code
        wa_code = (
            await staff_store.create_invitation(s, built.school_id, role="bkk", name="Pak Joko")
        ).code
    new_chat = 9100
    # the deep link https://t.me/<bot>?start=S-... arrives as "/start S-..."
    fake_api.push_text(new_chat, f"/start {tg_code}")
    linked, help_text = await fake_api.await_new_messages(new_chat, 2, timeout=10)
    assert (
        linked.text == "✅ Chat ini sekarang terhubung sebagai wali kelas: Bu Ani.\n"
        "Kelas: XII RPL 1 (lulus 2024)"
    )
    assert "/ringkasan" in help_text.text and "/rekap" not in help_text.text
    assert texts(await tg_exchange(fake_api, new_chat, "/ringkasan")) == [RPL_2024]

    # the code is used up: another chat gets the one answer for every bad code
    fake_api.push_text(new_chat + 1, f"/start {tg_code}")
    (refused,) = await fake_api.await_new_messages(new_chat + 1, 1, timeout=10)
    assert refused.text.startswith("Kode staf ini tidak berlaku")

    # WhatsApp: the code typed (any case) links the number
    chat = WhatsAppChat(bot, graph, "6281999000077", name="Joko")
    text = await chat.send(f" {wa_code.lower()} ")
    assert text.startswith("✅ Chat ini sekarang terhubung sebagai staf BKK: Pak Joko.")
    assert "/rekap" in chat.batch[-1].text
    assert (await chat.send("/ringkasan 2024")).startswith("📋 Ringkasan per kelas, lulusan 2024")


async def test_staff_plain_message_gets_the_staff_commands(bot, fake_api):
    fake_api.push_text(SRI_TG, "Halo")
    (reply,) = await fake_api.await_new_messages(SRI_TG, 1, timeout=10)
    assert reply.text.startswith("Perintah wali kelas:")
    assert "mis. /ringkasan XII TKJ 1 2025\n" in reply.text  # her newest cohort as the example


# ---- one chat, one staff identity ----------------------------------------------------------------
def refusal(role: str, school: str, name: str, staff_id: int, npsn: str) -> str:
    return (
        f"Chat ini sudah terhubung sebagai {role} di {school}: {name}. Satu chat hanya dapat "
        "memegang satu peran staf, jadi kode ini tidak dipakai dan tetap berlaku.\n\n"
        "Untuk mengganti peran, mintalah admin sekolah menghapus peran lama di server "
        f"(jejak staff remove {staff_id} --school {npsn}), lalu kirim kode ini lagi."
    )


async def test_a_linked_staff_chat_cannot_take_a_second_role_on_telegram(bot, fake_api, built):
    """The BKK head's chat sends a homeroom teacher's code and another school's code: both are
    refused, naming the current link; she stays BKK; the codes still work for the people they
    were made for."""
    async with bot.core.db.session() as s:
        rina = await staff_store.find_staff(s, "telegram", str(BKK_TG))
        teacher_code = (
            await staff_store.create_invitation(
                s, built.school_id, role="teacher", kelas=["XII RPL 1"], name="Bu Ani"
            )
        ).code
        other_code = (
            await staff_store.create_invitation(
                s, built.other_school_id, role="bkk", name="Rina BKK"
            )
        ).code
    school = bot.core.school  # the bot's own school, the fixture's 20100001
    expected = refusal("staf BKK", school.name, "Rina BKK", rina.id, school.npsn)
    for code in (teacher_code, other_code):
        calls = await tg_exchange(fake_api, BKK_TG, f"/start {code}")
        assert texts(calls) == [expected]
    async with bot.core.db.session() as s:
        on_chat = await s.execute(select(Staff.id).where(Staff.telegram_id == str(BKK_TG)))
        assert list(on_chat.scalars()) == [rina.id]
    # still the BKK overview, not a teacher's class
    (overview,) = await tg_exchange(fake_api, BKK_TG, "/ringkasan 2024")
    assert overview.text.startswith("📋 Ringkasan per kelas, lulusan 2024")

    # her own BKK role again, with a spare code: already linked, the code kept
    async with bot.core.db.session() as s:
        spare = (await staff_store.create_invitation(s, built.school_id, role="bkk")).code
    # (the usual sentinel, /bantuan_staf, would look like the end of this answer)
    calls = await tg_exchange(fake_api, BKK_TG, spare, sentinel="/ringkasan XII TKJ 1 2025")
    assert len(calls) == 2
    assert texts(calls)[0] == (
        f"Chat ini sudah terhubung sebagai staf BKK di {school.name}: Rina BKK.\n"
        "Kelas: semua kelas\n\n"
        "Kode ini tidak dipakai dan tetap berlaku."
    )
    assert "/rekap" in texts(calls)[1]

    # the refused code links the teacher it was made for
    fake_api.push_text(9200, f"/start {teacher_code}")
    linked, _help = await fake_api.await_new_messages(9200, 2, timeout=10)
    assert (
        linked.text == "✅ Chat ini sekarang terhubung sebagai wali kelas: Bu Ani.\n"
        "Kelas: XII RPL 1 (lulus 2024)"
    )


async def test_a_linked_staff_chat_on_whatsapp(bot, graph, built):
    """Pak Budi (wali kelas of XII RPL 1 by the roster) on WhatsApp: a BKK code is refused; a
    teacher code for another class adds that class's newest cohort (only that one) and keeps
    his roster classes; sending it again says he is linked."""
    async with bot.core.db.session() as s:
        budi = await staff_store.find_staff(s, "whatsapp", BUDI_WA)
        bkk_code = (
            await staff_store.create_invitation(s, built.school_id, role="bkk", name="Pak Budi")
        ).code
        tkj_code = (
            await staff_store.create_invitation(
                s, built.school_id, role="teacher", kelas=["XII TKJ 1"]
            )
        ).code
    school = bot.core.school
    chat = WhatsAppChat(bot, graph, BUDI_WA, name="Budi Santoso")
    assert await chat.send(bkk_code) == refusal(
        "wali kelas", school.name, "Pak Budi Santoso", budi.id, school.npsn
    )
    assert await chat.send("/rekap") == (
        "Perintah ini hanya untuk staf BKK dan admin. Ketik /ringkasan untuk ringkasan kelas Anda."
    )

    text = await chat.send(tkj_code.lower())
    assert text.startswith(
        "✅ Chat ini sekarang terhubung sebagai wali kelas: Pak Budi Santoso.\n"
        "Kelas: XII TKJ 1 (lulus 2025), XII RPL 1 (lulus 2024)"
    )
    assert await chat.send("/ringkasan XII RPL 1 2024") == RPL_2024
    assert await chat.send("/ringkasan XII TKJ 1 2025") == TKJ_2025
    assert await chat.send("/ringkasan XII TKJ 1 2024") == (
        "Anda hanya dapat melihat kelas Anda sendiri: XII TKJ 1 (lulus 2025), "
        "XII RPL 1 (lulus 2024)."
    )

    text = await chat.send(tkj_code)
    assert text.startswith(
        f"Chat ini sudah terhubung sebagai wali kelas di {school.name}: Pak Budi Santoso.\n"
        "Kelas: XII TKJ 1 (lulus 2025), XII RPL 1 (lulus 2024)\n\nPerintah wali kelas:"
    )
    async with bot.core.db.session() as s:
        on_chat = await s.execute(select(Staff.id).where(Staff.whatsapp == BUDI_WA))
        assert list(on_chat.scalars()) == [budi.id]


async def test_regional_code_links_a_chat(bot, fake_api, graph, built):
    """A regional code in chat names the role and the schools its vacancies go to."""
    async with bot.core.db.session() as s:
        code = (
            await staff_store.create_invitation(
                s, built.school_id, role="regional", name="Disnaker", covers=["20100002"]
            )
        ).code
        everywhere = (
            await staff_store.create_invitation(
                s, built.school_id, role="regional", name="Disnaker Prov", covers=["*"]
            )
        ).code
    chat = WhatsAppChat(bot, graph, "6281999000088", name="Disnaker")
    text = await chat.send(code)
    assert text.startswith(
        "✅ Chat ini sekarang terhubung sebagai staf BKK/Disnaker wilayah: Disnaker.\n"
        "Lowongan untuk: SMK Lain\n\nPerintah staf BKK/Disnaker wilayah:"
    )
    fake_api.push_text(9300, everywhere)
    linked, help_text = await fake_api.await_new_messages(9300, 2, timeout=10)
    assert linked.text == (
        "✅ Chat ini sekarang terhubung sebagai staf BKK/Disnaker wilayah: Disnaker Prov.\n"
        "Lowongan untuk: semua sekolah"
    )
    assert help_text.text.startswith("Perintah staf BKK/Disnaker wilayah:")


# ---- a graduate who declines -------------------------------------------------------------------
TKJ_2024_FAJAR_DECLINED = TKJ_2024.replace(
    "Belum membuka undangan (1):\n• Fajar Nugroho — +6281100000006\n\n", ""
).replace(
    "Tidak bersedia ikut (1):\n• Joko Susilo",
    "Tidak bersedia ikut (2):\n• Fajar Nugroho\n• Joko Susilo",
)
TKJ_2025_RUDI_DECLINED = TKJ_2025.replace(
    "Belum membuka undangan (1):\n• Rudi Hermawan — +6281100000017",
    "Tidak bersedia ikut (1):\n• Rudi Hermawan",
)


async def test_declining_from_the_invitation_link_shows_as_declined(bot, fake_api, graph, built):
    """UU PDP: a graduate who opens their personal invitation and does not agree is recorded
    as declined (the fact and its time, no answers): /ringkasan lists them under "Tidak
    bersedia ikut", with no number to chase them with, and no reminder goes to them. Whoever
    refuses before being identified (no code, an unknown code, or the link of a graduate who
    already has a chat) records nobody. Agreeing later removes the mark."""
    db = bot.core.db
    invites = await ensure_invitations(db, built.school_id, "XII TKJ 1")
    codes = {alumnus.name: code for alumnus, code in invites}

    # Fajar (2024) on Telegram through his link; Rudi (2025) on WhatsApp, whose wa.me link
    # pre-fills his code
    fajar = TelegramChat(fake_api, 7101)
    assert "Apakah Anda setuju?" in await fajar.send(f"/start {codes['Fajar Nugroho']}")
    said = await fajar.tap("Tidak setuju")
    assert "tidak menyimpan jawaban" in said and "undangan ini ditolak" in said
    rudi = WhatsAppChat(bot, graph, "6281100000017", name="Rudi")
    assert "Apakah Anda setuju?" in await rudi.send(codes["Rudi Hermawan"])
    assert "undangan ini ditolak" in await rudi.tap("tidak_setuju")

    # not identified: no code, a made-up code, Gita's link (she has a chat) from someone else
    for chat_id, start in (
        (7102, "/start"),
        (7103, "/start ZZZZ9999ZZ"),
        (7104, f"/start {codes['Gita Permata']}"),
    ):
        stranger = TelegramChat(fake_api, chat_id)
        assert "Apakah Anda setuju?" in await stranger.send(start)
        await stranger.tap("Tidak setuju")

    calls = await tg_exchange(fake_api, SRI_TG, "/ringkasan")
    assert texts(calls) == [TKJ_2025_RUDI_DECLINED, TKJ_2024_FAJAR_DECLINED]

    async with db.session() as s:
        people = {
            a.name: a
            for a in (await s.execute(select(Alumnus).where(Alumnus.school_id == built.school_id)))
            .scalars()
            .all()
        }
        declined = {name for name, a in people.items() if a.declined_at is not None}
        assert declined == {"Fajar Nugroho", "Joko Susilo", "Rudi Hermawan"}
        for name in ("Fajar Nugroho", "Rudi Hermawan"):
            a = people[name]
            assert a.consent_tracer_at is None and a.consent_vacancies is None
            assert abs(a.declined_at - utcnow()) < timedelta(minutes=5)
            responses = select(Response.id).where(Response.alumnus_id == a.id)
            assert (await s.execute(responses)).first() is None
            answers = select(Answer.id).where(Answer.response_id.in_(responses))
            assert (await s.execute(answers)).first() is None
            linked = select(Contact.id).where(Contact.alumnus_id == a.id)
            assert (await s.execute(linked)).first() is None  # the chat is not kept linked

    # Fajar changes his mind: he agrees, is linked, and is no longer "declined"
    await fajar.send(f"/start {codes['Fajar Nugroho']}")
    assert "Fajar Nugroho" in await fajar.tap("Setuju")
    assert "lowongan" in await fajar.tap("Ya, benar")
    assert (await bot.alumnus("0012345606")).declined_at is None
    (summary,) = await tg_exchange(fake_api, SRI_TG, "/ringkasan xii tkj 1 2024")
    assert "Tidak bersedia ikut (1):\n• Joko Susilo" in summary.text
    assert "Sudah mulai, belum selesai (2):\n• Fajar Nugroho — +6281100000006" in summary.text

    # weeks later the planner reminds Fajar, who now takes part, and nobody who declined
    core = bot.core
    planned = await plan_due(
        db,
        school_id=core.school.id,
        school_name=core.school.name,
        flow=core.flow,
        settings=core.settings,
        zone=core.settings.zone,
        now=utcnow() + timedelta(days=30),
    )
    assert planned is not None
    async with db.session() as s:
        queued = (
            await s.execute(
                select(OutboxMessage.purpose, OutboxMessage.alumnus_id, OutboxMessage.address)
            )
        ).all()
    assert ("reminder", people["Fajar Nugroho"].id, "7101") in queued
    declined_ids = {people["Rudi Hermawan"].id, people["Joko Susilo"].id}
    assert not [q for q in queued if q.alumnus_id in declined_ids or q.address == rudi.wa_id]
