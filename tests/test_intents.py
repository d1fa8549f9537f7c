"""Unit tests of conversations/intents.py: yes/no words, greetings, and identifiers picked out of
what graduates type."""

from __future__ import annotations

from datetime import date

import pytest

from conversations import intents
from conversations.intents import (
    BOTH,
    NO,
    YES,
    Identity,
    find_code,
    find_date,
    find_identity,
    fold,
    is_code,
    is_greeting,
    yes_no,
)
from conversations.messages import catalogue
from storage import invitations

CODE = "A7K2Q9XMPR"


def words(set_name: str, code: str) -> list[str]:
    cat = catalogue()
    return [
        cat.t(f"choice.{set_name}.{code}", "id"),
        *cat.aliases(f"alias.{set_name}.{code}", "id"),
    ]


CONSENT = (words("consent", "setuju"), words("consent", "tidak_setuju"))
CONFIRM = (words("confirm", "ya"), words("confirm", "bukan"))
VACANCY = (words("yes_no", "ya"), words("yes_no", "tidak"))


def test_fold_squeezes_letters_and_drops_punctuation_emoji_and_particles():
    assert fold("YAAA!!! 👍") == ["ya"]
    assert fold("Iya kak 🙏") == ["iya"]
    assert fold("oke dong min") == ["oke"]
    assert fold("I don't agree") == ["i", "do", "not", "agre"]
    assert fold("nggak sih") == ["ngak"]
    assert fold("2025") == ["2025"]  # digits are not squeezed


@pytest.mark.parametrize(
    "vocab, text, expected",
    [
        (CONFIRM, "iya benar", YES),
        (CONFIRM, "ya betul", YES),
        (CONFIRM, "ya saya", YES),
        (CONFIRM, "bener", YES),
        (CONFIRM, "Ya, benar", YES),
        (CONFIRM, "ga", NO),
        (CONFIRM, "bukan saya kak", NO),
        (CONFIRM, "Not me", NO),
        (CONSENT, "iya setuju", YES),
        (CONSENT, "gak setuju", NO),
        (CONSENT, "tdk setuju", NO),
        (CONSENT, "Tidak setuju", NO),
        (CONSENT, "siap", YES),
        (CONSENT, "oke siap", YES),
        (CONSENT, "ok kak", YES),
        (CONSENT, "yaa", YES),
        (CONSENT, "YAAA!!", YES),
        (CONSENT, "ga", NO),
        (CONSENT, "gk", NO),
        (CONSENT, "saya setuju", YES),
        (CONSENT, "yes", YES),
        (CONSENT, "sure", YES),
        (CONSENT, "nope", NO),
        (CONSENT, "no", NO),
        (CONSENT, "I don't agree", NO),
        (CONSENT, "tidak, terima kasih", NO),
        (VACANCY, "ga mau", NO),
        (VACANCY, "gak mau", NO),
        (VACANCY, "ga usah", NO),
        (VACANCY, "tidak usah", NO),
        (VACANCY, "boleh kak", YES),
        (VACANCY, "iya boleh", YES),
        (VACANCY, "belum mau", NO),
        (VACANCY, "tidak bisa", NO),
        # a yes and a no: ambiguous
        (CONSENT, "ya tidak", BOTH),
        (VACANCY, "iya gak", BOTH),
        (CONFIRM, "saya bukan", BOTH),
        # nothing decided: unknown words, "don't know", "it's fine", nothing at all
        (CONSENT, "tidak tahu", None),
        (CONSENT, "saya tidak tahu kak", None),
        (CONSENT, "not sure", None),
        (CONSENT, "mungkin nanti", None),
        (VACANCY, "mau tanya dulu", None),
        (VACANCY, "gak apa apa", None),
        (VACANCY, "belum", None),
        (CONSENT, "1", None),
        (CONSENT, "", None),
        (CONSENT, "🙏", None),
    ],
)
def test_yes_no(vocab, text, expected):
    assert yes_no(text, *vocab) == expected


