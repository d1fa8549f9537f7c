"""Typed-answer matching and parsing (conversations/answers.py), on the shipped choice sets."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.answers import (
    HINT_BETWEEN,
    HINT_PICK_MAIN,
    Match,
    clean_text,
    format_month,
    match_choice,
    match_multi,
    month_number,
    norm,
    parse_date,
    parse_month,
    parse_nisn,
    read_date,
    read_month,
)
from conversations.questionnaire import default_flow
from conversations.types import Option
from tests.engine_driver import typed_quantity

TODAY = date(2025, 11, 20)  # tests/engine_driver.NOW


def options(set_name: str, lang: str = "id") -> tuple[Option, ...]:
    return default_flow().options(set_name, lang)


def aliases(set_name: str, lang: str = "id") -> dict[str, list[str]]:
    flow = default_flow()
    cat = flow.catalogue
    return {c: cat.aliases(f"alias.{set_name}.{c}", lang) for c in flow.choice_sets[set_name]}


def match(text: str, set_name: str, lang: str = "id") -> Match:
    """As the engine matches: with the set's numeric ranges when it has them."""
    ranges = default_flow().ranges.get(set_name)
    return match_choice(text, options(set_name, lang), aliases(set_name, lang), ranges)


def match_as_text(text: str, set_name: str, lang: str = "id") -> Match:
    """Without the ranges: the text tiers alone."""
    return match_choice(text, options(set_name, lang), aliases(set_name, lang))


def builtin(text: str, set_name: str, codes: tuple[str, ...]) -> Match:
    flow = default_flow()
    opts = tuple(flow.option(set_name, c, "id") for c in codes)
    return match_choice(
        text, opts, {c: flow.catalogue.aliases(f"alias.{set_name}.{c}", "id") for c in codes}
    )


def multi(text: str, set_name: str = "obstacles") -> tuple[list[str], list[str]]:
    return match_multi(text, options(set_name), aliases(set_name))


# ---- norm ----
def test_norm_folds_case_accents_punctuation_and_space():
    assert norm("  KULIAH / Melanjutkan!! ") == "kuliah melanjutkan"
    assert norm("Café\tÉlite") == "cafe elite"
    assert norm("Rp1–2 juta") == "rp1 2 juta"
    assert norm("...") == ""


# ---- match_choice: tier 1, numbers ----
@pytest.mark.parametrize(
    "text, code",
    [
        ("1", "bekerja"),
        ("2", "wirausaha"),
        (" 3 ", "melanjutkan"),
        ("4.", "kursus"),
        ("5)", "mencari_kerja"),
        ("6", "tidak_mencari"),
    ],
)
def test_a_number_is_the_option_at_that_position(text, code):
    assert match(text, "status") == Match(code)


@pytest.mark.parametrize("text", ["0", "7", "99", "-1", "1.5"])
def test_numbers_out_of_range_match_nothing(text):
    assert match(text, "status").code is None


@pytest.mark.parametrize(
    "text, index",
    [("no 2", 1), ("no. 2", 1), ("nomor 2", 1), ("Nomer 3", 2), ("pilihan 4", 3), ("#5", 4)],
)
def test_a_position_may_be_named_as_such(text, index):
    assert match(text, "status") == Match(options("status")[index].code)


def test_a_number_that_is_no_position_may_still_be_a_code():
    # without ranges, "0" is no position but the code of "Tidak ada (sendiri)"
    assert match_as_text("0", "workers") == Match("0")


# ---- tier 2, exact ----
@pytest.mark.parametrize(
    "text, set_name, code",
    [
        ("bekerja", "status", "bekerja"),  # label
        ("BEKERJA", "status", "bekerja"),
        ("mencari kerja", "status", "mencari_kerja"),  # the code, "_" read as space / alias
        ("Tidak mencari kerja", "status", "tidak_mencari"),  # WhatsApp short title
        ("kuliah / melanjutkan", "status", "melanjutkan"),  # full label, punctuation ignored
        ("Belum bekerja, sedang mencari", "status", "mencari_kerja"),
        ("tni_polri", "employer_type", "tni_polri"),  # the code itself
        ("pns", "employer_type", "pemerintah"),  # alias
        ("pkl", "job_channel", "tempat_pkl"),
        ("sendiri", "workers", "0"),
        ("s1", "level", "d4_s1"),
        ("d3", "level", "d3"),
        ("sakit", "reason", "kesehatan"),
        ("rahasia", "income", "rahasia"),
    ],
)
def test_exact_code_label_short_or_alias(text, set_name, code):
    assert match(text, set_name) == Match(code)


