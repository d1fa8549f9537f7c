"""End to end on Telegram: the real python-telegram-bot Application long-polls a fake Bot API
server on 127.0.0.1; the real conversation shell and database (SQLite, and PostgreSQL) behind it.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from storage.invitations import ensure_invitations, new_code, revoke_invitations
from storage.models import Alumnus
from tests.fakes.telegram_api import FakeBotApi
from tests.harness import BotUnderTest, TelegramChat, make_settings

pytestmark = pytest.mark.postgres

ADI = "0071234501"  # Adi Pratama, 14/03/2007, XII TKJ 1, graduated 2025
BUNGA = "3071234502"  # Bunga Lestari, 02/11/2007


@pytest.fixture
async def fake_api():
    with FakeBotApi() as api:
        yield api


@pytest.fixture
async def bot(fake_api, db_url, db):  # `db` migrates (and resets PostgreSQL) first
    under_test = BotUnderTest(
        make_settings(db_url, telegram_bot_token=fake_api.token, telegram_api_url=fake_api.url)
    )
    await under_test.start()
    yield under_test
    await under_test.stop()


async def onboard_with_link(bot: BotUnderTest, chat: TelegramChat, nisn: str) -> str:
    """Deep link -> consent -> confirm -> vacancy consent: returns the status question."""
    text = await chat.send(f"/start {bot.codes[nisn]}")
    assert "Apakah Anda setuju?" in text
    assert chat.buttons() == ["Setuju", "Tidak setuju"]
    text = await chat.tap("Setuju")
    assert "Adi Pratama" in text or "Bunga Lestari" in text
    text = await chat.tap("Ya, benar")
    assert "lowongan" in text
    return await chat.tap("Ya")


BRANCHES = {
    "bekerja": (
        [
            ("tap", "1. Bekerja"),
            ("send", "PT Maju Jaya"),
            ("send", "Teknisi Jaringan"),
            ("tap", "1. Perusahaan swasta"),
            ("send", "2"),
            ("send", "07/2025"),
            ("send", "pkl"),
            ("send", "lewati"),
            ("send", "sangat sesuai"),
            ("send", "Praktik lebih banyak"),
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
            ("send", "usaha"),
            ("send", "Servis HP"),
            ("send", "Maret 2025"),
            ("send", "sendiri"),
            ("tap", "Rp2–3 juta"),  # a range question: no numbers
            ("tap", "2. Sesuai"),
            ("send", "LEWATI"),
        ],
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
            ("send", "KULIAH"),
            ("send", "Politeknik Negeri Jakarta"),
            ("send", "Teknik Informatika"),
            ("send", "d3"),
            ("tap", "Ya, sejalan"),
            ("send", "lewati"),
        ],
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
            ("tap", "4. Kursus / pelatihan"),
            ("send", "BLK Bekasi"),
            ("send", "Pengelasan"),
            ("send", "luar negeri"),
            ("send", "lewati"),
        ],
        {
            "status": "kursus",
            "provider": "BLK Bekasi",
            "field": "Pengelasan",
            "goal": "kerja_luar_negeri",
        },
    ),
    "mencari_kerja": (
        [
            ("send", "5"),
            ("send", "5 bulan"),  # a quantity, not the fifth option
            ("send", "1, 3"),
            ("send", "tidak"),
            ("send", "lewati"),
        ],
        {
            "status": "mencari_kerja",
            "searching_months": "4_6",
            "obstacles": ["sedikit_lowongan", "tidak_sesuai_jurusan"],
            "willing_to_relocate": "tidak",
        },
    ),
    "tidak_mencari": (
        [("send", "6"), ("send", "sakit"), ("send", "lewati")],
        {"status": "tidak_mencari", "reason": "kesehatan"},
    ),
}


@pytest.mark.parametrize("branch", list(BRANCHES))
async def test_every_status_branch_by_link_taps_and_typing(bot, fake_api, branch):
    chat = TelegramChat(fake_api, 5001)
    status_q = await onboard_with_link(bot, chat, ADI)
    assert "kegiatan utama" in status_q
    steps, expected = BRANCHES[branch]
    text = ""
    for how, value in steps:
        text = await (chat.tap(value) if how == "tap" else chat.send(value))
        assert "tidak ada di pilihan" not in text, f"{value!r} was refused: {text}"
    assert "Terima kasih, jawaban Anda sudah tersimpan" in text
    [(response, answers)] = await bot.responses(ADI)
    assert response.completed_at is not None and response.status == branch
    assert response.channel == "telegram"
    assert answers == expected
    alumnus = await bot.alumnus(ADI)
    assert alumnus.consent_tracer_at is not None and alumnus.consent_vacancies is True
    # the tapped message lost its keyboard and shows the choice
    edits = fake_api.calls("editMessageText")
    assert edits and all("✓" in (c.params.get("text") or "") for c in edits)
    # every tap was answered (answerCallbackQuery goes out alongside the commit, so the last
    # one may still be in flight when the reply arrives)
    taps = len(fake_api.callback_answers()) + len(fake_api.unanswered_callbacks())
    await fake_api.await_calls("answerCallbackQuery", taps)
    assert taps >= 3 and fake_api.unanswered_callbacks() == []


async def test_range_question_buttons_carry_no_numbers_and_a_typed_number_is_a_count(bot, fake_api):
    chat = TelegramChat(fake_api, 5091)
    await onboard_with_link(bot, chat, ADI)
    for answer in ["usaha", "Servis HP", "Maret 2025"]:
        text = await chat.send(answer)
    assert "Tulis jumlahnya" in text
    assert chat.buttons() == [
        "Tidak ada (sendiri)",
        "1–4 orang",
        "5–19 orang",
        "20 orang atau lebih",
    ]
    text = await chat.send("4")  # four people, not the fourth button
    assert "penghasilan" in text
    assert chat.buttons()[0] == "< Rp1 juta"
    text = await chat.send("UMR")
    assert "UMR/UMK berbeda" in text
    await chat.send("2,5 juta")
    [(_, answers)] = await bot.responses(ADI)
    assert answers["workers"] == "1_4" and answers["income"] == "2_3"


async def test_the_whole_questionnaire_over_ptbs_own_httpx_transport(fake_api, db_url, db):
    """TELEGRAM_HTTP=httpx: python-telegram-bot's own HTTP client instead of aiohttp."""
    settings = make_settings(
        db_url,
        telegram_bot_token=fake_api.token,
        telegram_api_url=fake_api.url,
        telegram_http="httpx",
    )
    under_test = await BotUnderTest(settings).start()
    try:
        request = under_test.telegram.bot.request
        assert type(request).__name__ == "HTTPXRequest"
        chat = TelegramChat(fake_api, 5090)
        await onboard_with_link(under_test, chat, ADI)
        steps, expected = BRANCHES["wirausaha"]
        text = ""
        for how, value in steps:
            text = await (chat.tap(value) if how == "tap" else chat.send(value))
        assert "Terima kasih, jawaban Anda sudah tersimpan" in text
        [(response, answers)] = await under_test.responses(ADI)
        assert answers == expected
    finally:
        await under_test.stop()


