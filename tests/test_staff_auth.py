"""Authorisation of staff commands, end to end on both channels, SQLite and PostgreSQL.

Every staff command is tried by an alumnus (one who has finished, one in the middle of a choice
question), by an unknown chat, by a removed staff member and by a teacher of another class.
None of them learns a name, a number or a count:
- alumni, unknown chats and removed staff get exactly what the questionnaire answers to any
  text it does not understand (compared with a control message in the same state), never a
  photo or a document, and no fixture name appears anywhere in what they receive;
- the teacher of another class gets one fixed answer, the same whether the class exists or
  not, that names only their own class.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import select, update

from storage import staff as staff_store
from storage.models import Alumnus, Contact, Staff
from tests import test_staff_chat as staff_chat
from tests.fixtures.reports_fixture import ROSTER
from tests.harness import WhatsAppChat
from tests.test_staff_chat import SRI_TG, open_xlsx, texts, tg_exchange, tg_sentinel_reply

# the same process under test as tests/test_staff_chat.py (its fixtures, shared)
fake_api = staff_chat.fake_api
graph = staff_chat.graph
built = staff_chat.built
bot = staff_chat.bot

pytestmark = pytest.mark.postgres

CONTROL = "/zzz_bukan_perintah"  # a command nobody knows: what the questionnaire says to it
STAFF_COMMANDS = [
    "/ringkasan",
    "/ringkasan XII TKJ 1",
    "/ringkasan XII TKJ 1 2024",
    "/ringkasan 2024",
    "/ringkasan@jejak_test_bot XII RPL 1",
    "ringkasan",
    "/summary",
    "/rekap",
    "/rekap 2024",
    "/ekspor",
    "/ekspor 2025",
    "/bantuan_staf",
    "/staf",
    "/lowongan",
    "/peminat 1",
]
NAMES = [row[0] for row in ROSTER] + ["Zaki Other"]
FIRST_NAMES = [n.split()[0] for n in NAMES]
RPL_TEACHER_TG = 9002
RPL_TEACHER_WA = "6281999000002"  # the fixture's Pak Budi Santoso (test_staff_chat.BUDI_WA)


def assert_no_names(text: str) -> None:
    leaked = [n for n in FIRST_NAMES if re.search(rf"\b{n}\b", text)]
    assert leaked == [], (leaked, text)


async def link_alumnus(core, built, channel: str, address: str, who: str, state: dict) -> None:
    async with core.db.session() as s:
        s.add(
            Contact(
                channel=channel,
                address=address,
                alumnus_id=built.ids[who],
                language="id",
                state={"v": 1, "lang": "id", **state},
            )
        )
        await s.commit()


async def settle_telegram(api, chat_id: int) -> list[str]:
    """Wait until the chat's bot messages stop coming; return the new ones' texts."""
    start = len(api.messages(chat_id))
    await api.await_for(lambda: len(api.messages(chat_id)) > start, timeout=10)
    while True:
        n = len(api.messages(chat_id))
        await asyncio.sleep(0.3)
        if len(api.messages(chat_id)) == n:
            return [c.text or "" for c in api.messages(chat_id)[start:]]


async def telegram_learns_nothing(api, chat_id: int) -> None:
    """Every staff command gets exactly the control's answer (the sentinel), no file."""
    control = await tg_sentinel_reply(api, chat_id, CONTROL)
    assert control
    for command in STAFF_COMMANDS:
        calls = await tg_exchange(api, chat_id, command, sentinel=CONTROL)
        assert texts(calls) == control, (command, texts(calls), control)
        assert all(c.method == "sendMessage" for c in calls), command
    everything = "\n".join(texts(api.messages(chat_id)))
    assert_no_names(everything)
    assert not [c for c in api.sent(chat_id) if c.method in ("sendPhoto", "sendDocument")]


