"""Which text is a staff code, and what happens to text that only looks like one.

A staff code is "S-" and ten characters of the code alphabet, exactly as `jejak staff invite`
prints it (any case; alone, after /start, or as a pasted t.me link). Anything else starting
with "S-" is ordinary text: an employer called "S-Tech Makmur" or "S-Mart Cabang" is an
answer. And while a chat is in the middle of the questionnaire (or of a /lowongan draft),
even a code-shaped text that is no valid code goes on as the answer: the graduate never hears
of staff codes and nothing they typed is lost.

End to end: the process `jejak run` starts, on the sample roster, a graduate on WhatsApp; a
BKK member's /lowongan draft on Telegram (the staff chat fixture). SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from bot.staff import staff_code_in
from conversations.types import Inbound, InputKind
from storage import staff as staff_store
from tests import test_staff_chat as staff_chat
from tests.fakes.graph_api import FakeGraphApi
from tests.harness import RunningBot, WhatsAppChat, make_settings, whatsapp_overrides
from tests.test_staff_chat import BKK_TG
from tests.test_whatsapp_e2e import ADI, ADI_WA, onboard_by_phone

pytestmark = pytest.mark.postgres

fake_api = staff_chat.fake_api
built = staff_chat.built
staff_bot = staff_chat.bot

CODE = "S-7KQ2M9XRTA"
INVALID = "Kode staf ini tidak berlaku"


def text_inbound(text: str) -> Inbound:
    return Inbound(channel="whatsapp", address="6281200000001", kind=InputKind.TEXT, text=text)


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        (CODE, CODE),
        (CODE.lower(), CODE),
        (f"  {CODE}\n", CODE),
        (f"/start {CODE}", CODE),
        (f"/start@jejak_bot {CODE}", CODE),
        (f"https://t.me/jejak_bot?start={CODE}", CODE),
        (f"t.me/jejak_bot?start={CODE}", CODE),
        # company names and other answers
        ("S-Tech Makmur", None),
        ("S-Mart Cabang", None),
        ("S-Mart", None),
        # the exact shape: only the database can tell (mid-questionnaire it is an answer)
        ("S-techmakmur", "S-TECHMAKMUR"),
        ("PT S-Tech Makmur Abadi", None),
        (f"Kode saya {CODE}", None),
        (f"{CODE} ya", None),
        ("S-7KQ2 M9XRTA", None),  # spaces inside: not as printed
        ("S 7KQ2M9XRTA", None),
        ("S7KQ2M9XRTA", None),
        ("S-7KQ2M9XRT0", None),  # 0 is not in the code alphabet
        ("S-7KQ2M9XRTAB", None),
        ("7KQ2M9XRTA", None),  # an alumni-style code
        ("", None),
    ],
)
def test_only_the_exact_shape_is_a_staff_code(typed, code):
    assert staff_code_in(text_inbound(typed)) == code
    assert staff_store.normalise_staff_code(typed) == code


def test_a_start_payload_is_a_code_only_in_the_exact_shape():
    start = Inbound(channel="telegram", address="1", kind=InputKind.START, value=CODE.lower())
    assert staff_code_in(start) == CODE
    other = Inbound(channel="telegram", address="1", kind=InputKind.START, value="S-Tech")
    assert staff_code_in(other) is None


# ---- a graduate in the middle of the questionnaire ------------------------------------------
@pytest.fixture
async def graph():
    async with FakeGraphApi() as api:
        yield api


@pytest.fixture
async def sample_bot(graph, db_url, db):  # `db` migrates (and resets PostgreSQL) first
    under_test = RunningBot(
        make_settings(db_url, **whatsapp_overrides(graph), **staff_chat.quiet_digest())
    )
    await under_test.start()
    yield under_test
    await under_test.stop()


async def test_employer_names_starting_with_s_dash_are_answers(sample_bot, graph):
    """ "S-Tech Makmur" as the employer, and even a code-shaped text that is no valid code as
    the job title: each is taken as the answer and the next question follows."""
    chat = WhatsAppChat(sample_bot, graph, ADI_WA, name="Adi")
    await onboard_by_phone(chat, "14-03-2007", "Adi Pratama")
    text = await chat.tap("bekerja")
    assert "perusahaan/instansi" in text
    text = await chat.send("S-Tech Makmur")
    assert INVALID not in text and "jabatan" in text.lower(), text
    text = await chat.send("S-ABCDEFGHJK")  # code-shaped, but no code: the job title
    assert INVALID not in text and "jenis tempat kerja" in text.lower(), text
    [(_response, answers)] = await sample_bot.responses(ADI)
    assert answers["employer"] == "S-Tech Makmur"
    assert answers["job_title"] == "S-ABCDEFGHJK"
    everything = "\n".join(c.text or "" for c in graph.sent(ADI_WA))
    assert "staf" not in everything.lower()


async def test_a_code_shaped_text_outside_the_questionnaire_is_a_bad_code(sample_bot, graph):
    """A chat that is not answering a question (a newcomer): a code-shaped text that is no
    valid code gets the one bad-code answer; "S-Mart Cabang" is just a first message."""
    chat = WhatsAppChat(sample_bot, graph, "6289900007777", name="Orang")
    assert (await chat.send("S-ABCDEFGHJK")).startswith(INVALID)
    other = WhatsAppChat(sample_bot, graph, "6289900008888", name="Orang Lain")
    text = await other.send("S-Mart Cabang")
    assert INVALID not in text and "Apakah Anda setuju?" in text


# ---- a BKK member's /lowongan draft ---------------------------------------------------------
async def test_a_vacancy_company_starting_with_s_dash(staff_bot, fake_api):
    fake_api.push_text(BKK_TG, "/lowongan")
    (asked,) = await fake_api.await_new_messages(BKK_TG, 1, timeout=10)
    assert "Nama perusahaan" in asked.text
    fake_api.push_text(BKK_TG, "S-Mart Cabang")
    (position,) = await fake_api.await_new_messages(BKK_TG, 1, timeout=10)
    assert position.text.startswith("Posisi"), position.text
    fake_api.push_text(BKK_TG, "S-ABCDEFGHJK")  # code-shaped, no code: the position
    (majors,) = await fake_api.await_new_messages(BKK_TG, 1, timeout=10)
    assert "Jurusan" in majors.text, majors.text
    fake_api.push_text(BKK_TG, "batal")
    (cancelled,) = await fake_api.await_new_messages(BKK_TG, 1, timeout=10)
    assert cancelled.text.startswith("Dibatalkan")
