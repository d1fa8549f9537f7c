"""The onboarding steps read ordinary messages the way graduates write them: words at the
identity step are no guesses, identifiers are picked out of sentences, MULAI/greetings/BANTUAN
lead to the consent question, and yes/no replies are read from their yes/no words.
Driven through tests/engine_driver.py like tests/test_engine.py."""

from __future__ import annotations

from datetime import date

import pytest

from conversations import engine
from conversations.engine import Link, Lookup, Refused, SetStop, VacancyConsent
from tests.engine_driver import ADI, BUNGA, NOW, Driver, make_ctx

WORDS = ["lupa nisn", "tidak tahu", "gimana caranya", "kodenya mana", "belum punya", "setuju"]


def at_ask_id(**kw) -> Driver:
    d = Driver(**kw)
    d.start()
    d.text("setuju")
    assert d.stage == "ask_id"
    return d


# ---- 1. words at the identity step cost nothing ----
def test_words_at_the_identity_step_get_help_and_are_no_guesses():
    d = at_ask_id(ctx=make_ctx(max_failures=3))
    for _ in range(2):
        for text in [*WORDS, "setuju", "halo", "ok"]:
            out = d.text(text)
            assert out.lookups == [] and d.stage == "ask_id"
            assert "tidak cocok" not in out.text and "Terlalu banyak" not in out.text
            assert "ijazah" in out.text and "SKL" in out.text and "BKK" in out.text
            assert "tautan" in out.text  # how to use the invitation link
    assert "failures" not in d.state and "locked_until" not in d.state
    d.text(ADI.nisn)
    out = d.text("14-03-2007")
    assert d.stage == "confirm" and "Adi Pratama" in out.text


def test_help_at_the_identity_step_in_english():
    d = Driver(state=engine.initial_state("en"))
    d.start()
    d.text("agree")
    out = d.text("i forgot my nisn")
    assert "diploma" in out.text and out.lookups == []


def test_a_mistyped_code_is_explained_and_not_looked_up():
    d = at_ask_id()
    out = d.text("A7K2Q9XMP0")  # 0 is never in a code
    assert out.lookups == [] and "tidak dikenali" in out.text and "O, I, L" in out.text
    assert "failures" not in d.state


def test_real_guesses_still_count_and_lock():
    d = at_ask_id(ctx=make_ctx(max_failures=3))
    d.text("ZZZZ2222ZZ")  # a well-formed code nobody has
    d.text("kode saya ZZZZ3333ZZ")
    assert d.state["failures"] == 2
    out = d.text("0099999999 01-01-2007")  # NISN + date in one message: one guess
    assert "Terlalu banyak percobaan" in out.text and "locked_until" in d.state
    out = d.text("lupa nisn")  # while locked: the lock, nothing looked up
    assert "Terlalu banyak" in out.text and out.lookups == []


def test_the_reply_to_an_unknown_nisn_with_a_date_reveals_nothing():
    d = at_ask_id()
    unknown = d.text("0099999999 14-03-2007").text
    wrong_dob = d.text(f"{ADI.nisn} 01-01-2007").text
    assert unknown == wrong_dob and "tidak cocok" in unknown
    assert d.state["failures"] == 2


def test_nisn_with_its_label():
    d = at_ask_id()
    out = d.text("NISN 3071234502")
    assert d.stage == "ask_dob" and d.state["nisn"] == BUNGA.nisn and out.lookups == []
    d = at_ask_id()
    d.text("nisn: 3071.2345.02")
    assert d.stage == "ask_dob" and d.state["nisn"] == BUNGA.nisn


# ---- 2. identifiers out of a sentence ----
SENTENCES = [
    "https://t.me/jejak_bot?start={code}",
    "kode saya {code}",
    "{code}.",
    "Kode: {code}",
    "kode undangan saya {lower}, makasih kak",
]


@pytest.mark.parametrize("template", SENTENCES)
def test_a_code_in_a_sentence_at_the_identity_step(template):
    d = at_ask_id()
    out = d.text(template.format(code=ADI.code, lower=ADI.code.lower()))
    assert out.lookups == [Lookup("code", code=ADI.code)]
    assert d.stage == "confirm" and "Adi Pratama" in out.text


@pytest.mark.parametrize("template", SENTENCES)
def test_a_code_in_a_sentence_as_the_first_message(template):
    d = Driver(channel="whatsapp", address="6289900000000")
    out = d.text(template.format(code=ADI.code, lower=ADI.code.lower()))
    assert d.stage == "consent" and d.state["code"] == ADI.code and out.lookups == []
    out = d.text("setuju")
    assert out.lookups == [Lookup("code", code=ADI.code)] and d.stage == "confirm"


def test_a_start_payload_that_is_no_code_is_ignored_and_costs_nothing():
    d = Driver()
    d.start("promo_instagram")
    assert d.stage == "consent" and "code" not in d.state
    out = d.text("setuju")
    assert d.stage == "ask_id" and "failures" not in d.state
    assert [lk.kind for lk in out.lookups] == ["phone"]