async def test_four_inputs_from_link_to_status_question(bot, fake_api):
    chat = TelegramChat(fake_api, 5002)
    fake_api.push_text(5002, f"/start {bot.codes[ADI]}")  # opening the link is not an input
    await fake_api.await_new_messages(5002, 1)
    inputs = ["Setuju", "Ya, benar", "Ya"]
    for label in inputs:
        await chat.tap(label)
    assert "kegiatan utama" in chat.last_text()
    assert len(inputs) + 1 <= 4  # + the status answer itself


async def test_identify_by_nisn_and_birth_date_with_limited_guesses(bot, fake_api):
    chat = TelegramChat(fake_api, 5003)
    await chat.send("/start")
    text = await chat.send("setuju")
    assert "NISN" in text
    # a wrong birth date for a real NISN and an unknown NISN get the same answer
    await chat.send(ADI)
    wrong_dob = await chat.send("01-01-2007")
    await chat.send("0099999999")
    unknown = await chat.send("14-03-2007")
    assert wrong_dob == unknown and "tidak cocok" in wrong_dob
    assert "bukan" not in wrong_dob.lower()
    text = await chat.send("12345")
    assert "10 angka" in text
    # a NISN typed without its leading zero still matches
    await chat.send("71234501")
    text = await chat.send("14/03/2007")
    assert "Adi Pratama" in text and "XII TKJ 1" in text
    await chat.tap("Ya, benar")
    text = await chat.tap("Tidak")
    assert "kegiatan utama" in text
    assert (await bot.alumnus(ADI)).consent_vacancies is False