async def whatsapp_learns_nothing(chat: WhatsAppChat, graph) -> None:
    uploads = len(graph.calls("media"))
    for command in STAFF_COMMANDS:
        got = await chat.send(command)
        kinds = {c.type for c in chat.batch}
        control = await chat.send(CONTROL)
        assert got == control, (command, got, control)
        assert kinds <= {"text", "interactive"}, (command, kinds)
        assert_no_names(got)
    assert len(graph.calls("media")) == uploads  # no chart, no export was even made


# ---- alumni ------------------------------------------------------------------------------------
async def test_alumni_learn_nothing_on_telegram(bot, fake_api, built):
    await link_alumnus(bot.core, built, "telegram", "7001", "Adi", {"stage": "done"})
    await link_alumnus(bot.core, built, "telegram", "7002", "Eko", {"stage": "q", "node": "B1"})
    for chat_id in (7001, 7002):
        await telegram_learns_nothing(fake_api, chat_id)
    # the one in the middle is still at the status question, nothing was recorded
    async with bot.core.db.session() as s:
        contact = (await s.execute(select(Contact).where(Contact.address == "7002"))).scalar_one()
    assert contact.state["stage"] == "q" and contact.state["node"] == "B1"
    assert not contact.state.get("answers")


async def test_alumnus_learns_nothing_on_whatsapp(bot, graph, built):
    await link_alumnus(bot.core, built, "whatsapp", "6281100000001", "Adi", {"stage": "done"})
    chat = WhatsAppChat(bot, graph, "6281100000001", name="Adi")
    await whatsapp_learns_nothing(chat, graph)


# ---- unknown chats and removed staff ---------------------------------------------------------
async def test_unknown_chats_learn_nothing(bot, fake_api, graph):
    # a brand-new chat: the first staff command is answered like any first message
    fake_api.push_text(8001, "/ringkasan XII TKJ 1")
    fake_api.push_text(8002, CONTROL)
    first, control = await asyncio.gather(
        settle_telegram(fake_api, 8001), settle_telegram(fake_api, 8002)
    )
    assert first == control and first
    await telegram_learns_nothing(fake_api, 8001)

    chat = WhatsAppChat(bot, graph, "6289900005555", name="Orang Asing")
    other = WhatsAppChat(bot, graph, "6289900006666", name="Orang Lain")
    assert await chat.send("/rekap") == await other.send(CONTROL)
    await whatsapp_learns_nothing(chat, graph)


async def test_removed_staff_learn_nothing(bot, fake_api, built):
    async with bot.core.db.session() as s:
        sri = (await s.execute(select(Staff).where(Staff.telegram_id == str(SRI_TG)))).scalar_one()
        assert await staff_store.remove_staff(s, built.school_id, sri.id) is not None
    fake_api.push_text(SRI_TG, "/ringkasan")
    fake_api.push_text(8003, CONTROL)
    first, control = await asyncio.gather(
        settle_telegram(fake_api, SRI_TG), settle_telegram(fake_api, 8003)
    )
    assert first == control
    await telegram_learns_nothing(fake_api, SRI_TG)


async def test_bad_staff_codes_get_one_answer(bot, fake_api, built):
    async with bot.core.db.session() as s:
        used = (await staff_store.create_invitation(s, built.school_id, role="bkk")).code
    fake_api.push_text(8101, used)
    await settle_telegram(fake_api, 8101)  # linked: 8101 is now BKK staff
    answers = []
    for chat_id, code in ((8102, used), (8103, "S-ABCDEFGHJK"), (8104, f"/start {used}")):
        fake_api.push_text(chat_id, code)
        answers.append(await settle_telegram(fake_api, chat_id))
    assert answers[0] == answers[1] == answers[2]
    (text,) = answers[0]
    assert text.startswith("Kode staf ini tidak berlaku") and not re.search(r"\d", text)