def test_aliases_of_the_other_language_are_accepted_too():
    assert match("working", "status", "en") == Match("bekerja")
    assert match("kerja", "status", "en") == Match("bekerja")  # an Indonesian alias in English
    assert match("yes", "yes_no", "id") == Match("ya")
    assert match("nggak", "yes_no", "en") == Match("tidak")


# ---- tier 3 and 4: whole word, part ----
def test_whole_word_and_part_matches():
    assert match("kerja", "status") == Match("bekerja")  # alias "kerja" wins over the parts
    assert match("KULIAH", "status") == Match("melanjutkan")
    assert match("Kursus", "status") == Match("kursus")  # first word of "Kursus / pelatihan"
    assert match("sedang mencari", "status") == Match("mencari_kerja")  # words inside a label
    assert match("wira", "status") == Match("wirausaha")  # a part, >= 3 characters
    assert match("swast", "employer_type") == Match("swasta")
    assert match("sangat", "relevance") == Match("sangat_sesuai")


def test_ambiguous_results_list_the_candidates():
    assert match("belum", "status") == Match(None, ("mencari_kerja", "tidak_mencari"))
    assert match("belum bekerja", "status") == Match(None, ("mencari_kerja", "tidak_mencari"))
    assert match("belum kerja", "status") == Match(None, ("mencari_kerja", "tidak_mencari"))
    # "ker" starts "kerja" in three options; inside "prakerja" (kursus) it starts no word
    assert match("ker", "status") == Match(None, ("bekerja", "mencari_kerja", "tidak_mencari"))


def test_a_more_exact_tier_beats_a_looser_one():
    # "sesuai" is a whole label (exact) and also a part of three other labels
    assert match("sesuai", "relevance") == Match("sesuai")
    assert match("lainnya", "job_channel") == Match("lainnya")


@pytest.mark.parametrize("text", ["", "   ", "?!", "xq", "zzz", "asdfgh", "👍"])
def test_junk_matches_nothing_and_is_not_ambiguous(text):
    assert match(text, "status") == Match(None)


def test_two_letter_text_is_not_a_part_match():
    assert match("ja", "status").code is None  # would be inside "bekerja"


@pytest.mark.parametrize(
    "text, set_name",
    [
        ("2 bulan", "searching_months"),  # inside "7–12 bulan" and "Lebih dari 12 bulan"
        ("2 bul", "searching_months"),
        ("erja", "status"),  # inside "bekerja", starting no word
        ("ulanjutkan", "status"),
    ],
)
def test_parts_match_only_at_the_start_of_a_word(text, set_name):
    assert match_as_text(text, set_name) == Match(None)


def test_whole_words_and_word_starts_still_match_inside_a_label():
    assert match_as_text("usaha", "employer_type") == Match("perorangan")  # "usaha kecil"
    assert match_as_text("usaha kec", "employer_type") == Match("perorangan")
    # as text, "12 bulan" is the short label "> 12 bulan" without its ">": a range question
    # reads a quantity first
    assert match_as_text("12 bulan", "searching_months") == Match("gt12")
    assert match("12 bulan", "searching_months") == Match("7_12")


@pytest.mark.parametrize(
    "text, code",
    [
        ("kuliyah", "melanjutkan"),  # a letter added
        ("bekrja", "bekerja"),  # a letter dropped
        ("wirausha", "wirausaha"),
        ("kursis", "kursus"),  # a letter changed
        ("kulaih", "melanjutkan"),  # two letters swapped
        ("masih kuliyah", "melanjutkan"),
    ],
)
def test_one_typo_in_a_word_of_five_letters_or_more(text, code):
    assert match(text, "status") == Match(code)