async def test_words_at_the_identity_step_cost_no_guesses(bot, fake_api):
    """ "lupa nisn" and the like get help, not "Data tidak cocok", and never lock the chat;
    then NISN and birth date in one message identify."""
    chat = TelegramChat(fake_api, 5010)
    await chat.send("/start")
    await chat.send("setuju")
    for text in ["lupa nisn", "tidak tahu", "gimana caranya", "kodenya mana", "belum punya"] * 2:
        reply = await chat.send(text)
        assert "ijazah" in reply and "tidak cocok" not in reply and "Terlalu banyak" not in reply
    text = await chat.send("0071234501 14-03-2007")
    assert "Apakah Anda Adi Pratama" in text
    contact = await bot.contact("telegram", "5010")
    assert "failures" not in contact.state and "locked_until" not in contact.state


async def test_mulai_and_bantuan_in_a_new_chat(bot, fake_api):
    chat = TelegramChat(fake_api, 5011)
    text = await chat.send("bantuan", n=2)
    assert "ketik MULAI" in text and "UBAH" in fake_api.texts(5011)[-2]
    text = await chat.send("Mulai")
    assert "Apakah Anda setuju?" in text and "pesan dari kami lagi" not in text
    text = await chat.send("setuju")
    assert "NISN" in text
    text = await chat.send(f"Kode: {bot.codes[BUNGA]}")
    assert "Apakah Anda Bunga Lestari" in text


async def test_lockout_after_too_many_failures(bot, fake_api):
    chat = TelegramChat(fake_api, 5004)
    await chat.send("/start")
    await chat.send("setuju")
    for _ in range(4):
        await chat.send("0099999999")
        text = await chat.send("01-01-2000")
        assert "tidak cocok" in text
    await chat.send("0099999999")
    text = await chat.send("01-01-2000", n=1)
    assert "Terlalu banyak percobaan" in text
    # even the right answer is refused while locked
    text = await chat.send(ADI)
    assert "Terlalu banyak percobaan" in text
    contact = await bot.contact("telegram", "5004")
    assert contact.alumnus_id is None


async def test_consent_refused_stores_nothing_but_the_refusal(bot, fake_api):
    """Adi opens his invitation and does not agree: his chat is not linked, no answers or
    consent are stored, and his roster row says he declined (the fact and the time), which
    DATA tells him. A refusal before anyone is identified (no code) is tied to nobody."""
    chat = TelegramChat(fake_api, 5005)
    await chat.send(f"/start {bot.codes[ADI]}")
    text = await chat.tap("Tidak setuju")
    assert "tidak menyimpan jawaban" in text and "undangan ini ditolak" in text
    contact = await bot.contact("telegram", "5005")
    assert contact.refused_at is not None and contact.alumnus_id is None
    adi = await bot.alumnus(ADI)
    assert adi.consent_tracer_at is None and adi.consent_vacancies is None
    assert adi.declined_at == contact.refused_at
    assert await bot.responses(ADI) == []
    text = await chat.send("DATA")
    assert text.startswith("Dari chat ini kami hanya menyimpan bahwa Anda tidak menyetujui")
    text = await chat.send("bekerja")
    assert "Ketik MULAI" in text
    text = await chat.send("halo")  # a greeting begins again: the consent question only
    assert "Apakah Anda setuju?" in text
    assert (await bot.alumnus(ADI)).consent_tracer_at is None

    anonymous = TelegramChat(fake_api, 5006)
    await anonymous.send("/start")
    assert "kami tidak menyimpan data Anda" in await anonymous.tap("Tidak setuju")
    async with bot.core.db.session() as s:
        declined = await s.execute(select(Alumnus.nisn).where(Alumnus.declined_at.is_not(None)))
        assert declined.scalars().all() == [ADI]


