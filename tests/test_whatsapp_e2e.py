"""End to end on WhatsApp: the process `jejak run` starts (`bot.runner.start`: uvicorn serving
the webhook, the WhatsApp channel, the conversation shell, SQLite or PostgreSQL) receives signed
webhooks in Meta's shapes on its real HTTP endpoint and answers through a fake Graph API on
127.0.0.1. Also: Telegram and WhatsApp in one process.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from storage.models import Invitation
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.telegram_api import FakeBotApi
from tests.harness import (
    RunningBot,
    TelegramChat,
    WhatsAppChat,
    is_our_error,
    make_settings,
    whatsapp_overrides,
)

pytestmark = pytest.mark.postgres

ADI = "0071234501"  # Adi Pratama, 14/03/2007, XII TKJ 1, no_hp 0812-3456-7801
BUNGA = "3071234502"  # Bunga Lestari, 02/11/2007, no_hp +62 813-2222-3302
CAHYO = "3071234503"  # Cahyo Nugroho, 21/07/2006, no phone
ADI_WA = "6281234567801"
BUNGA_WA = "6281322223302"
UNKNOWN_WA = "6289900001111"  # on no roster row

REFUSED = ("tidak ada di pilihan", "pesan lama", "beberapa pilihan")


@pytest.fixture
async def graph():
    async with FakeGraphApi() as api:
        yield api


@pytest.fixture
async def bot(graph, db_url, db, caplog):  # `db` migrates (and resets PostgreSQL) first
    caplog.set_level(logging.WARNING)
    under_test = RunningBot(make_settings(db_url, **whatsapp_overrides(graph)))
    await under_test.start()
    yield under_test
    await under_test.stop()
    errors = [r.getMessage() for r in caplog.records if is_our_error(r)]
    assert errors == [], errors  # e.g. "whatsapp event failed" from a background task


async def onboard_by_phone(chat: WhatsAppChat, dob: str, name: str) -> str:
    """First message from a roster number -> consent (buttons) -> birth date -> vacancy
    consent (buttons): returns the status question."""
    text = await chat.send("Halo")
    assert "Apakah Anda setuju?" in text
    assert chat.buttons() == ["Setuju", "Tidak setuju"]
    text = await chat.tap("Setuju")
    assert name in text and "tanggal lahir" in text
    text = await chat.send(dob)
    assert "lowongan" in text and chat.buttons() == ["Ya", "Tidak"]
    return await chat.tap("Ya")


# (how, value): "tap" taps the button / list row with that title or code, "send" types
BRANCHES = {
    "bekerja": (
        [
            ("tap", "bekerja"),
            ("send", "PT Maju Jaya"),
            ("send", "Teknisi Jaringan"),
            ("tap", "swasta"),
            ("tap", "provinsi_sama"),
            ("send", "07/2025"),
            ("tap", "tempat_pkl"),
            ("send", "lewati"),
            ("tap", "sangat_sesuai"),
            ("send", "Praktik lebih banyak"),
        ],
        [
            "bekerja",
            "PT Maju Jaya",
            "Teknisi Jaringan",
            "swasta",
            "2",
            "07/2025",
            "pkl",
            "lewati",
            "sangat sesuai",
            "Praktik lebih banyak",
        ],
        {
            "status": "bekerja",
            "employer": "PT Maju Jaya",
            "job_title": "Teknisi Jaringan",
            "employer_type": "swasta",
            "work_location": "provinsi_sama",
            "start_month": "07/2025",
            "job_channel": "tempat_pkl",
            "relevance": "sangat_sesuai",
            "school_feedback": "Praktik lebih banyak",
        },
    ),
    "wirausaha": (
        [
            ("tap", "Wirausaha"),
            ("send", "Servis HP"),
            ("send", "Maret 2025"),
            ("tap", "0"),
            ("tap", "2_3"),
            ("tap", "sesuai"),
            ("send", "LEWATI"),
        ],
        ["usaha", "Servis HP", "Maret 2025", "sendiri", "2,5 juta", "2", "LEWATI"],
        {
            "status": "wirausaha",
            "business_field": "Servis HP",
            "start_month": "03/2025",
            "workers": "0",
            "income": "2_3",
            "relevance": "sesuai",
        },
    ),
    "melanjutkan": (
        [
            ("tap", "melanjutkan"),
            ("send", "Politeknik Negeri Jakarta"),
            ("send", "Teknik Informatika"),
            ("tap", "d3"),
            ("tap", "ya"),  # three options: reply buttons
            ("send", "lewati"),
        ],
        ["KULIAH", "Politeknik Negeri Jakarta", "Teknik Informatika", "d3", "1", "lewati"],
        {
            "status": "melanjutkan",
            "institution": "Politeknik Negeri Jakarta",
            "study_program": "Teknik Informatika",
            "level": "d3",
            "relevance": "ya",
        },
    ),
    "kursus": (
        [
            ("tap", "kursus"),
            ("send", "BLK Bekasi"),
            ("send", "Pengelasan"),
            ("tap", "kerja_luar_negeri"),
            ("send", "lewati"),
        ],
        ["4", "BLK Bekasi", "Pengelasan", "luar negeri", "lewati"],
        {
            "status": "kursus",
            "provider": "BLK Bekasi",
            "field": "Pengelasan",
            "goal": "kerja_luar_negeri",
        },
    ),
    "mencari_kerja": (
        [
            ("tap", "mencari_kerja"),
            ("tap", "4_6"),
            ("send", "1, 3"),  # several answers: numbered text, typed
            ("tap", "tidak"),  # two options: reply buttons
            ("send", "lewati"),
        ],
        ["5", "5 bulan", "1, 3", "tidak", "lewati"],
        {
            "status": "mencari_kerja",
            "searching_months": "4_6",
            "obstacles": ["sedikit_lowongan", "tidak_sesuai_jurusan"],
            "willing_to_relocate": "tidak",
        },
    ),
    "tidak_mencari": (
        [("tap", "tidak_mencari"), ("tap", "kesehatan"), ("send", "lewati")],
        ["6", "sakit", "lewati"],
        {"status": "tidak_mencari", "reason": "kesehatan"},
    ),
}


@pytest.mark.parametrize("branch", list(BRANCHES))
async def test_every_status_branch_by_buttons_lists_then_typed(bot, graph, branch):
    chat = WhatsAppChat(bot, graph, ADI_WA, name="Adi")
    status_q = await onboard_by_phone(chat, "14-03-2007", "Adi Pratama")
    assert "kegiatan utama" in status_q
    status_list = chat.last_interactive()
    assert status_list.interactive["type"] == "list"
    assert status_list.interactive["action"]["button"] == "Pilih"
    assert len(status_list.list_rows) == 6

    taps, typed, expected = BRANCHES[branch]
    kinds = set()
    text = ""
    for how, value in taps:
        if how == "tap":
            kinds.add(chat.last_interactive().interactive["type"])
            text = await chat.tap(value)
        else:
            text = await chat.send(value)
        assert not any(r in text for r in REFUSED), f"{value!r} was refused: {text}"
    assert "Terima kasih, jawaban Anda sudah tersimpan" in text
    assert "list" in kinds
    [(response, answers)] = await bot.responses(ADI)
    assert response.completed_at is not None and response.status == branch
    assert response.channel == "whatsapp"
    assert answers == expected

    # UBAH: a second pass, everything typed; the first is kept as history
    text = await chat.send("UBAH")
    assert "kegiatan utama" in text
    for value in typed:
        text = await chat.send(value)
        assert not any(r in text for r in REFUSED), f"{value!r} was refused: {text}"
    assert "Terima kasih, jawaban Anda sudah tersimpan" in text
    first, second = await bot.responses(ADI)
    assert first[1] == expected and second[1] == expected
    assert second[0].completed_at is not None and second[0].status == branch
    alumnus = await bot.alumnus(ADI)
    assert alumnus.consent_tracer_at is not None and alumnus.consent_vacancies is True
    # every message the bot sent fits WhatsApp (the fake refuses what Meta would refuse)
    assert graph.errors() == []
    deliveries = await bot.deliveries()
    assert len(deliveries) == len(graph.sent(ADI_WA))
    assert all(d.contact_id is not None and d.kind == "reply" for d in deliveries)


async def test_identify_by_phone_asks_birth_date_and_not_me(bot, graph):
    chat = WhatsAppChat(bot, graph, BUNGA_WA, name="Bunga")
    await chat.send("Assalamualaikum")
    text = await chat.tap("setuju")
    assert "Bunga Lestari (XII TKJ 1)" in text and "tanggal lahir" in text
    text = await chat.send("2 November 2007x")
    assert "Tanggal tidak dikenali" in text
    text = await chat.send("01-01-2000")  # the wrong birth date: no link, asked again
    assert "tidak cocok" in text
    assert (await bot.contact("whatsapp", BUNGA_WA)).alumnus_id is None
    # a family member's number: "not me" leads to the code / NISN
    other = WhatsAppChat(bot, graph, "6285712340504", name="Ibu Dewi")
    await other.send("halo")
    text = await other.tap("Setuju")
    assert "Dewi Anggraini" in text
    text = await other.send("bukan")
    assert "NISN" in text
    text = await other.send(CAHYO)
    assert "tanggal lahir" in text
    text = await other.send("21/07/2006")
    assert "Cahyo Nugroho" in text
    text = await other.tap("Ya, benar")
    assert "lowongan" in text
    assert (await bot.contact("whatsapp", "6285712340504")).alumnus_id == (
        await bot.alumnus(CAHYO)
    ).id


async def test_identify_by_invitation_code_sent_as_text(bot, graph):
    # the wa.me link pre-fills the code: it is the person's first message
    chat = WhatsAppChat(bot, graph, UNKNOWN_WA, name="Adi P")
    text = await chat.send(bot.codes[ADI])
    assert "Apakah Anda setuju?" in text
    text = await chat.tap("Setuju")
    assert "Apakah Anda Adi Pratama, kelas XII TKJ 1, lulus 2025?" in text
    assert chat.buttons() == ["Ya, benar", "Bukan saya"]
    text = await chat.tap("Ya, benar")
    assert "lowongan" in text
    text = await chat.tap("Tidak")
    assert "kegiatan utama" in text
    contact = await bot.contact("whatsapp", UNKNOWN_WA)
    adi = await bot.alumnus(ADI)
    assert contact.alumnus_id == adi.id and adi.consent_vacancies is False
    async with bot.core.db.session() as s:
        invitation = await s.get(Invitation, bot.codes[ADI])
        assert invitation.used_at is not None
    # the code typed later (after consent, from another number): asked like any code
    second = WhatsAppChat(bot, graph, "6289900002222", name="Bunga L")
    await second.send("halo")
    text = await second.tap("Setuju")
    assert "kode undangan" in text
    text = await second.send(bot.codes[BUNGA])
    assert "Bunga Lestari" in text
    await second.tap("Ya, benar")
    text = await second.tap("Ya")
    assert "kegiatan utama" in text
    assert (await bot.contact("whatsapp", "6289900002222")).alumnus_id == (
        await bot.alumnus(BUNGA)
    ).id
    async with bot.core.db.session() as s:  # a typed code is used like a link's
        assert (await s.get(Invitation, bot.codes[BUNGA])).used_at is not None


async def test_code_in_a_sentence_and_informal_yes_no(bot, graph):
    """What graduates type: the code inside a sentence as the first message, "oke kak",
    "iya benar", "gak mau"."""
    chat = WhatsAppChat(bot, graph, UNKNOWN_WA, name="Adi P")
    text = await chat.send(f"Assalamualaikum kak, kode saya {bot.codes[ADI].lower()}.")
    assert "Apakah Anda setuju?" in text
    text = await chat.send("ya tidak")  # a yes and a no: asked again
    assert "ya atau tidak?" in text and "Apakah Anda setuju?" in text
    text = await chat.send("oke kak")
    assert "Apakah Anda Adi Pratama, kelas XII TKJ 1, lulus 2025?" in text
    text = await chat.send("iya benar")
    assert "lowongan" in text
    text = await chat.send("gak mau")
    assert "kegiatan utama" in text
    adi = await bot.alumnus(ADI)
    assert adi.consent_tracer_at is not None and adi.consent_vacancies is False
    assert (await bot.contact("whatsapp", UNKNOWN_WA)).alumnus_id == adi.id


async def test_identify_by_nisn_and_birth_date(bot, graph):
    chat = WhatsAppChat(bot, graph, UNKNOWN_WA)
    await chat.send("halo")
    text = await chat.send("setuju")  # typed instead of tapped
    assert "NISN" in text
    await chat.send(ADI)
    text = await chat.send("01-01-2007")
    assert "tidak cocok" in text
    text = await chat.send("12345")
    assert "10 angka" in text
    await chat.send("71234501")  # without the leading zero
    text = await chat.send("14/03/2007")
    assert "Adi Pratama" in text and "XII TKJ 1" in text
    await chat.tap("Ya, benar")
    text = await chat.tap("Ya")
    assert "kegiatan utama" in text
    assert (await bot.contact("whatsapp", UNKNOWN_WA)).alumnus_id == (await bot.alumnus(ADI)).id


async def test_template_quick_replies(bot, graph):
    chat = WhatsAppChat(bot, graph, ADI_WA)
    await onboard_by_phone(chat, "14-03-2007", "Adi Pratama")
    # a reminder template's quick reply carries our id as its payload
    text = await chat.tap_template("q:B1:bekerja", "Bekerja")
    assert "perusahaan/instansi" in text
    # a button payload that is not ours (a static template button): its text is the answer
    text = await chat.tap_template("CONTINUE_SURVEY", "PT Templat")
    assert "jabatan" in text
    # an action button (e.g. "continue"): the current question is asked again
    text = await chat.tap_template("a:continue", "Lanjutkan")
    assert "jabatan" in text
    # a stale quick reply of an earlier question is not acted on
    text = await chat.tap_template("q:B1:kursus", "Kursus")
    assert "pesan lama" in text and "jabatan" in text
    [(response, answers)] = await bot.responses(ADI)
    assert answers == {"status": "bekerja", "employer": "PT Templat"}


async def test_keywords_and_commands(bot, graph):
    chat = WhatsAppChat(bot, graph, BUNGA_WA)
    await onboard_by_phone(chat, "02-11-2007", "Bunga Lestari")
    text = await chat.send("BAHASA")
    assert "Language switched to English" in text and "What are you mainly doing" in text
    status_list = chat.last_interactive()
    assert status_list.interactive["action"]["button"] == "Choose"
    assert (await bot.contact("whatsapp", BUNGA_WA)).language == "en"
    text = await chat.send("/bahasa id")
    assert "Bahasa Indonesia" in text and "kegiatan utama" in text
    assert chat.last_interactive().interactive["action"]["button"] == "Pilih"
    await chat.tap("bekerja")
    text = await chat.send("BANTUAN")
    assert "UBAH" in text and "perusahaan/instansi" in text
    text = await chat.send("/bantuan")
    assert "UBAH" in text
    text = await chat.send("DATA")
    assert "Bunga Lestari" in text and BUNGA in text and "Sedang diisi: 1" in text
    text = await chat.send("STOP")
    assert "tidak akan mengirim" in text
    assert (await bot.alumnus(BUNGA)).stopped_at is not None
    text = await chat.send("MULAI")
    assert (await bot.alumnus(BUNGA)).stopped_at is None
    text = await chat.send("berhenti")
    assert "tidak akan mengirim" in text
    assert (await bot.alumnus(BUNGA)).stopped_at is not None
    text = await chat.send("/ubah")
    assert "kita perbarui" in text and "kegiatan utama" in text
    text = await chat.send("HAPUS")
    assert "Ketik YA" in text
    text = await chat.send("jangan")
    assert "dibatalkan" in text
    assert len(await bot.responses(BUNGA)) == 1
    await chat.send("/hapus")
    text = await chat.send("ya")
    assert "sudah dihapus" in text
    assert await bot.responses(BUNGA) == []
    alumnus = await bot.alumnus(BUNGA)
    assert alumnus.consent_tracer_at is None and alumnus.consent_vacancies is None
    assert (await bot.contact("whatsapp", BUNGA_WA)).alumnus_id is None
    text = await chat.send("/data")
    assert "belum menyimpan" in text
    text = await chat.send("UBAH")
    assert "belum terhubung" in text
    text = await chat.send("/start")
    assert "Apakah Anda setuju?" in text


async def test_telegram_and_whatsapp_in_one_process(graph, db_url, db):
    with FakeBotApi() as telegram_api:
        settings = make_settings(
            db_url,
            telegram_bot_token=telegram_api.token,
            telegram_api_url=telegram_api.url,
            **whatsapp_overrides(graph),
        )
        bot = await RunningBot(settings).start()
        try:
            assert bot.running.telegram is not None and bot.running.whatsapp is not None

            async def on_telegram():
                chat = TelegramChat(telegram_api, 7001)
                await chat.send(f"/start {bot.codes[ADI]}")
                await chat.tap("Setuju")
                await chat.tap("Ya, benar")
                await chat.tap("Ya")
                for answer in ["6", "sakit"]:
                    await chat.send(answer)
                return await chat.send("lewati")

            async def on_whatsapp():
                chat = WhatsAppChat(bot, graph, BUNGA_WA)
                await onboard_by_phone(chat, "02-11-2007", "Bunga Lestari")
                for answer in ["bekerja", "PT Dua", "Admin", "1", "1", "05/2025", "bkk"]:
                    await chat.send(answer)
                await chat.send("lewati")
                await chat.tap("sesuai")
                return await chat.send("Mantap")

            texts = await asyncio.gather(on_telegram(), on_whatsapp())
            assert all("Terima kasih" in t for t in texts), texts
            [(tg, tg_answers)] = await bot.responses(ADI)
            [(wa, wa_answers)] = await bot.responses(BUNGA)
            assert (tg.channel, tg.status) == ("telegram", "tidak_mencari")
            assert (wa.channel, wa.status) == ("whatsapp", "bekerja")
            assert tg_answers["reason"] == "kesehatan" and wa_answers["employer"] == "PT Dua"
        finally:
            await bot.stop()