@pytest.mark.parametrize("text", ["krja", "kuliyahh", "bkrja"])  # short, or two edits away
def test_no_typo_match_for_short_words_or_two_edits(text):
    assert match(text, "status").code is None


def test_a_typo_that_fits_two_options_is_no_match():
    opts = (Option("a", "Bekerja", "Bekerja"), Option("b", "Bekerka", "Bekerka"))
    assert match_choice("Bekerxa", opts, {}).code is None


# ---- the status question: what graduates type ----
@pytest.mark.parametrize(
    "text, code",
    [
        ("sedang mencari kerja", "mencari_kerja"),
        ("lagi nyari kerja", "mencari_kerja"),
        ("masih nganggur", "mencari_kerja"),
        ("nganggur", "mencari_kerja"),
        ("kerja di pabrik", "bekerja"),
        ("kerja", "bekerja"),
        ("saya kerja di PT Maju", "bekerja"),
        ("wiraswasta", "wirausaha"),
        ("jualan", "wirausaha"),
        ("jualan online", "wirausaha"),
        ("usaha sendiri", "wirausaha"),
        ("lanjut kuliah", "melanjutkan"),
        ("kuliah di UNY", "melanjutkan"),
        ("sekarang kuliah", "melanjutkan"),
        ("pelatihan di BLK", "kursus"),
        ("tidak mencari kerja", "tidak_mencari"),
        ("Belum bekerja, tidak mencari", "tidak_mencari"),
    ],
)
def test_common_phrasings_of_the_status(text, code):
    assert match(text, "status") == Match(code)


@pytest.mark.parametrize(
    "text", ["kuliah sambil kerja", "kerja sambil kuliah", "kuliah dan kerja", "kerja sama kuliah"]
)
def test_two_activities_are_asked_back_to_pick_the_main_one(text):
    # QUESTIONNAIRE.md asks for the *main* activity: both fit, the person picks
    assert match(text, "status") == Match(None, ("bekerja", "melanjutkan"), HINT_PICK_MAIN)


@pytest.mark.parametrize(
    "text",
    [
        "lanjut",  # the reminder says "Mohon lanjutkan"
        "lanjutkan",
        "tidak",  # "Apakah ada perubahan?" (the follow-up) -> "tidak" is no "Tidak mencari"
        "ya",
        "ok",
        "sudah",
        "masih sama",
        "tidak kuliah",  # a negation: no guessing from "kuliah"
        "kuliah atau kerja?",  # a question
        "kuliah atau kerja",  # unsure
        "kerja itu apa",
    ],
)
def test_replies_to_the_reminder_and_negations_are_no_status(text):
    result = match(text, "status")
    assert result.code is None and result.hint is None, result


def test_a_bare_no_still_answers_where_it_is_an_alias():
    assert match("tidak", "yes_no") == Match("tidak")
    assert match("tidak", "relevance") == Match("tidak_sesuai")
    assert match("tidak", "relevance_study") == Match("tidak")


@pytest.mark.parametrize(
    "text, code",
    [("setuju", "setuju"), ("stuju", "setuju"), ("ya saya setuju", "setuju")],
)
def test_consent_phrases(text, code):
    assert builtin(text, "consent", ("setuju", "tidak_setuju")) == Match(code)


@pytest.mark.parametrize(
    "text", ["setuju gak ya", "setuju tapi nanti", "setuju untuk apa?", "belum setuju"]
)
def test_consent_is_never_guessed_from_a_part(text):
    assert builtin(text, "consent", ("setuju", "tidak_setuju")).code is None