async def test_a_revoked_code_is_answered_like_an_unknown_one_and_a_new_code_works(bot, fake_api):
    """After `jejak invite revoke` (a leaked list of links): the old code identifies nobody and
    gets word for word the replies of a code that never existed; `invite links` gives a new
    code that does identify."""
    core = bot.core
    revoked = bot.codes[ADI]
    assert (await revoke_invitations(core.db, core.school.id, nisns=[ADI])).revoked == 1
    unknown = next(c for c in iter(new_code, None) if c not in bot.codes.values())
    old_chat, unknown_chat = TelegramChat(fake_api, 5020), TelegramChat(fake_api, 5021)

    def seen(chat: TelegramChat) -> tuple[str, list[str]]:
        return chat.last_text(), chat.buttons()

    steps = [("send", "/start {code}"), ("tap", "Setuju"), ("send", "{lower}"), ("send", "bukan")]
    for how, text in steps:
        for chat, code in ((old_chat, revoked), (unknown_chat, unknown)):
            typed = text.format(code=code, lower=code.lower())
            await (chat.send(typed) if how == "send" else chat.tap(typed))
        assert seen(old_chat) == seen(unknown_chat), (how, text)
        assert "Adi" not in old_chat.last_text()
    assert fake_api.texts(5020) == fake_api.texts(5021)
    assert (await bot.contact("telegram", "5020")).alumnus_id is None
    assert (await bot.alumnus(ADI)).consent_tracer_at is None

    fresh = {a.nisn: code for a, code in await ensure_invitations(core.db, core.school.id)}
    assert fresh[ADI] != revoked
    assert {n: c for n, c in fresh.items() if n != ADI} == {
        n: c for n, c in bot.codes.items() if n != ADI
    }
    chat = TelegramChat(fake_api, 5022)
    await chat.send(f"/start {fresh[ADI]}")
    text = await chat.tap("Setuju")
    assert "Adi Pratama" in text
    await chat.tap("Ya, benar")
    assert (await bot.contact("telegram", "5022")).alumnus_id == (await bot.alumnus(ADI)).id


async def test_resume_after_restart_then_ubah_keeps_history(bot, fake_api):
    chat = TelegramChat(fake_api, 5006)
    await onboard_with_link(bot, chat, ADI)
    await chat.send("bekerja")
    await chat.send("PT Sinar")
    # the bot restarts mid-questionnaire
    await bot.stop()
    await bot.start(seed=False)
    text = await chat.send("Operator")
    assert "Jenis tempat kerja" in text
    for answer in ["1", "1", "06/2025", "bkk", "3", "2", "lewati"]:
        text = await chat.send(answer)
    assert "Terima kasih" in text
    [(first, answers)] = await bot.responses(ADI)
    assert answers["employer"] == "PT Sinar" and answers["job_title"] == "Operator"
    # later: /ubah -> a new response; the old one is kept as history
    text = await chat.send("/ubah")
    assert "kegiatan utama" in text
    await chat.send("kuliah")
    for answer in ["Universitas Terbuka", "Manajemen", "s1", "tidak", "lewati"]:
        text = await chat.send(answer)
    assert "Terima kasih" in text
    responses = await bot.responses(ADI)
    assert [r.status for r, _ in responses] == ["bekerja", "melanjutkan"]
    assert all(r.completed_at is not None for r, _ in responses)
    text = await chat.send("/data")
    assert "Kuliah / melanjutkan" in text and "Riwayat: 1" in text and ADI in text


