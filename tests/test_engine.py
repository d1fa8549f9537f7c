"""Unit tests of the pure conversation engine (conversations/engine.py), driven through
tests/engine_driver.py, which answers the engine's lookups from an in-memory roster like the shell.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from conversations import engine
from conversations.engine import (
    BeginResponse,
    Complete,
    DeleteData,
    Link,
    Lookup,
    Refused,
    SetLanguage,
    SetStop,
    ShowData,
    VacancyConsent,
    keyword,
)
from tests.engine_driver import (
    ADI,
    BRANCH_ANSWERS,
    BRANCH_WALKS,
    BUNGA,
    LINA,
    NOW,
    Driver,
    branch_nodes,
    make_ctx,
    walk,
)

STALE = "Tombol itu dari pesan lama"
INVALID = "tidak ada di pilihan"


def at_node(node_id: str, status: str = "bekerja", person=ADI) -> Driver:
    """A driver at questionnaire node `node_id`, having walked the `status` branch to it."""
    d = Driver()
    d.onboard(person)
    for how, nid, value in BRANCH_WALKS[status]:
        if nid == node_id:
            return d
        d.tap(nid, value) if how == "tap" else d.text(value)
    raise AssertionError(f"{node_id} is not on the {status} walk")


def done(status: str = "bekerja") -> Driver:
    d = Driver()
    d.onboard()
    walk(d, BRANCH_WALKS[status])
    assert d.stage == "done"
    return d


# ---------------------------------------------------------------------------------------------
# onboarding
def test_deep_link_consent_confirm_vacancies_status():
    d = Driver()
    out = d.start(ADI.code)
    assert d.stage == "consent" and d.state["code"] == ADI.code
    [reply] = out.replies
    assert "SMK Contoh" in reply.text and "Apakah Anda setuju?" in reply.text
    assert reply.question == engine.Q_CONSENT
    assert [o.code for o in reply.options] == ["setuju", "tidak_setuju"]
    assert out.effects == []  # nothing stored before consent

    out = d.tap(engine.Q_CONSENT, "setuju")
    assert out.lookups == [Lookup("code", code=ADI.code)]
    assert out.chosen_label == "Setuju"
    assert d.stage == "confirm"
    assert "Adi Pratama" in out.text and "XII TKJ 1" in out.text and "2025" in out.text
    assert [o.code for o in out.replies[-1].options] == ["ya", "bukan"]

    out = d.tap(engine.Q_CONFIRM, "ya")
    assert out.effects == [Link(ADI.id, NOW.isoformat())]
    assert d.stage == "vacancies" and d.state["alumnus"]["id"] == ADI.id
    assert "code" not in d.state and "candidate" not in d.state
    assert out.replies[-1].question == engine.Q_VACANCIES

    out = d.tap(engine.Q_VACANCIES, "tidak")
    assert out.effects == [VacancyConsent(False), BeginResponse()]
    assert d.stage == "q" and d.node == "B1" and d.answers == {}
    [status_q] = out.replies
    assert status_q.question == "B1" and len(status_q.options) == 6
    assert "kegiatan utama" in status_q.text


def test_deep_link_typed_answers_work_like_taps():
    d = Driver()
    d.start(ADI.code)
    d.text("ya")
    assert d.stage == "confirm"
    d.text("benar")
    assert d.stage == "vacancies"
    out = d.text("yes")  # English word in an Indonesian chat
    assert out.of(VacancyConsent) == [VacancyConsent(True)]
    assert d.node == "B1"


def test_at_most_four_inputs_from_a_deep_link_to_the_status_answer():
    d = Driver()
    d.start(ADI.code)  # opening the link
    inputs = 0
    for question, code in [
        (engine.Q_CONSENT, "setuju"),
        (engine.Q_CONFIRM, "ya"),
        (engine.Q_VACANCIES, "ya"),
    ]:
        d.tap(question, code)
        inputs += 1
    assert d.node == "B1"
    d.tap("B1", "bekerja")
    inputs += 1
    assert inputs <= 4 and d.answers == {"status": "bekerja"} and d.node == "C1"


def test_whatsapp_invitation_code_sent_as_text():
    d = Driver(channel="whatsapp", address="6289900000000")
    d.text(ADI.code.lower())  # the prefilled wa.me message
    assert d.stage == "consent" and d.state["code"] == ADI.code  # normalised
    out = d.text("setuju")
    assert out.lookups[0].kind == "code" and d.stage == "confirm"


def test_nisn_and_birth_date_path():
    d = Driver()
    d.start()
    assert "code" not in d.state
    out = d.text("setuju")
    # no code: try the phone (only WhatsApp knows one), then ask for the NISN
    assert [lk.kind for lk in out.lookups] == ["phone"]
    assert d.stage == "ask_id" and "NISN" in out.text
    out = d.text("71234501")  # Excel dropped the leading zeros
    assert d.stage == "ask_dob" and d.state["nisn"] == ADI.nisn and out.lookups == []
    out = d.text("14 Maret 2007")
    assert out.lookups == [Lookup("nisn", nisn=ADI.nisn, dob=date(2007, 3, 14))]
    assert d.stage == "confirm" and "Adi Pratama" in out.text
    assert "nisn" not in d.state
    out = d.tap(engine.Q_CONFIRM, "ya")
    assert out.of(Link) == [Link(ADI.id, NOW.isoformat())]


def test_wrong_birth_date_and_unknown_nisn_get_the_same_reply():
    d = Driver()
    d.start()
    d.text("setuju")
    d.text(ADI.nisn)
    wrong_dob = d.text("01-01-2007").text
    assert d.stage == "ask_id" and d.state["failures"] == 1
    d.text("0099999999")
    unknown = d.text("14-03-2007").text
    assert wrong_dob == unknown and "tidak cocok" in wrong_dob
    assert d.state["failures"] == 2


def test_bad_nisn_and_bad_date_are_explained_and_not_counted():
    d = Driver()
    d.start()
    d.text("setuju")
    for junk in ("12345", "halo", "", "0071234501234"):
        out = d.text(junk)
        assert d.stage == "ask_id" and "10 angka" in out.text and out.lookups == []
    d.text(ADI.nisn)
    for junk, says in (
        ("kemarin", "Tanggal tidak dikenali"),
        ("31-02-2007", "tidak ada di kalender"),
        ("14/03", "lengkap dengan tahunnya"),
        ("14 maret", "lengkap dengan tahunnya"),
        ("17 sept", "lengkap dengan tahunnya"),
        ("14-03-2020", "Tahun lahir itu sepertinya keliru"),  # 5 years old
        ("14-03-1900", "Tahun lahir itu sepertinya keliru"),
    ):
        out = d.text(junk)
        assert d.stage == "ask_dob" and "17-08-2007" in out.text and out.lookups == []
        assert says in out.text, junk
    assert "failures" not in d.state
    d.text("kembali")  # back to the NISN
    assert d.stage == "ask_id" and "nisn" not in d.state


@pytest.mark.parametrize(
    "typed",
    ["140307", "14-03-07", "14/3/07", "20070314", "14 Maret 2007", "14 mrt 07", "tgl 14-3-2007 🙏"],
)
def test_birth_date_written_in_common_ways_identifies(typed):
    d = Driver()
    d.start()
    d.text("setuju")
    d.text(ADI.nisn)
    out = d.text(typed)
    assert out.lookups == [Lookup("nisn", nisn=ADI.nisn, dob=ADI.dob)]
    assert d.stage == "confirm" and "Adi Pratama" in out.text


def test_birth_date_in_common_ways_at_the_phone_match_too():
    d = Driver(channel="whatsapp", address=BUNGA.phone)
    d.start()
    d.text("setuju")
    assert d.stage == "verify_dob"
    out = d.text("2 nop 07")
    assert d.stage == "vacancies" and out.of(Link)
    d = Driver(channel="whatsapp", address=BUNGA.phone)
    d.start()
    d.text("setuju")
    out = d.text("2 nop")
    assert d.stage == "verify_dob" and "lengkap dengan tahunnya" in out.text and not out.lookups


def test_typed_code_at_the_nisn_question():
    d = Driver()
    d.start()
    d.text("setuju")
    out = d.text("a7k2-q9xm-pr")
    assert out.lookups == [Lookup("code", code="A7K2Q9XMPR")]
    assert d.stage == "confirm" and "Adi Pratama" in out.text


def test_whatsapp_phone_match_asks_the_birth_date():
    d = Driver(channel="whatsapp", address=BUNGA.phone)
    d.text("halo")
    out = d.text("setuju")
    assert [lk.kind for lk in out.lookups] == ["phone"]
    assert d.stage == "verify_dob"
    assert "Bunga Lestari" in out.text and "XII TKJ 1" in out.text
    assert "02-11" not in out.text and "02/11" not in out.text  # asked for, never shown
    out = d.text("02/11/2007")
    assert out.lookups == [Lookup("dob", dob=date(2007, 11, 2), alumnus_id=BUNGA.id)]
    # the birth date proves it: linked without another confirmation
    assert out.of(Link) == [Link(BUNGA.id, NOW.isoformat())]
    assert d.stage == "vacancies"


def test_whatsapp_phone_match_with_a_wrong_birth_date_counts_a_failure():
    d = Driver(channel="whatsapp", address=BUNGA.phone)
    d.text("halo")
    d.text("setuju")
    out = d.text("01-01-2000")
    assert d.stage == "ask_id" and "tidak cocok" in out.text
    assert d.state["failures"] == 1 and "candidate" not in d.state
    assert out.of(Link) == []


def test_whatsapp_phone_match_bukan():
    d = Driver(channel="whatsapp", address=BUNGA.phone)
    d.text("halo")
    d.text("setuju")
    out = d.text("BUKAN")
    assert d.stage == "ask_id" and "candidate" not in d.state
    assert "NISN" in out.text and out.lookups == []
    d.text(ADI.nisn)
    d.text("14-03-2007")
    assert d.state["candidate"]["id"] == ADI.id


def test_whatsapp_unknown_number_asks_for_the_nisn():
    d = Driver(channel="whatsapp", address="6281111111111")
    d.text("halo")
    out = d.text("setuju")
    assert d.stage == "ask_id" and "NISN" in out.text


def test_confirm_bukan_drops_the_code_and_asks_for_the_nisn():
    d = Driver()
    d.start(ADI.code)
    d.tap(engine.Q_CONSENT, "setuju")
    out = d.tap(engine.Q_CONFIRM, "bukan")
    assert d.stage == "ask_id" and "code" not in d.state and "candidate" not in d.state
    assert out.effects == [] and "NISN" in out.text
    d.text(LINA.nisn)
    d.text("28-06-2005")
    out = d.text("ya")
    assert out.of(Link) == [Link(LINA.id, NOW.isoformat())]


def test_a_code_used_from_another_chat_needs_the_birth_date():
    d = Driver(used_codes={ADI.code})
    d.start(ADI.code)
    out = d.tap(engine.Q_CONSENT, "setuju")
    assert d.stage == "verify_dob" and "Adi Pratama" in out.text
    out = d.text("14-03-2007")
    assert out.of(Link) == [Link(ADI.id, NOW.isoformat())]


def test_an_unknown_code_counts_as_a_failure_and_asks_for_the_nisn():
    d = Driver()
    d.start("ZZZZ2222ZZ")
    out = d.tap(engine.Q_CONSENT, "setuju")
    assert d.stage == "ask_id" and "tidak cocok" in out.text
    assert "code" not in d.state and d.state["failures"] == 1


def test_lockout_after_max_failures_shows_the_time():
    d = Driver(ctx=make_ctx(max_failures=3, lock_minutes=60))
    d.start()
    d.text("setuju")
    for _ in range(2):
        d.text(ADI.nisn)
        out = d.text("01-01-2001")
        assert "tidak cocok" in out.text
    d.text(ADI.nisn)
    out = d.text("01-01-2001")
    # 03:00 UTC is 10:00 in Jakarta; locked for an hour
    assert "Terlalu banyak percobaan" in out.text and "11:00" in out.text
    # while locked, even the right answer is not looked up
    out = d.text(ADI.nisn)
    assert "11:00" in out.text and out.lookups == [] and d.stage == "ask_id"
    out = d.start(ADI.code)
    assert out.lookups == [] and "11:00" in out.text
    # an hour later it works again
    d.ctx = make_ctx(NOW + timedelta(minutes=61), max_failures=3)
    d.text(ADI.nisn)
    out = d.text("14-03-2007")
    assert d.stage == "confirm" and "locked_until" not in d.state


def test_lockout_is_not_undone_by_deleting_and_starting_again():
    d = Driver(ctx=make_ctx(max_failures=2))
    d.start()
    d.text("setuju")
    for _ in range(2):
        d.text("0099999999")
        d.text("01-01-2001")
    assert "locked_until" in d.state
    d.text("HAPUS")
    d.text("ya")
    d.start()
    d.text("setuju")
    out = d.text(ADI.nisn)
    assert "Terlalu banyak percobaan" in out.text and d.stage == "ask_id"
    out = d.text("14-03-2007")
    assert out.lookups == []


def test_refusal_stores_nothing():
    d = Driver()
    d.start(ADI.code)
    out = d.tap(engine.Q_CONSENT, "tidak_setuju")
    # the invitation code goes with the refusal (the shell marks that graduate declined)
    assert out.effects == [Refused(code=ADI.code)]
    assert d.stage == "refused"
    assert set(d.state) <= {"v", "stage", "lang", "failures", "locked_until"}
    assert "tidak menyimpan jawaban" in out.text and "undangan ini ditolak" in out.text
    out = d.text("setuju")  # too late: only MULAI or /start begins again
    assert out.effects == [] and d.stage == "refused" and "MULAI" in out.text
    out = d.start()
    assert d.stage == "consent"


def test_consent_by_typing_and_junk_at_consent():
    d = Driver()
    d.start(ADI.code)
    out = d.text("mungkin nanti")
    assert d.stage == "consent" and INVALID in out.text and out.effects == []
    assert out.replies[-1].question == engine.Q_CONSENT
    out = d.text("tidak")
    assert out.effects == [Refused(code=ADI.code)]


def test_refusal_without_an_invitation_names_nobody():
    """Before anyone is identified (no invitation code) a refusal carries no code: the shell has
    nobody to record it on, and the reply says nothing is stored."""
    d = Driver()
    d.start()
    out = d.tap(engine.Q_CONSENT, "tidak_setuju")
    assert out.effects == [Refused()] and d.stage == "refused"
    assert "kami tidak menyimpan data Anda" in out.text and "undangan" not in out.text


def test_english_language_hint_and_english_consent():
    d = Driver(state=engine.initial_state("en"))
    out = d.start(ADI.code)
    assert "Do you agree?" in out.text
    assert [o.label for o in out.replies[0].options] == ["I agree", "I do not agree"]
    d.text("agree")
    assert d.stage == "confirm"


# ---------------------------------------------------------------------------------------------
# commands in every stage
def at_stage(stage: str) -> Driver:
    d = Driver()
    if stage == "new":
        return d
    if stage == "refused":
        d.start()
        d.text("tidak")
    elif stage == "deleted":
        d.start()
        d.text("HAPUS")
        d.text("ya")
    elif stage == "consent":
        d.start(ADI.code)
    elif stage in ("ask_id", "ask_dob"):
        d.start()
        d.text("setuju")
        if stage == "ask_dob":
            d.text(ADI.nisn)
    elif stage == "verify_dob":
        d = Driver(channel="whatsapp", address=BUNGA.phone)
        d.text("halo")
        d.text("setuju")
    elif stage == "confirm":
        d.start(ADI.code)
        d.text("setuju")
    elif stage == "vacancies":
        d.start(ADI.code)
        d.text("setuju")
        d.text("ya")
    elif stage == "q":
        d = at_node("C3")
    elif stage == "done":
        d = done()
    assert d.stage == stage
    return d


STAGES = [
    "new",
    "consent",
    "ask_id",
    "ask_dob",
    "verify_dob",
    "confirm",
    "vacancies",
    "q",
    "done",
    "refused",
    "deleted",
]


@pytest.mark.parametrize("stage", STAGES)
def test_help_in_every_stage(stage):
    d = at_stage(stage)
    before = dict(d.state)
    out = d.text("/bantuan")
    assert "UBAH (/ubah)" in out.text and "HAPUS" in out.text
    assert d.state == before and out.effects == []
    if stage not in ("new",):  # and the current question again
        assert len(out.replies) == 2


@pytest.mark.parametrize("stage", STAGES)
def test_language_in_every_stage(stage):
    d = at_stage(stage)
    node, answers = d.node, d.answers
    out = d.text("/bahasa en")
    assert out.effects == [SetLanguage("en")] and d.state["lang"] == "en"
    assert "Language switched to English" in out.text
    assert d.stage == stage and d.node == node and d.answers == answers
    out = d.text("/bahasa en")  # asking for the current language keeps it
    assert d.state["lang"] == "en"
    out = d.text("BAHASA")  # without a language: the other one
    assert out.effects == [SetLanguage("id")] and "Bahasa Indonesia" in out.text
    d.text("/bahasa@jejak_bot english")
    assert d.state["lang"] == "en" and d.stage == stage


def test_language_switch_renders_the_question_in_english():
    d = at_node("C3")
    out = d.text("/bahasa en")
    assert out.replies[-1].question == "C3"
    assert "What kind of employer" in out.replies[-1].text
    assert out.replies[-1].options[0].label == "Private company"
    d.text("private")  # English labels and aliases now
    assert d.node == "C4" and d.answers["employer_type"] == "swasta"


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("word", ["DATA", "/data", "data saya"])
def test_data_in_every_stage(stage, word):
    d = at_stage(stage)
    before = dict(d.state)
    out = d.text(word)
    assert out.effects == [ShowData()]
    assert d.state == before


@pytest.mark.parametrize("stage", STAGES)
def test_stop_and_mulai_in_every_stage(stage):
    d = at_stage(stage)
    before = dict(d.state)
    out = d.text("STOP")
    assert out.effects == [SetStop(True)] and "MULAI" in out.text
    out = d.text("/mulai")
    if "alumnus" in before:  # linked: our messages again
        assert out.effects == [SetStop(False)] and "menerima pesan" in out.text
        assert d.state == before
    elif stage in ("new", "refused", "deleted"):  # nothing to resume: MULAI begins
        assert out.effects == [] and d.stage == "consent"
        assert out.replies[-1].question == engine.Q_CONSENT
    else:  # half-way through the onboarding: its question again, nothing else
        assert out.effects == [] and d.state == before
        assert out.replies[-1].text == d.prompt().text


@pytest.mark.parametrize("stage", STAGES)
def test_hapus_cancelled_in_every_stage_changes_nothing(stage):
    d = at_stage(stage)
    before = dict(d.state)
    out = d.text("/hapus")
    assert d.stage == "confirm_delete" and "Ketik YA" in out.text and out.effects == []
    out = d.text("jangan")
    assert "dibatalkan" in out.text and out.effects == []
    assert d.state == {**before, "stage": stage} or d.state == before


@pytest.mark.parametrize("stage", STAGES)
def test_hapus_confirmed_in_every_stage(stage):
    d = at_stage(stage)
    d.text("HAPUS")
    out = d.text("YA")
    assert out.effects == [DeleteData()]
    assert d.stage == "deleted" and "dihapus" in out.text
    assert not {"alumnus", "answers", "node", "code", "candidate", "consent_at"} & set(d.state)
    d.text("bekerja")
    assert d.stage == "deleted"
    d.start()
    assert d.stage == "consent"


def test_hapus_cancel_in_the_questionnaire_returns_to_the_same_question():
    d = at_node("C3")
    answers = d.answers
    d.text("hapus")
    out = d.text("tidak")
    assert d.node == "C3" and d.answers == answers
    assert "dibatalkan" in out.text and out.replies[-1].question == "C3"


def test_ubah_before_and_after_finishing():
    d = Driver()
    d.start(ADI.code)
    out = d.text("UBAH")  # not linked yet
    assert "belum terhubung" in out.text and d.stage == "consent" and out.effects == []

    d = at_node("C3")
    out = d.text("/ubah")
    assert d.node == "B1" and d.answers == {} and d.state["history"] == []
    assert out.effects == []  # the same response goes on
    assert out.replies[-1].question == "B1" and "perbarui" in out.text

    d = done()
    out = d.text("ubah")
    assert out.effects == [BeginResponse()]
    assert d.stage == "q" and d.node == "B1" and d.answers == {}
    assert "riwayat" in out.text
    walk(d, BRANCH_WALKS["kursus"])
    assert d.stage == "done" and d.last.of(Complete) == [Complete("kursus")]


def test_after_done_more_input_is_answered_not_acted_on():
    d = done()
    before = dict(d.state)
    for inp in ("2", "bekerja", "kembali", "lewati", ""):
        out = d.text(inp)
        assert "sudah tersimpan" in out.text and out.effects == []
    d.tap("B1", "wirausaha")
    d.media()
    assert d.state == before


# ---------------------------------------------------------------------------------------------
# back, skip, stale buttons, media
def test_back_one_question_and_at_the_first():
    d = Driver()
    d.onboard()
    out = d.text("kembali")
    assert d.node == "B1" and "tidak bisa kembali" in out.text
    d.text("bekerja")
    d.text("PT A")
    assert d.node == "C2"
    out = d.text("KEMBALI")
    assert d.node == "C1" and d.answers == {"status": "bekerja"}
    assert out.replies[-1].question == "C1"
    d.text("PT B")
    d.text("back")
    d.text("kembali")
    assert d.node == "B1" and d.answers == {}


def test_back_hint_is_shown_once_early():
    d = Driver()
    d.onboard()
    out = d.text("bekerja")
    assert "KEMBALI" in out.text
    out = d.text("PT A")
    assert "KEMBALI" not in out.text


def test_skip_required_and_optional():
    d = at_node("C1")
    out = d.text("lewati")
    assert d.node == "C1" and "wajib" in out.text and d.answers == {"status": "bekerja"}
    d = at_node("C3")
    assert d.text("skip").text.count("wajib") == 1 and d.node == "C3"
    d = at_node("C7")
    prompt = d.prompt()
    assert "LEWATI" in prompt.text
    d.text("LEWATI")
    assert d.node == "C8" and "income" not in d.answers
    d.text("1")
    out = d.text("lewati")  # Z1 is optional
    assert d.stage == "done" and "school_feedback" not in d.answers
    assert out.of(Complete) == [Complete("bekerja")]


def test_skip_after_going_back_drops_the_earlier_answer():
    d = at_node("C8")
    assert d.answers["income"] == "3_4"
    d.text("kembali")
    assert d.node == "C7"
    d.text("lewati")
    assert d.node == "C8" and "income" not in d.answers


def test_stale_button_from_another_question_is_not_acted_on():
    d = at_node("C3")
    answers = d.answers
    out = d.tap("B1", "wirausaha")
    assert STALE in out.text and out.chosen_label is None
    assert d.node == "C3" and d.answers == answers
    assert out.replies[-1].question == "C3" and out.replies[-1].options
    for question, value in [
        ("C3", "no_such_code"),
        ("A1", "setuju"),
        ("A3", "ya"),
        ("?", ""),
        (None, None),
    ]:
        out = d.tap(question, value)
        assert STALE in out.text and d.node == "C3" and d.answers == answers


def test_valid_tap_reports_the_chosen_label():
    d = at_node("C3")
    out = d.tap("C3", "bumn_bumd")
    assert out.chosen_label == "BUMN / BUMD" and d.node == "C4"
    out = d.text("2")  # typed: no tapped message to mark
    assert out.chosen_label is None


@pytest.mark.parametrize("stage", ["consent", "confirm", "vacancies"])
def test_stale_button_at_an_onboarding_question(stage):
    d = at_stage(stage)
    before = dict(d.state)
    out = d.tap("B1", "bekerja")
    assert STALE in out.text and d.state == before and out.effects == []


@pytest.mark.parametrize("stage", ["ask_id", "ask_dob", "verify_dob"])
def test_a_tap_at_a_typed_onboarding_question(stage):
    d = at_stage(stage)
    before = dict(d.state)
    out = d.tap(engine.Q_CONSENT, "setuju")
    assert STALE in out.text and d.state == before and out.lookups == []


def test_media_gets_a_polite_line_and_the_question_again():
    d = at_node("C5")
    out = d.media()
    assert "hanya bisa membaca" in out.text and out.replies[-1].question == "C5"
    assert d.node == "C5"
    d = at_node("C3")
    out = d.media()
    assert out.replies[-1].question == "C3" and d.node == "C3"
    d = Driver()
    d.media()  # a first message that is a sticker still opens the conversation
    assert d.stage == "consent"


def test_text_answers_are_trimmed_and_limited():
    d = at_node("C1")
    out = d.text("   ")
    assert d.node == "C1" and "tulis" in out.text.lower()
    out = d.text("x" * 201)
    assert d.node == "C1" and "200" in out.text
    d.text("  PT   Maju \n Jaya ")
    assert d.answers["employer"] == "PT Maju Jaya"


@pytest.mark.parametrize(
    "node_id, status, text, field",
    [
        ("F2", "kursus", "Bahasa Jepang", "field"),
        ("E2", "melanjutkan", "Bahasa Inggris", "study_program"),
        ("C1", "bekerja", "Start Digital Indonesia", "employer"),
        ("C2", "bekerja", "Restart Operator", "job_title"),
    ],
)
def test_a_text_answer_that_begins_with_a_command_word_is_an_answer(node_id, status, text, field):
    d = at_node(node_id, status)
    out = d.text(text)
    assert d.answers[field] == text and d.state["lang"] == "id"
    assert out.effects == []


# ---------------------------------------------------------------------------------------------
# choices typed
def test_ambiguous_typed_choice_lists_the_candidates():
    d = Driver()
    d.onboard()
    out = d.text("belum")
    assert d.node == "B1" and d.answers == {}
    assert "Belum bekerja, sedang mencari" in out.text
    assert "Belum bekerja, tidak mencari" in out.text and "nomornya" in out.text
    d.text("belum bekerja, sedang mencari")
    assert d.answers == {"status": "mencari_kerja"}


@pytest.mark.parametrize("text", ["7", "0", "99", "zzz", "?", ""])
def test_invalid_typed_choice_is_explained(text):
    d = Driver()
    d.onboard()
    out = d.text(text)
    assert d.node == "B1" and d.answers == {} and INVALID in out.text
    assert out.replies[-1].question == "B1" and len(out.replies[-1].options) == 6


def test_workers_zero_is_typed_as_a_code():
    d = at_node("D3", "wirausaha")
    d.text("0")
    assert d.answers["workers"] == "0" and d.node == "D4"


# ---------------------------------------------------------------------------------------------
# multi-select
def test_multi_select_by_taps():
    d = at_node("G2", "mencari_kerja")
    prompt = d.prompt()
    assert prompt.multi and "_done" not in [o.code for o in prompt.options]
    out = d.tap("G2", engine.MULTI_DONE)  # done with nothing picked
    assert d.node == "G2" and "minimal satu" in out.text
    out = d.tap("G2", "biaya")
    assert d.state["multi"] == ["biaya"] and d.node == "G2"
    assert "Dipilih: Tidak ada biaya" in out.text
    assert out.replies[-1].options[-1].code == engine.MULTI_DONE
    d.tap("G2", "dokumen")
    d.tap("G2", "biaya")  # tapped again: unpicked
    assert d.state["multi"] == ["dokumen"]
    d.tap("G2", "sedikit_lowongan")
    out = d.tap("G2", "bogus")
    assert STALE in out.text and d.state["multi"] == ["dokumen", "sedikit_lowongan"]
    out = d.tap("G2", engine.MULTI_DONE)
    assert d.node == "G3" and d.answers["obstacles"] == ["sedikit_lowongan", "dokumen"]
    assert d.state["multi"] == []


def test_multi_select_typed():
    d = at_node("G2", "mencari_kerja")
    out = d.text("junk")
    assert d.node == "G2" and INVALID in out.text
    out = d.text("1, zzz")  # one bad part: nothing is taken
    assert d.node == "G2" and "obstacles" not in d.answers
    out = d.text("selesai")  # typed "done" with nothing picked
    assert d.node == "G2" and "minimal satu" in out.text
    d.text("biaya dan 5")
    assert d.answers["obstacles"] == ["biaya", "dokumen"] and d.node == "G3"


def test_multi_select_taps_then_typed_done():
    d = at_node("G2", "mencari_kerja")
    d.tap("G2", "lainnya")
    d.text("SELESAI")
    assert d.answers["obstacles"] == ["lainnya"]


def test_multi_select_picks_are_dropped_when_going_back():
    d = at_node("G2", "mencari_kerja")
    d.tap("G2", "biaya")
    d.text("kembali")
    assert d.node == "G1" and d.state["multi"] == []


# ---------------------------------------------------------------------------------------------
# months
@pytest.mark.parametrize(
    "text", ["12/2025", "2026-01", "Januari 2030", "12/25", "des 25", "sept 2026", "1/26"]
)
def test_month_in_the_future_is_refused(text):
    d = at_node("C5")
    out = d.text(text)
    assert d.node == "C5" and "belum lewat" in out.text and "start_month" not in d.answers


def test_month_this_month_and_around_graduation():
    d = at_node("C5")  # Adi graduated 2025: from 2024 on
    out = d.text("12/2023")
    assert d.node == "C5" and "2024" in out.text and "terlalu awal" in out.text
    d.text("11/2025")
    assert d.answers["start_month"] == "11/2025"
    d = at_node("C5", person=LINA)  # Lina graduated 2024: from 2023 on
    d.text("01/2023")
    assert d.answers["start_month"] == "01/2023"


def test_month_uses_the_school_time_zone():
    # 30 Nov 18:00 UTC is already 1 December in Jakarta
    d = Driver(ctx=make_ctx(datetime.fromisoformat("2025-11-30T18:00:00+00:00")))
    d.onboard()
    walk(d, BRANCH_WALKS["wirausaha"][:2])
    assert d.node == "D2"
    d.text("12/2025")
    assert d.answers["start_month"] == "12/2025"


@pytest.mark.parametrize("text", ["13/2025", "kemarin", "2025", ""])
def test_unreadable_month(text):
    d = at_node("D2", "wirausaha")
    out = d.text(text)
    assert d.node == "D2" and "07/2025" in out.text


@pytest.mark.parametrize(
    "text, stored",
    [
        ("07/25", "07/2025"),
        ("7/25", "07/2025"),
        ("sept 2024", "09/2024"),
        ("agst 2024", "08/2024"),
        ("nop 2024", "11/2024"),
        ("sejak Juli 2025", "07/2025"),
        ("1 Maret 2025", "03/2025"),
    ],
)
def test_month_with_a_short_year_or_another_spelling(text, stored):
    d = at_node("C5")
    d.text(text)
    assert d.node == "C6" and d.answers["start_month"] == stored


def test_month_without_a_year_asks_for_it():
    d = at_node("C5")
    out = d.text("juli")
    assert d.node == "C5" and "start_month" not in d.answers
    assert "Tulis juga tahunnya" in out.text and out.replies[-1].question == "C5"


# ---------------------------------------------------------------------------------------------
# questions whose options are numeric ranges: a typed number is a quantity
@pytest.mark.parametrize(
    "node, status, text, field, code",
    [
        ("D3", "wirausaha", "4", "workers", "1_4"),  # was 20plus: the 4th option
        ("D3", "wirausaha", "1", "workers", "1_4"),  # was 0: the 1st option
        ("D3", "wirausaha", "3", "workers", "1_4"),  # was 5_19
        ("D3", "wirausaha", "4 orang", "workers", "1_4"),
        ("D3", "wirausaha", "0", "workers", "0"),
        ("D3", "wirausaha", "sendiri", "workers", "0"),
        ("D3", "wirausaha", "25", "workers", "20plus"),
        ("G1", "mencari_kerja", "5", "searching_months", "4_6"),  # was gt12
        ("G1", "mencari_kerja", "3", "searching_months", "1_3"),  # was 4_6
        ("G1", "mencari_kerja", "2 bulan", "searching_months", "1_3"),  # was ambiguous
        ("G1", "mencari_kerja", "1 bulan", "searching_months", "1_3"),  # was lt1 ("< 1 bulan")
        ("G1", "mencari_kerja", "1 tahun", "searching_months", "7_12"),
        ("G1", "mencari_kerja", "2 minggu", "searching_months", "lt1"),
        ("C7", "bekerja", "1 juta", "income", "1_2"),  # was lt1
        ("C7", "bekerja", "2,5 juta", "income", "2_3"),  # was refused
        ("C7", "bekerja", "2.500.000", "income", "2_3"),
        ("C7", "bekerja", "Rp 3jt", "income", "3_4"),
        ("C7", "bekerja", "1,5jt", "income", "1_2"),
        ("C7", "bekerja", "6 juta", "income", "gt5"),  # was refused
        ("C7", "bekerja", "rahasia", "income", "rahasia"),
        ("D4", "wirausaha", "800rb", "income", "lt1"),
    ],
)
def test_a_typed_quantity_is_stored_as_its_range(node, status, text, field, code):
    d = at_node(node, status)
    d.text(text)
    assert d.answers[field] == code and d.node != node


@pytest.mark.parametrize(
    "node, status", [("D3", "wirausaha"), ("G1", "mencari_kerja"), ("C7", "bekerja")]
)
def test_range_questions_show_unnumbered_options_and_ask_for_a_quantity(node, status):
    d = at_node(node, status)
    prompt = d.prompt()
    assert prompt.question == node and prompt.options and prompt.numbered is False
    assert "Tulis" in prompt.text and "contoh" in prompt.text
    # every other choice question keeps its numbers
    assert at_node("C3").prompt().numbered is True
    d.text("nomor 2")  # a position, named as such
    assert d.answers[d.flow.node(node).field] == d.flow.choice_sets[d.flow.node(node).choices][1]


@pytest.mark.parametrize(
    "node, status, text, expected",
    [
        ("C7", "bekerja", "UMR", "UMR/UMK berbeda di tiap daerah"),
        ("C7", "bekerja", "50", "Tulis dengan juta atau ribu"),
        ("D3", "wirausaha", "2,5 orang", "bilangan bulat"),
        ("D3", "wirausaha", "banyak", "Tulis jumlah orangnya"),
        ("G1", "mencari_kerja", "lama banget", "Tulis lamanya"),
        ("G1", "mencari_kerja", "3,5 bulan", "bisa masuk 1–3 bulan, 4–6 bulan"),
        ("G1", "mencari_kerja", "3-5 bulan", "bisa masuk 1–3 bulan, 4–6 bulan"),
    ],
)
def test_a_quantity_that_cannot_be_placed_is_explained_and_changes_nothing(
    node, status, text, expected
):
    d = at_node(node, status)
    before = d.answers
    out = d.text(text)
    assert d.node == node and d.answers == before
    assert expected in out.text and out.replies[-1].question == node
    assert out.replies[-1].numbered is False


def test_range_hints_are_in_english_too():
    d = at_node("C7")
    d.text("/bahasa en")
    out = d.text("UMR")
    assert "minimum wage" in out.text and d.node == "C7"


# ---------------------------------------------------------------------------------------------
# the status question: what graduates type
@pytest.mark.parametrize(
    "text, code",
    [
        ("sedang mencari kerja", "mencari_kerja"),
        ("masih nganggur", "mencari_kerja"),
        ("nganggur", "mencari_kerja"),
        ("kerja di pabrik", "bekerja"),
        ("wiraswasta", "wirausaha"),
        ("jualan", "wirausaha"),
        ("usaha sendiri", "wirausaha"),
        ("kuliyah", "melanjutkan"),
        ("bekrja", "bekerja"),
    ],
)
def test_status_phrasings(text, code):
    d = Driver()
    d.onboard()
    d.text(text)
    assert d.answers["status"] == code


@pytest.mark.parametrize(
    "text, expected",
    [
        ("lanjut", INVALID),  # the reminder says "Mohon lanjutkan": not "Kuliah / melanjutkan"
        ("tidak", INVALID),  # the follow-up asks "ada perubahan?": not "Tidak mencari"
        ("belum kerja", "Belum bekerja, sedang mencari, Belum bekerja, tidak mencari"),
        ("kuliah sambil kerja", "Pilih satu yang paling utama"),
    ],
)
def test_status_replies_that_are_asked_back(text, expected):
    d = Driver()
    d.onboard()
    out = d.text(text)
    assert d.node == "B1" and d.answers == {} and expected in out.text
    assert out.replies[-1].question == "B1" and len(out.replies[-1].options) == 6


# ---------------------------------------------------------------------------------------------
# branches
def test_branch_change_after_going_back_prunes_the_old_branch():
    d = at_node("C7")  # bekerja: C1..C6 answered, start_month among them
    assert d.answers["start_month"] == "07/2025"
    while d.node != "B1":
        d.text("kembali")
    assert d.answers == {}
    d.tap("B1", "wirausaha")
    assert d.node == "D1"
    walk(d, BRANCH_WALKS["wirausaha"][1:])
    assert d.answers == BRANCH_ANSWERS["wirausaha"]
    assert not {"employer", "job_title", "employer_type", "job_channel"} & set(d.answers)


def test_back_to_status_and_the_same_choice_keeps_going():
    d = at_node("C2")
    d.text("kembali")
    d.text("kembali")
    d.text("1")
    assert d.node == "C1" and d.answers == {"status": "bekerja"}


# what QUESTIONNAIRE.md lists per branch (besides B1 and Z1)
SPEC_COUNTS = {
    "bekerja": 8,
    "wirausaha": 5,
    "melanjutkan": 4,
    "kursus": 3,
    "mencari_kerja": 3,
    "tidak_mencari": 1,
}


@pytest.mark.parametrize("status", list(BRANCH_WALKS))
def test_every_branch_asks_no_more_than_the_spec_and_completes_once(status):
    d = Driver()
    d.onboard()
    asked = ["B1"]
    effects = []
    for how, nid, value in BRANCH_WALKS[status]:
        assert d.node == nid
        out = d.tap(nid, value) if how == "tap" else d.text(value)
        effects += out.effects
        asked += [r.question for r in out.replies if r.question in d.flow.nodes]
    assert len(BRANCH_WALKS[status]) == SPEC_COUNTS[status] + 2  # one input per question
    assert asked == branch_nodes(d.flow, status)
    assert len(set(asked)) == SPEC_COUNTS[status] + 2
    assert d.stage == "done" and d.answers == BRANCH_ANSWERS[status]
    assert effects == [Complete(status)]
    assert "Terima kasih" in d.last.text


def test_keyword_parsing():
    assert keyword("UBAH") == ("ubah", "")
    assert keyword("/ubah") == ("ubah", "")
    assert keyword("/bahasa en") == ("language", "en")
    assert keyword("/start@jejak_bot ABC") == ("start", "ABC")
    assert keyword("Data saya") == ("data", "")
    assert keyword("hapus data") == ("delete", "")
    assert keyword("PT Data Prima") == (None, "")
    assert keyword("") == (None, "")
    assert keyword("/") == (None, "")


@pytest.mark.parametrize("stage", ["confirm", "ask_dob", "verify_dob", "q", "done"])
def test_another_link_opened_mid_way_does_not_replace_the_code_being_used(stage):
    """The shell marks the invitation in state["code"] as used on Link: it must be the one that
    identified the person, not a link opened later (a sibling's, on the same phone)."""
    d = at_stage(stage)
    code_before = d.state.get("code")
    out = d.start(LINA.code)
    assert d.state.get("code") == code_before and d.stage == stage
    assert out.lookups == [] and out.replies


def test_a_newer_link_before_consent_is_the_one_used():
    d = at_stage("consent")
    d.start(LINA.code)
    assert d.stage == "consent" and d.state["code"] == LINA.code
    out = d.text("setuju")
    assert out.lookups == [Lookup("code", code=LINA.code)] and "Lina Marlina" in out.text


def test_unknown_slash_command_at_a_text_question_is_not_stored_as_the_answer():
    from tests.engine_driver import Driver

    d = Driver()
    d.onboard()
    d.text("bekerja")
    assert d.node == "C1"
    d.text("/ringkasan")
    assert d.node == "C1" and "employer" not in d.answers
    assert "tidak dikenal" in d.last.replies[-1].text
    d.text("PT Maju")
    assert d.answers["employer"] == "PT Maju"