# ---- numeric ranges: a typed quantity is put in its range ----
@pytest.mark.parametrize(
    "text, code",
    [
        ("0", "0"),
        ("1", "1_4"),  # no longer the first option ("Tidak ada")
        ("3", "1_4"),  # no longer the third option ("5–19 orang")
        ("4", "1_4"),  # no longer the fourth option ("20 orang atau lebih")
        ("4 orang", "1_4"),
        ("5", "5_19"),
        ("19 org", "5_19"),
        ("20", "20plus"),
        ("25 karyawan", "20plus"),
        ("ada 3 pegawai", "1_4"),
        ("tiga", "1_4"),
        ("dua puluh lima", "20plus"),
        ("20an", "20plus"),
        ("20+", "20plus"),
        ("lebih dari 4", "5_19"),
        ("kurang dari 5 orang", "1_4"),
        ("1-4 orang", "1_4"),
        ("sendiri", "0"),
        ("tidak ada", "0"),
        ("nol", "0"),
        ("nomor 4", "20plus"),  # a position only when named so
    ],
)
def test_workers_typed_as_a_number_of_people(text, code):
    assert match(text, "workers") == Match(code)


@pytest.mark.parametrize(
    "text, code",
    [
        ("0", "lt1"),
        ("1", "1_3"),
        ("1 bulan", "1_3"),  # not "< 1 bulan"
        ("2 bulan", "1_3"),  # not inside "12 bulan"
        ("3", "1_3"),
        ("5", "4_6"),
        ("5 bulan", "4_6"),
        ("sudah 5 bln", "4_6"),
        ("12 bulan", "7_12"),  # not "> 12 bulan"
        ("13 bulan", "gt12"),
        ("2 minggu", "lt1"),
        ("baru seminggu", "lt1"),
        ("10 hari", "lt1"),
        ("setengah tahun", "4_6"),
        ("1 tahun", "7_12"),
        ("setahun lebih", "gt12"),
        ("1,5 tahun", "gt12"),
        ("1 tahun 3 bulan", "gt12"),
        ("2thn", "gt12"),
        ("kurang dari sebulan", "lt1"),
        ("lebih dari 12 bulan", "gt12"),
        ("4-6 bulan", "4_6"),
    ],
)
def test_months_typed_as_a_duration(text, code):
    assert match(text, "searching_months") == Match(code)


@pytest.mark.parametrize(
    "text, code",
    [
        ("0", "lt1"),
        ("800rb", "lt1"),
        ("800 ribu", "lt1"),
        ("800", "lt1"),  # bare 100-99 999: thousands
        ("1 juta", "1_2"),  # not "< Rp1 juta"
        ("Rp1 juta", "1_2"),
        ("1,5jt", "1_2"),
        ("1.5 juta", "1_2"),
        ("1jt500", "1_2"),
        ("sejuta", "1_2"),
        ("hampir 2 juta", "1_2"),
        ("2 juta", "2_3"),  # a shared edge goes up: "Rp2–3 juta"
        ("2,5 juta", "2_3"),
        ("2.500.000", "2_3"),
        ("Rp 2.500.000,-", "2_3"),
        ("2500", "2_3"),
        ("2 jutaan", "2_3"),
        ("dua setengah juta", "2_3"),
        ("Rp 3jt", "3_4"),
        ("3", "3_4"),  # bare below 10: millions
        ("3jt/bln", "3_4"),
        ("gaji 3 juta per bulan", "3_4"),
        ("sekitar 3 juta", "3_4"),
        ("kira2 3 jt", "3_4"),
        ("± 3 juta", "3_4"),
        ("3,5 juta", "3_4"),
        ("4 juta", "4_5"),
        ("5 juta", "4_5"),  # "> Rp5 juta" is more than 5
        ("5 juta lebih", "gt5"),
        ("6 juta", "gt5"),
        ("Rp6.000.000", "gt5"),
        ("15 juta", "gt5"),
        ("2-3 juta", "2_3"),
        ("Rp1–2 juta", "1_2"),
        ("rahasia", "rahasia"),
        ("tidak mau", "rahasia"),
    ],
)
def test_income_typed_as_an_amount(text, code):
    assert match(text, "income") == Match(code)


@pytest.mark.parametrize(
    "text, set_name, codes",
    [
        ("3,5 bulan", "searching_months", ("1_3", "4_6")),  # between "1–3" and "4–6"
        ("3 bulan lebih", "searching_months", ("1_3", "4_6")),
        ("3-5 bulan", "searching_months", ("1_3", "4_6")),
        ("2-6 bulan", "searching_months", ("1_3", "4_6")),
        ("3-5 orang", "workers", ("1_4", "5_19")),
        ("3-5 juta", "income", ("3_4", "4_5")),
        ("1-10 juta", "income", ("1_2", "2_3", "3_4", "4_5", "gt5")),
    ],
)
def test_a_quantity_between_or_over_several_ranges_is_asked_back(text, set_name, codes):
    assert match(text, set_name) == Match(None, codes, HINT_BETWEEN)