# ---- a teacher of another class ----------------------------------------------------------------
OWN_ONLY = "Anda hanya dapat melihat kelas Anda sendiri: XII RPL 1 (lulus 2024)."
BKK_ONLY = (
    "Perintah ini hanya untuk staf BKK dan admin. Ketik /ringkasan untuk ringkasan kelas Anda."
)
VACANCY_ONLY = "Perintah ini hanya untuk staf BKK."
OTHER_CLASS = {
    "/ringkasan XII TKJ 1": OWN_ONLY,
    "/ringkasan XII TKJ 1 2024": OWN_ONLY,
    "/ringkasan xii tkj 1 2025": OWN_ONLY,
    "/ringkasan XII TIDAK ADA 3": OWN_ONLY,  # the same answer for a class that does not exist
    "/rekap": BKK_ONLY,
    "/rekap 2024": BKK_ONLY,
    "/ekspor": BKK_ONLY,
    "/ekspor 2024": BKK_ONLY,
    "/lowongan": VACANCY_ONLY,
    "/peminat 1": VACANCY_ONLY,
}
TKJ_FIRST_NAMES = [row[0].split()[0] for row in ROSTER if row[2] == "XII TKJ 1"] + ["Zaki"]


async def test_teacher_of_another_class_on_both_channels(bot, fake_api, graph):
    async with bot.core.db.session() as s:
        budi = (await s.execute(select(Staff).where(Staff.whatsapp == RPL_TEACHER_WA))).scalar_one()
        budi.telegram_id = str(RPL_TEACHER_TG)
        await s.commit()
    chat = WhatsAppChat(bot, graph, RPL_TEACHER_WA, name="Budi Santoso")
    for command, expected in OTHER_CLASS.items():
        (tg,) = texts(await tg_exchange(fake_api, RPL_TEACHER_TG, command))
        wa = await chat.send(command)
        assert tg == wa == expected, command
    # his own summary names only his class's people
    for text in texts(await tg_exchange(fake_api, RPL_TEACHER_TG, "/ringkasan")):
        assert not [n for n in TKJ_FIRST_NAMES if re.search(rf"\b{n}\b", text)], text
    assert not [c for c in fake_api.sent(RPL_TEACHER_TG) if c.method != "sendMessage"]
    assert {c.type for c in graph.sent(RPL_TEACHER_WA)} == {"text"}


async def test_staff_of_another_school_see_only_their_school(bot, fake_api, built):
    """One deployment, two schools: SMK Lain's BKK sees SMK Lain's one graduate (Zaki), never
    SMK Uji's names or counts, in every staff command."""
    async with bot.core.db.session() as s:
        await staff_store.add_staff(
            s, built.other_school_id, role="bkk", name="Bu Lain", telegram_id="9030"
        )
    (overview,) = await tg_exchange(fake_api, 9030, "/ringkasan 2024")
    assert "• XII TKJ 1: 1 dari 1 menjawab (100%)" in overview.text
    (detail,) = await tg_exchange(fake_api, 9030, "/ringkasan XII TKJ 1 2024")
    assert "Lulusan: 1 · Sudah menjawab: 1 (100%)" in detail.text
    *recap, photo = await tg_exchange(fake_api, 9030, "/rekap")
    assert "TKJ: 1 lulusan, 1 menjawab (100%)" in "\n".join(texts(recap))
    assert photo.method == "sendPhoto"
    (document,) = await tg_exchange(fake_api, 9030, "/ekspor")

    rows = list(open_xlsx(document.files["document"].data)["lulusan"].iter_rows(values_only=True))
    assert [r[1] for r in rows[1:]] == ["Zaki Other"]
    everything = "\n".join(texts(fake_api.messages(9030)))
    assert not [n for n in FIRST_NAMES if n != "Zaki" and re.search(rf"\b{n}\b", everything)]
    assert "RPL" not in everything and "lulusan 2025" not in everything