def test_nisn_and_birth_date_in_one_message():
    d = at_ask_id()
    out = d.text("0071234501 14-03-2007")
    assert out.lookups == [Lookup("nisn", nisn=ADI.nisn, dob=date(2007, 3, 14))]
    assert d.stage == "confirm" and "Adi Pratama" in out.text and "nisn" not in d.state
    out = d.text("ya")
    assert out.of(Link) == [Link(ADI.id, NOW.isoformat())]


@pytest.mark.parametrize(
    "text", ["0071234501 14-03-95", "0071234501 140395", "nisn 0071234501 lahir 14 maret 95"]
)
def test_a_two_digit_year_next_to_the_nisn_is_a_plausible_birth_year(text):
    """Next to a NISN, "95" is 1995 (a graduate's birth year), never 2095."""
    d = at_ask_id()
    out = d.text(text)
    assert out.lookups == [Lookup("nisn", nisn=ADI.nisn, dob=date(1995, 3, 14))]
    d = at_ask_id()
    d.text(ADI.nisn)
    out = d.text(f"lahir {text.split(' ', 1)[1]}")  # at the date step, in a sentence
    assert [lk.dob for lk in out.lookups] == [date(1995, 3, 14)]


def test_nisn_and_birth_date_in_a_sentence():
    d = at_ask_id()
    out = d.text("nisn saya 0071234501 lahir 14 maret 2007")
    assert out.lookups == [Lookup("nisn", nisn=ADI.nisn, dob=date(2007, 3, 14))]
    assert d.stage == "confirm"


def test_birth_date_in_a_sentence_and_the_nisn_again_at_the_date_step():
    d = at_ask_id()
    d.text("0099999999")  # a typo
    out = d.text("0071234501 14-03-2007")  # both again, corrected
    assert out.lookups == [Lookup("nisn", nisn=ADI.nisn, dob=date(2007, 3, 14))]
    d = at_ask_id()
    d.text(ADI.nisn)
    out = d.text("lahir tgl 14-03-2007 kak")
    assert out.lookups == [Lookup("nisn", nisn=ADI.nisn, dob=date(2007, 3, 14))]


def test_first_message_with_nisn_and_date_stores_nothing_before_consent():
    d = Driver()
    out = d.text("0071234501 14-03-2007")
    assert d.stage == "consent" and out.effects == []
    assert not {"nisn", "code", "candidate"} & set(d.state)


# ---- 3. MULAI, greetings and BANTUAN begin ----
@pytest.mark.parametrize("word", ["Mulai", "MULAI", "/mulai", "start", "Start", "/start"])
def test_mulai_in_a_new_chat_asks_for_consent(word):
    d = Driver()
    out = d.text(word)
    assert d.stage == "consent" and out.replies[-1].question == engine.Q_CONSENT
    assert "Apakah Anda setuju?" in out.text and "pesan dari kami lagi" not in out.text
    assert out.effects == []


def refused() -> Driver:
    d = Driver()
    d.start(ADI.code)
    d.text("tidak setuju")
    assert d.stage == "refused"
    return d


def deleted() -> Driver:
    d = Driver()
    d.onboard()
    d.text("hapus")
    d.text("ya")
    assert d.stage == "deleted"
    return d


@pytest.mark.parametrize("make", [refused, deleted, Driver])
@pytest.mark.parametrize(
    "text",
    ["mulai", "start", "halo", "Halo kak", "hai", "P", "Assalamualaikum", "selamat pagi min"],
)
def test_mulai_start_and_greetings_lead_to_consent(make, text):
    d = make()
    out = d.text(text)
    assert d.stage == "consent" and out.replies[-1].question == engine.Q_CONSENT
    assert not [e for e in out.effects if not isinstance(e, SetStop)]


@pytest.mark.parametrize("make", [refused, deleted])
def test_other_text_when_refused_or_deleted_says_how_to_begin(make):
    d = make()
    stage = d.stage
    out = d.text("bekerja")
    assert d.stage == stage and "Ketik MULAI" in out.text and out.effects == []


@pytest.mark.parametrize("make", [refused, deleted, Driver])
@pytest.mark.parametrize("word", ["bantuan", "BANTUAN", "/bantuan", "help"])
def test_bantuan_says_how_to_begin(make, word):
    d = make()
    before = dict(d.state)
    out = d.text(word)
    assert "UBAH (/ubah)" in out.text  # the command list
    assert "ketik MULAI" in out.text and d.state == before and out.effects == []
    d.text("mulai")
    assert d.stage == "consent"