@pytest.mark.parametrize(
    "text, set_name, hint",
    [
        ("UMR", "income", "answer.range.umr"),
        ("sesuai umk", "income", "answer.range.umr"),
        ("50", "income", "answer.range.unclear_amount"),  # 50 juta? 50 ribu?
        ("15000", "income", "answer.range.unclear_amount"),  # 15 juta? Rp15.000?
        ("Rp 10.000", "income", "answer.range.unclear_amount"),
        ("2,5 orang", "workers", "answer.range.not_whole"),
        ("banyak", "workers", "answer.range.people"),
        ("-3", "workers", "answer.range.people"),
        ("-1", "workers", "answer.range.people"),  # not the "1" of "1–4 orang"
        ("1 2 3", "workers", "answer.range.people"),
        ("3 juta", "workers", "answer.range.people"),  # the wrong unit
        ("lama", "searching_months", "answer.range.months"),
        ("5 orang", "searching_months", "answer.range.months"),
        ("bulan", "searching_months", "answer.range.months"),  # in every label: no guess
        ("2 bulan", "income", "answer.range.million_rupiah"),
        ("juta", "income", "answer.range.million_rupiah"),
    ],
)
def test_a_quantity_that_cannot_be_placed_says_why(text, set_name, hint):
    assert match(text, set_name) == Match(None, (), hint)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_typed_quantity_inside_one_range_answers_that_option(data):
    flow = default_flow()
    set_name = data.draw(st.sampled_from(sorted(flow.ranges)), label="set")
    ranges = flow.ranges[set_name]
    bound = data.draw(st.sampled_from(ranges.bounds), label="range")
    text = data.draw(typed_quantity(ranges.unit, bound), label="typed")
    assert match(text, set_name) == Match(bound.code)


@pytest.mark.parametrize("lang", ["id", "en"])
@pytest.mark.parametrize("set_name", ["workers", "searching_months", "income"])
def test_every_label_of_a_range_question_answers_its_own_option(set_name, lang):
    """Typed back as shown ("1–4 orang", "< Rp1 juta", "> 12 bulan"), a label is its option."""
    for opt in options(set_name, lang):
        for text in {opt.label, opt.short, opt.label.lower(), opt.code}:
            assert match(text, set_name, lang) == Match(opt.code), text


# ---- match_multi ----
@pytest.mark.parametrize(
    "text, codes",
    [
        ("1,3", ["sedikit_lowongan", "tidak_sesuai_jurusan"]),
        ("1 3", ["sedikit_lowongan", "tidak_sesuai_jurusan"]),
        ("1 dan 3", ["sedikit_lowongan", "tidak_sesuai_jurusan"]),
        ("3, 1", ["sedikit_lowongan", "tidak_sesuai_jurusan"]),  # option order, not typed
        ("1;2/3", ["sedikit_lowongan", "syarat_tidak_terpenuhi", "tidak_sesuai_jurusan"]),
        ("biaya, dokumen", ["biaya", "dokumen"]),
        ("ijazah dan biaya", ["biaya", "dokumen"]),
        ("1, 1", ["sedikit_lowongan"]),  # repeats count once
        ("6", ["lainnya"]),
    ],
)
def test_match_multi_accepts_lists(text, codes):
    assert multi(text) == (codes, [])


@pytest.mark.parametrize(
    "text, codes, bad",
    [
        ("junk", [], ["junk"]),
        ("1, xyz", ["sedikit_lowongan"], ["xyz"]),
        ("7", [], ["7"]),
        ("0, 2", ["syarat_tidak_terpenuhi"], ["0"]),
        ("", [], []),
    ],
)
def test_match_multi_reports_parts_that_match_nothing(text, codes, bad):
    assert multi(text) == (codes, bad)