async def test_a_staff_code_sent_in_a_group_chat_links_nothing(bot, fake_api, built):
    """Staff commands and digests show names and phone numbers: a group chat never becomes
    staff. A code sent in a group (typed, or as /start) gets the one "message me privately"
    line, links nothing and stays valid for the private chat."""
    async with bot.core.db.session() as s:
        code = (await staff_store.create_invitation(s, built.school_id, role="bkk")).code
    fake_api.push_group_message(-100777, code, user_id=9401)
    fake_api.push_group_message(-100777, f"/start {code}", user_id=9401)
    fake_api.push_group_message(-100777, f"/start@jejak_test_bot {code}", user_id=9401)
    await fake_api.await_new_messages(-100777, 1, timeout=10)
    await asyncio.sleep(0.5)
    group_texts = fake_api.texts(-100777)
    assert group_texts and all(t.startswith("Halo! Untuk menjawab") for t in group_texts)
    async with bot.core.db.session() as s:
        assert await staff_store.find_staff(s, "telegram", "-100777") is None
        assert await staff_store.find_staff(s, "telegram", "9401") is None
    # the code still links the person's own private chat
    fake_api.push_text(9401, code)
    linked, _help = await fake_api.await_new_messages(9401, 2, timeout=10)
    assert linked.text.startswith("✅ Chat ini sekarang terhubung sebagai staf BKK")


# ---- a class name recurs every year: teachers see their own cohorts only ------------------------
TKJ_2024_NAMES = [r[0] for r in ROSTER if r[2] == "XII TKJ 1" and r[4] == 2024]
TKJ_2025_NAMES = [r[0] for r in ROSTER if r[2] == "XII TKJ 1" and r[4] == 2025]


def named(names: list[str], text: str) -> list[str]:
    """Which of these full names (or their phone numbers) appear in `text`."""
    phones = {r[0]: r[6] for r in ROSTER}
    return [n for n in names if n in text or (phones.get(n) and phones[n] in text)]


async def give_tkj_2024_to_budi(core, built) -> None:
    """The roster as it really is in a school: the 2024 XII TKJ 1 had Pak Budi as wali kelas
    (the fixture gives Bu Sri both years); the 2025 one has Bu Sri."""
    async with core.db.session() as s:
        await s.execute(
            update(Alumnus)
            .where(
                Alumnus.school_id == built.school_id,
                Alumnus.kelas == "XII TKJ 1",
                Alumnus.graduation_year == 2024,
            )
            .values(homeroom_teacher="Pak Budi Santoso")
        )
        await s.commit()


async def test_a_teacher_cannot_read_another_teachers_cohort(bot, fake_api, graph, built):
    """Bu Sri is wali kelas of XII TKJ 1 (2025) only: no way of asking shows her Pak Budi's
    2024 XII TKJ 1 (names, phone numbers); one fixed answer names her own cohort. Pak Budi
    sees his 2024 cohorts and not hers, though the class name is the same."""
    from tests.test_staff_chat import RPL_2024, TKJ_2024, TKJ_2025

    await give_tkj_2024_to_budi(bot.core, built)
    own_only = "Anda hanya dapat melihat kelas Anda sendiri: XII TKJ 1 (lulus 2025)."
    for command in (
        "/ringkasan XII TKJ 1 2024",
        "/ringkasan 2024",
        "/ringkasan xii tkj1 2024",
        "/ringkasan XII RPL 1",
        "/ringkasan XII RPL 1 2024",
        "/ringkasan 2023",
    ):
        assert texts(await tg_exchange(fake_api, SRI_TG, command)) == [own_only], command
    for command in ("/ringkasan", "/ringkasan XII TKJ 1", "/ringkasan 2025"):
        assert texts(await tg_exchange(fake_api, SRI_TG, command)) == [TKJ_2025], command
    everything = "\n".join(texts(fake_api.messages(SRI_TG)))
    assert named(TKJ_2024_NAMES, everything) == []
    assert "+6281100000006" not in everything  # Fajar's phone, 2024

    chat = WhatsAppChat(bot, graph, RPL_TEACHER_WA, name="Budi Santoso")
    assert await chat.send("/ringkasan XII TKJ 1") == TKJ_2024
    assert await chat.send("/ringkasan") == "\n\n".join([RPL_2024, TKJ_2024])
    assert await chat.send("/ringkasan XII TKJ 1 2025") == (
        "Anda hanya dapat melihat kelas Anda sendiri: XII RPL 1 (lulus 2024), "
        "XII TKJ 1 (lulus 2024)."
    )
    everything = "\n".join(c.text or "" for c in graph.sent(RPL_TEACHER_WA))
    assert named(TKJ_2025_NAMES, everything) == []


