"""Typed-answer matching and parsing (conversations/answers.py), on the shipped choice sets."""

from __future__ import annotations

from datetime import date

import pytest

from conversations.answers import (
    Match,
    clean_text,
    format_month,
    match_choice,
    match_multi,
    norm,
    parse_date,
    parse_month,
    parse_nisn,
)
from conversations.questionnaire import default_flow
from conversations.types import Option


def options(set_name: str, lang: str = "id") -> tuple[Option, ...]:
    return default_flow().options(set_name, lang)


def aliases(set_name: str, lang: str = "id") -> dict[str, list[str]]:
    flow = default_flow()
    cat = flow.catalogue
    return {c: cat.aliases(f"alias.{set_name}.{c}", lang) for c in flow.choice_sets[set_name]}


def match(text: str, set_name: str, lang: str = "id") -> Match:
    return match_choice(text, options(set_name, lang), aliases(set_name, lang))


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


def test_workers_code_zero_is_matched_as_a_code_not_as_position():
    # "0" is no position, but it is the code of "Tidak ada (sendiri)"
    assert match("0", "workers") == Match("0")
    # positions still win for numbers that are in range
    assert match("1", "workers") == Match("0")
    assert match("2", "workers") == Match("1_4")
    assert match("4", "workers") == Match("20plus")


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
    result = match("ker", "status")
    assert result.code is None and {"bekerja", "kursus"} <= set(result.ambiguous)


def test_a_more_exact_tier_beats_a_looser_one():
    # "sesuai" is a whole label (exact) and also a part of three other labels
    assert match("sesuai", "relevance") == Match("sesuai")
    assert match("lainnya", "job_channel") == Match("lainnya")


@pytest.mark.parametrize("text", ["", "   ", "?!", "xq", "zzz", "asdfgh", "👍"])
def test_junk_matches_nothing_and_is_not_ambiguous(text):
    assert match(text, "status") == Match(None)


def test_two_letter_text_is_not_a_part_match():
    assert match("ja", "status").code is None  # would be inside "bekerja"


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
    ],
)
def test_parse_month(text, expected):
    assert parse_month(text) == expected


@pytest.mark.parametrize(
    "text",
    ["13/2025", "00/2025", "7/1949", "7/2101", "juli", "2025", "foo 2025", "07/25", "", "1/2/2025"],
)
def test_parse_month_rejects(text):
    assert parse_month(text) is None


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
    ],
)
def test_parse_date(text):
    assert parse_date(text) == date(2007, 8, 17)


@pytest.mark.parametrize(
    "text",
    ["31-02-2007", "29-02-2007", "32-01-2007", "17-13-2007", "17 foo 2007", "17-08", "", "abc"],
)
def test_parse_date_rejects_impossible_or_unreadable_dates(text):
    assert parse_date(text) is None


def test_parse_date_accepts_a_real_leap_day():
    assert parse_date("29-02-2008") == date(2008, 2, 29)


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