def test_the_catalogue_tells_how_to_begin_with_what_works():
    """Every line that tells an unidentified person how to begin names a word that begins."""
    d = Driver()
    cat = d.flow.catalogue
    for key in (
        "outreach.interest_not_identified",
        "refused.again",
        "consent.refused",
        "ubah.not_identified",
        "delete.done",
        "help.begin",
    ):
        text = cat.t(key, "id")
        assert "MULAI" in text and "BANTUAN untuk memulai" not in text, key
        assert "START" in cat.t(key, "en"), key
    for word in ("MULAI", "START"):
        fresh = Driver()
        fresh.text(word)
        assert fresh.stage == "consent"


def test_mulai_half_way_through_the_onboarding_shows_its_question():
    d = at_ask_id()
    out = d.text("mulai")
    assert d.stage == "ask_id" and out.effects == [] and "NISN" in out.text


def test_mulai_when_linked_turns_messages_back_on_and_shows_the_question():
    d = Driver()
    d.onboard()
    d.text("STOP")
    out = d.text("MULAI")  # also the reply to a reminder that says "balas untuk mulai"
    assert out.effects == [SetStop(False)] and "pesan dari kami lagi" in out.text
    assert d.stage == "q" and out.replies[-1].question == "B1"


# ---- 4. yes/no replies ----
@pytest.mark.parametrize("text", ["iya benar", "ya betul", "ya saya", "bener", "Iyaa kak", "yes"])
def test_confirm_yes(text):
    d = Driver()
    d.start(ADI.code)
    d.text("setuju")
    out = d.text(text)
    assert out.of(Link) == [Link(ADI.id, NOW.isoformat())] and d.stage == "vacancies"


@pytest.mark.parametrize("text", ["ga", "bukan", "bukan saya kak", "salah", "no", "nope"])
def test_confirm_no(text):
    d = Driver()
    d.start(ADI.code)
    d.text("setuju")
    out = d.text(text)
    assert out.of(Link) == [] and d.stage == "ask_id" and "candidate" not in d.state


@pytest.mark.parametrize(
    "text", ["iya setuju", "siap", "oke siap", "ok kak", "yaa", "Setuju!", "sure", "yes"]
)
def test_consent_yes(text):
    d = Driver()
    d.start(ADI.code)
    out = d.text(text)
    assert d.stage == "confirm" and out.of(Refused) == []


@pytest.mark.parametrize("text", ["gak setuju", "tdk setuju", "ga", "gk", "no", "nope", "tidak"])
def test_consent_no(text):
    d = Driver()
    d.start(ADI.code)
    out = d.text(text)
    assert d.stage == "refused" and out.of(Refused) == [Refused(code=ADI.code)]


@pytest.mark.parametrize("text", ["ga mau", "gak mau", "ga usah", "tidak usah", "no", "nope"])
def test_vacancies_no(text):
    d = Driver()
    d.start(ADI.code)
    d.text("setuju")
    d.text("ya")
    out = d.text(text)
    assert out.of(VacancyConsent) == [VacancyConsent(False)] and d.node == "B1"


@pytest.mark.parametrize("text", ["boleh kak", "iya boleh", "mau", "sure", "yes", "ok"])
def test_vacancies_yes(text):
    d = Driver()
    d.start(ADI.code)
    d.text("setuju")
    d.text("ya")
    out = d.text(text)
    assert out.of(VacancyConsent) == [VacancyConsent(True)] and d.node == "B1"


@pytest.mark.parametrize("stage", ["consent", "confirm", "vacancies"])
@pytest.mark.parametrize("text", ["ya tidak", "iya gak", "tidak tahu", "mungkin"])
def test_ambiguous_or_undecided_yes_no_asks_again(stage, text):
    d = Driver()
    d.start(ADI.code)
    if stage != "consent":
        d.text("setuju")
    if stage == "vacancies":
        d.text("ya")
    before = dict(d.state)
    out = d.text(text)
    assert d.state == before and out.effects == [] and out.lookups == []
    assert out.replies[-1].question in (engine.Q_CONSENT, engine.Q_CONFIRM, engine.Q_VACANCIES)


def test_a_yes_and_a_no_asks_which_one():
    d = Driver()
    d.start(ADI.code)
    out = d.text("ya tidak")
    assert "ya atau tidak?" in out.text and "nomornya" in out.text
    assert out.replies[-1].question == engine.Q_CONSENT


def test_the_relocation_question_reads_yes_no_words_too():
    from tests.test_engine import at_node

    d = at_node("G3", "mencari_kerja")
    d.text("gak mau kak")
    assert d.answers["willing_to_relocate"] == "tidak"
    d = at_node("G3", "mencari_kerja")
    d.text("siap")
    assert d.answers["willing_to_relocate"] == "ya"


def test_whatsapp_not_me_at_the_birth_date_step_as_a_sentence():
    d = Driver(channel="whatsapp", address=BUNGA.phone)
    d.text("halo")
    d.text("oke")
    assert d.stage == "verify_dob"
    out = d.text("bukan saya kak")
    assert d.stage == "ask_id" and "candidate" not in d.state and out.lookups == []