@pytest.mark.parametrize(
    "text",
    [
        "halo",
        "Halo kak",
        "P",
        "p p",
        "hai min",
        "hiii",
        "Assalamu'alaikum wr. wb.",
        "assalamualaikum",
        "selamat pagi",
        "Selamat siang bu",
        "permisi",
        "hello",
        "good morning",
        "pagi kak",
    ],
)
def test_greetings(text):
    assert is_greeting(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "halo saya mau tanya",
        "pagi ini kerja",
        "bekerja",
        "tidak",
        "selamat tinggal",
        "0071234501",
    ],
)
def test_not_greetings(text):
    assert not is_greeting(text)


@pytest.mark.parametrize(
    "text",
    [
        CODE,
        CODE.lower(),
        f"{CODE}.",
        "a7k2-q9xm-pr",
        "A7K2 Q9XM PR",
        f"https://t.me/jejak_bot?start={CODE}",
        f"t.me/jejak_bot?start={CODE.lower()}",
        f"https://wa.me/6281234567890?text={CODE}",
        f"/start {CODE}",
        f"kode saya {CODE}",
        f"Kode: {CODE}",
        f"Kode undangan: {CODE}, terima kasih",
        "kode saya A7K2 Q9XM PR",
        f"({CODE})",
    ],
)
def test_find_code(text):
    assert find_code(text) == CODE


@pytest.mark.parametrize(
    "text",
    [
        "lupa nisn",
        "tidak tahu",
        "gimana caranya",
        "kodenya mana",
        "belum punya",
        "setuju",
        "NISN 3071234502",
        "0071234501",
        "bekerja di pabrik",
        "A7K2Q9XMP0",  # 0 is no code character
        "A7K2Q9XMPRS",  # one too many
        "2345678923",  # digits only
        "ABCDEFGHJK",  # letters only
        "",
    ],
)
def test_no_code(text):
    assert find_code(text) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0071234501", Identity(nisn="0071234501")),
        ("71234501", Identity(nisn="0071234501")),  # Excel dropped the zeros
        ("NISN 3071234502", Identity(nisn="3071234502")),
        ("nisn: 0071.2345.01", Identity(nisn="0071234501")),
        ("0071 2345 01", Identity(nisn="0071234501")),
        ("0071-2345-01", Identity(nisn="0071234501")),
        ("0071234501 14-03-2007", Identity(nisn="0071234501", dob=date(2007, 3, 14))),
        ("0071234501, 14/03/2007", Identity(nisn="0071234501", dob=date(2007, 3, 14))),
        ("0071234501 14032007", Identity(nisn="0071234501", dob=date(2007, 3, 14))),
        (
            "nisn saya 0071234501 lahir 14 Maret 2007",
            Identity(nisn="0071234501", dob=date(2007, 3, 14)),
        ),
        ("0071234501 kemarin", Identity(nisn="0071234501")),
        (f"kode saya {CODE}", Identity(code=CODE)),
        ("lupa nisn", Identity()),
        ("gimana caranya", Identity()),
        ("", Identity()),
        ("12345", Identity(digits=True)),
        ("14-03-2007", Identity(digits=True)),  # a date is no NISN
        ("0071234501234", Identity(digits=True)),
        ("081234567890", Identity(digits=True)),
        ("A7K2Q9XMP0", Identity(digits=True, near_code=True)),
        ("kode saya a7k2q9xmpri", Identity(digits=True, near_code=True)),
    ],
)
def test_find_identity(text, expected):
    assert find_identity(text) == expected


def test_find_date_in_a_sentence():
    assert find_date("lahir 14-03-2007") == date(2007, 3, 14)
    assert find_date("tgl lahir saya 14 maret 2007 kak") == date(2007, 3, 14)
    assert find_date("17082007") == date(2007, 8, 17)
    assert find_date("kemarin") is None
    assert find_date("31-02-2007") is None


def test_the_code_shape_is_the_one_storage_makes_and_accepts():
    """conversations may not import storage: the shape is repeated there. Both must agree."""
    assert intents.CODE_ALPHABET == invitations.ALPHABET
    assert intents.CODE_LENGTH == invitations.CODE_LENGTH
    for _ in range(500):
        code = invitations.new_code()
        assert is_code(code) and find_code(code.lower()) == code
        assert find_code(f"kode saya {code[:4]}-{code[4:]}.") == code
    for text in ("A7K2Q9XMP0", "ABCDEFGHJK", "2345678923", "A7K2Q9XMPRS", "lupa nisn", CODE):
        assert (invitations.normalise_code(text) is not None) == (find_code(text) is not None)