async def test_an_explicit_class_is_one_cohort(bot, fake_api, built):
    """A teacher given a class with `--kelas` gets its newest cohort (or the year given with
    it), never the class's other years."""
    async with bot.core.db.session() as s:
        await staff_store.add_staff(
            s, built.school_id, role="teacher", name="Bu Ani", telegram_id="9410",
            kelas=["XII TKJ 1"],
        )  # fmt: skip
        await staff_store.add_staff(
            s, built.school_id, role="teacher", name="Pak Dodi", telegram_id="9411",
            kelas=["XII TKJ 1"], graduation_year=2024,
        )  # fmt: skip
    own_only = "Anda hanya dapat melihat kelas Anda sendiri: XII TKJ 1 (lulus {}).".format
    for chat_id, mine, other in ((9410, 2025, 2024), (9411, 2024, 2025)):
        for command in (f"/ringkasan XII TKJ 1 {other}", f"/ringkasan {other}"):
            assert texts(await tg_exchange(fake_api, chat_id, command)) == [own_only(mine)]
        (summary,) = texts(await tg_exchange(fake_api, chat_id, "/ringkasan XII TKJ 1"))
        assert summary.startswith(f"📋 Ringkasan XII TKJ 1 (lulus {mine})")
        others = TKJ_2024_NAMES if other == 2024 else TKJ_2025_NAMES
        assert named(others, "\n".join(texts(fake_api.messages(chat_id)))) == []


async def test_a_display_name_does_not_take_a_teachers_classes(bot, fake_api, graph, built):
    """A code made with only --kelas (the guide's example), redeemed by a chat whose display
    name is "Pak Budi Santoso" (anyone may call themselves that): the new member is named so,
    as a label, and sees the code's cohort only, not Pak Budi's classes."""
    async with bot.core.db.session() as s:
        wa_code = (
            await staff_store.create_invitation(
                s, built.school_id, role="teacher", kelas=["XII TKJ 1"]
            )
        ).code
        tg_code = (
            await staff_store.create_invitation(
                s, built.school_id, role="teacher", kelas=["XII TKJ 1"]
            )
        ).code
    chat = WhatsAppChat(bot, graph, "6281999000123", name="Pak Budi Santoso")
    text = await chat.send(wa_code)
    assert text.startswith(
        "✅ Chat ini sekarang terhubung sebagai wali kelas: Pak Budi Santoso.\n"
        "Kelas: XII TKJ 1 (lulus 2025)\n\n"
    ), text
    own_only = "Anda hanya dapat melihat kelas Anda sendiri: XII TKJ 1 (lulus 2025)."
    assert await chat.send("/ringkasan XII RPL 1") == own_only
    assert await chat.send("/ringkasan 2024") == own_only

    fake_api.push_text(9420, tg_code, first_name="Bu Sri Wahyuni")
    linked, _help = await fake_api.await_new_messages(9420, 2, timeout=10)
    assert linked.text == (
        "✅ Chat ini sekarang terhubung sebagai wali kelas: Bu Sri Wahyuni.\n"
        "Kelas: XII TKJ 1 (lulus 2025)"
    )
    assert texts(await tg_exchange(fake_api, 9420, "/ringkasan XII TKJ 1 2024")) == [own_only]