async def test_back_and_skip_and_invalid_answers(bot, fake_api):
    chat = TelegramChat(fake_api, 5007)
    await onboard_with_link(bot, chat, ADI)
    text = await chat.send("kembali")
    assert "pertanyaan pertama" in text
    text = await chat.send("astronot")
    assert "tidak ada di pilihan" in text and "kegiatan utama" in text
    text = await chat.send("belum")  # matches two labels: ambiguous, asked again
    assert "beberapa pilihan" in text
    await chat.send("bekerja")
    text = await chat.send("lewati")
    assert "wajib" in text
    await chat.send("PT A")
    text = await chat.send("kembali")
    assert "perusahaan/instansi" in text
    await chat.send("PT B")
    await chat.send("Staff")
    await chat.send("1")
    await chat.send("1")
    text = await chat.send("13/2025")
    assert "07/2025" in text  # the month format is explained
    text = await chat.send("01/2099")
    assert "belum lewat" in text
    text = await chat.send("01/2020")
    assert "terlalu awal" in text
    text = await chat.send("08/2025")
    assert "Dari mana" in text
    [(response, answers)] = await bot.responses(ADI)
    assert answers["employer"] == "PT B" and answers["start_month"] == "08/2025"
    assert response.completed_at is None and response.last_question == "C6"


async def test_stale_button_is_not_acted_on(bot, fake_api):
    chat = TelegramChat(fake_api, 5008)
    await onboard_with_link(bot, chat, ADI)
    status_message = fake_api.last_message(5008)
    await chat.send("bekerja")
    # tap "Wirausaha" on the old status message
    data = [
        b["callback_data"]
        for row in status_message["reply_markup"]["inline_keyboard"]
        for b in row
        if b["text"] == "2. Wirausaha"
    ][0]
    fake_api.push_callback(5008, data, message_id=status_message["message_id"])
    [reply] = await fake_api.await_new_messages(5008, 1)
    assert "pesan lama" in reply.text and "perusahaan/instansi" in reply.text
    [(response, answers)] = await bot.responses(ADI)
    assert answers == {"status": "bekerja"}


async def test_commands_stop_language_help_delete(bot, fake_api):
    chat = TelegramChat(fake_api, 5009)
    await onboard_with_link(bot, chat, BUNGA)
    await chat.send("bekerja")
    text = await chat.send("/bantuan", n=2)
    assert "perusahaan/instansi" in text
    assert "UBAH" in fake_api.texts(5009)[-2]
    text = await chat.send("/bahasa", n=2)
    assert "Which company" in text
    assert (await bot.contact("telegram", "5009")).language == "en"
    await chat.send("/bahasa id", n=2)
    text = await chat.send("STOP")
    assert "tidak akan mengirim" in text
    assert (await bot.alumnus(BUNGA)).stopped_at is not None
    text = await chat.send("/hapus")
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
    contact = await bot.contact("telegram", "5009")
    assert contact.alumnus_id is None
    text = await chat.send("/data")
    assert "belum menyimpan" in text


async def test_duplicate_update_id_is_processed_once(bot, fake_api):
    chat = TelegramChat(fake_api, 5010)
    await onboard_with_link(bot, chat, ADI)
    update = fake_api.push_text(5010, "bekerja")
    await fake_api.await_new_messages(5010, 1)
    fake_api.push_raw(update)  # Telegram redelivers the same update_id
    fake_api.push_text(5010, "PT Satu")
    await fake_api.await_new_messages(5010, 1)
    await asyncio.sleep(0.3)
    assert fake_api.pending_updates() == 0
    [(response, answers)] = await bot.responses(ADI)
    assert answers == {"status": "bekerja", "employer": "PT Satu"}
    assert "Apa jabatan" in chat.last_text()