# ---- months ----
@pytest.mark.parametrize(
    "text, expected",
    [
        ("07/2025", (2025, 7)),
        ("7/2025", (2025, 7)),
        ("7-2025", (2025, 7)),
        ("2025-07", (2025, 7)),
        ("2025/7", (2025, 7)),
        ("07.2025", (2025, 7)),
        ("Juli 2025", (2025, 7)),
        ("jul 25", (2025, 7)),
        ("JULY 2025", (2025, 7)),
        ("agustus 2024", (2024, 8)),
        ("Agt 2024", (2024, 8)),
        ("des 2024", (2024, 12)),
        (" 12/2024 ", (2024, 12)),
        ("07/25", (2025, 7)),  # 2-digit years
        ("7/25", (2025, 7)),
        ("7-25", (2025, 7)),
        ("12/24", (2024, 12)),
        ("sept 2024", (2024, 9)),  # more spellings
        ("agst 2024", (2024, 8)),
        ("agus 2024", (2024, 8)),
        ("nop 2024", (2024, 11)),
        ("Nopember 2024", (2024, 11)),
        ("okt 24", (2024, 10)),
        ("pebruari 2025", (2025, 2)),
        ("febuari 2025", (2025, 2)),  # one typo
        ("jul '25", (2025, 7)),
        ("Juli, 2025", (2025, 7)),
        ("2025 juli", (2025, 7)),
        ("bulan 7 tahun 2025", (2025, 7)),
        ("sejak Juli 2025", (2025, 7)),
        ("072025", (2025, 7)),
        ("1 Juli 2025", (2025, 7)),  # a whole date: its month
        ("1/2/2025", (2025, 2)),
    ],
)
def test_parse_month(text, expected):
    assert parse_month(text) == expected


@pytest.mark.parametrize(
    "text", ["13/2025", "00/2025", "7/1949", "7/2101", "2025", "foo 2025", "", "7/2/1/2025", "?"]
)
def test_parse_month_rejects(text):
    assert parse_month(text) is None
    assert read_month(text) == "unreadable"


@pytest.mark.parametrize("text", ["juli", "Sept", "7", "bulan 7"])
def test_a_month_without_its_year_is_told_so(text):
    assert read_month(text) == "no_year"


def test_format_month_is_mm_slash_yyyy():
    assert format_month(2025, 7) == "07/2025"
    assert format_month(2024, 12) == "12/2024"


# ---- dates ----
@pytest.mark.parametrize(
    "text",
    [
        "17-08-2007",
        "17/08/2007",
        "17.08.2007",
        "17/8/2007",
        "2007-08-17",
        "17 Agustus 2007",
        "17 agu 2007",
        "17 August 2007",
        "17082007",
        " 17-08-2007 ",
        "170807",  # DDMMYY
        "20070817",  # YYYYMMDD (was read as 20 July of year 817)
        "17-08-07",  # 2-digit years
        "17/8/07",
        "17 Agust 2007",  # month spellings
        "17 Agts 2007",
        "17 agst 2007",
        "17 agus 2007",
        "17 agt 07",
        "17 AUG 2007",
        "August 17, 2007",
        "tgl 17 agustus 2007",  # words and emoji around it
        "Tanggal lahir: 17/08/2007",
        "lahir 17.8.2007",
        "17-8-2007 🙏",
        "😀17 agustus 2007!!",
        "Bandung, 17 Agustus 2007",  # place and date of birth
    ],
)
def test_parse_date(text):
    assert parse_date(text, TODAY) == date(2007, 8, 17)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("170806", date(2006, 8, 17)),
        ("14-03-07", date(2007, 3, 14)),
        ("17/8/06", date(2006, 8, 17)),
        ("20070314", date(2007, 3, 14)),
        ("17 sept 2006", date(2006, 9, 17)),
        ("17 nop 2006", date(2006, 11, 17)),
        ("17 pebruari 2007", date(2007, 2, 17)),
        ("17 febuari 2007", date(2007, 2, 17)),
        ("17 des 07", date(2007, 12, 17)),
        ("3 mrt 2007", date(2007, 3, 3)),
        ("17-08-70", date(1970, 8, 17)),  # 2-digit years: the century that makes 14-60
        ("17-08-99", date(1999, 8, 17)),
        ("01-01-11", date(2011, 1, 1)),  # 14 years old on TODAY
    ],
)
def test_parse_date_common_forms(text, expected):
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize(
    "text, problem",
    [
        ("31-02-2007", "impossible"),
        ("29-02-2007", "impossible"),
        ("32-01-2007", "impossible"),
        ("17-13-2007", "impossible"),
        ("310207", "impossible"),
        ("17 sept", "no_year"),  # the year is missing: ask, do not guess
        ("17 Agts", "no_year"),
        ("17 nop", "no_year"),
        ("17 pebruari", "no_year"),
        ("17 febuari", "no_year"),
        ("17-08", "no_year"),
        ("01-01-2020", "implausible"),  # 5 years old
        ("01-01-1900", "implausible"),
        ("17-08-30", "implausible"),  # 1930 or 2030: neither is 14-60
        ("17 foo 2007", "unreadable"),
        ("1782007", "unreadable"),
        ("", "unreadable"),
        ("abc", "unreadable"),
    ],
)
def test_read_date_says_what_is_wrong(text, problem):
    assert read_date(text, TODAY) == problem
    assert parse_date(text, TODAY) is None