async def test_junk_input_never_crashes(bot, fake_api):
    chat = TelegramChat(fake_api, 5011)
    await onboard_with_link(bot, chat, ADI)
    fake_api.push_photo(5011)
    [reply] = await fake_api.await_new_messages(5011, 1)
    assert "hanya bisa membaca" in reply.text and "kegiatan utama" in reply.text
    fake_api.push_sticker(5011)
    fake_api.push_voice(5011)
    await fake_api.await_new_messages(5011, 2)
    fake_api.push_edited_message(5011, "bekerja")
    fake_api.push_channel_post(-100123, "Info")
    fake_api.push_group_message(-100555, "halo semua", user_id=5011)
    fake_api.push_group_message(-100555, "/start", user_id=5011)
    await fake_api.await_new_messages(-100555, 1)
    fake_api.push_callback(5011, "garbage-data")
    fake_api.push_text(5011, "x" * 4000)
    await fake_api.await_new_messages(5011, 2)
    await asyncio.sleep(0.3)
    assert fake_api.texts(-100123) == []
    assert len(fake_api.texts(-100555)) == 1
    [(response, answers)] = await bot.responses(ADI)
    assert answers == {}  # nothing was answered by any of that
    text = await chat.send("bekerja")
    assert "perusahaan/instansi" in text


async def test_one_persons_updates_stay_in_order_while_others_run(bot, fake_api):
    chats = [TelegramChat(fake_api, 6000 + i) for i in range(3)]
    codes = [ADI, BUNGA, "3071234505"]
    for chat, nisn in zip(chats, codes, strict=True):
        await chat.send(f"/start {bot.codes[nisn]}")
        await chat.tap("Setuju")
        await chat.tap("Ya, benar")
        await chat.tap("Ya")
    # everyone fires the whole bekerja branch without waiting for replies
    answers = ["bekerja", "PT Urut", "Kasir", "1", "1", "05/2025", "bkk", "lewati", "2", "ok"]
    for answer in answers:
        for chat in chats:
            fake_api.push_text(chat.chat_id, answer)
    for chat in chats:
        await fake_api.await_new_messages(chat.chat_id, len(answers), timeout=20)
    for nisn in codes:
        [(response, got)] = await bot.responses(nisn)
        assert response.completed_at is not None
        assert got["employer"] == "PT Urut" and got["job_title"] == "Kasir"
        assert got["start_month"] == "05/2025" and got["school_feedback"] == "ok"


async def test_telegram_username_is_kept_shown_in_data_and_deleted(bot, fake_api):
    """The @username Telegram sends with each update is kept on the chat only while it is
    linked to a graduate (BKK staff reach interested graduates by it), shown in /data,
    follows a change or removal on Telegram, and is cleared by /hapus."""
    chat = TelegramChat(fake_api, 5011, username="bunga_l")
    assert "Apakah Anda setuju?" in await chat.send(f"/start {bot.codes[BUNGA]}")
    assert (await bot.contact("telegram", "5011")).username is None  # not linked: not kept
    await chat.tap("Setuju")
    assert (await bot.contact("telegram", "5011")).username is None
    await chat.tap("Ya, benar")  # linked now
    assert (await bot.contact("telegram", "5011")).username == "bunga_l"
    await chat.tap("Ya")

    async def data() -> str:  # /data, then the question she is at is asked again
        await chat.send("/data", n=2)
        return fake_api.texts(5011)[-2]

    assert "Username Telegram: @bunga_l" in await data()
    chat.user = {"username": "bunga_baru"}  # renamed on Telegram
    assert "Username Telegram: @bunga_baru" in await data()
    assert (await bot.contact("telegram", "5011")).username == "bunga_baru"
    chat.user = {}  # removed on Telegram
    assert "Username" not in await data()
    assert (await bot.contact("telegram", "5011")).username is None
    chat.user = {"username": "bunga_l"}
    assert "Ketik YA" in await chat.send("/hapus")
    assert "sudah dihapus" in await chat.send("ya")
    contact = await bot.contact("telegram", "5011")
    assert contact.alumnus_id is None and contact.username is None