def test_without_today_any_date_is_read_for_a_vacancy_deadline():
    """bot/vacancy_hooks.py reads a deadline: no birth-date age check there."""
    assert parse_date("31-12-2026") == date(2026, 12, 31)
    assert parse_date("31/12/26") == date(2026, 12, 31)
    assert parse_date("31 des 2026") == date(2026, 12, 31)
    assert parse_date("31-12-2026", TODAY) is None  # as a birth date: -1 years old
    assert read_date("31 des", None) == "no_year"


def test_parse_date_accepts_a_real_leap_day():
    assert parse_date("29-02-2008", TODAY) == date(2008, 2, 29)


@pytest.mark.parametrize(
    "word, number",
    [
        ("jan", 1),
        ("peb", 2),
        ("pebruari", 2),
        ("febuari", 2),
        ("mrt", 3),
        ("mei", 5),
        ("may", 5),
        ("jun", 6),
        ("juli", 7),
        ("agt", 8),
        ("agst", 8),
        ("agus", 8),
        ("agts", 8),
        ("sept", 9),
        ("okt", 10),
        ("oct", 10),
        ("nop", 11),
        ("nov", 11),
        ("des", 12),
        ("dec", 12),
        ("desember", 12),
    ],
)
def test_month_names(word, number):
    assert month_number(word) == number


@pytest.mark.parametrize("word", ["ju", "ma", "foo", "jumat", ""])
def test_not_month_names(word):
    assert month_number(word) is None


# ---- NISN ----
@pytest.mark.parametrize(
    "text, nisn",
    [
        ("0071234501", "0071234501"),
        ("71234501", "0071234501"),  # 8 digits: two leading zeros lost in Excel
        ("071234501", "0071234501"),  # 9 digits
        ("0071 2345 01", "0071234501"),
        ("007.123.4501", "0071234501"),
        ("007-123-4501", "0071234501"),
    ],
)
def test_parse_nisn_restores_leading_zeros(text, nisn):
    assert parse_nisn(text) == nisn


@pytest.mark.parametrize(
    "text", ["00712345a1", "NISN0071234501", "1234567", "12345678901", "", "  ", "abcdefghij"]
)
def test_parse_nisn_rejects(text):
    assert parse_nisn(text) is None


# ---- free text ----
def test_clean_text_trims_and_folds_white_space():
    assert clean_text("  PT   Maju\n\tJaya  ") == "PT Maju Jaya"
    assert clean_text("x" * 200) == "x" * 200


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "x" * 201])
def test_clean_text_rejects_empty_or_too_long(text):
    assert clean_text(text) is None


def test_clean_text_limit_is_configurable():
    assert clean_text("abcdef", 5) is None
    assert clean_text("abcde", 5) == "abcde"
