"""Typed-answer matching and validation: pure functions, no I/O.

Choice matching, in tiers (the first tier with exactly one match wins; several matches in a tier
are ambiguous; no match falls through to the next tier):
  1. a number: "2" is the second option;
  2. exact: the code, the full label, the short label or an alias, ignoring case and punctuation;
  3. a whole word: the text is one or more whole words at the start of a label or alias
     ("kuliah" for "Kuliah / melanjutkan");
  4. a part: the text appears inside a label or alias (at least 3 characters).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from conversations.types import Option

_PUNCT = re.compile(r"[^\w\s]+", re.UNICODE)
_SPACES = re.compile(r"\s+")


def norm(text: str) -> str:
    """Casefold, drop accents and punctuation, fold white space."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _PUNCT.sub(" ", text.casefold())
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class Match:
    code: str | None  # the matched code, or None
    ambiguous: tuple[str, ...] = ()  # codes it could have been, when ambiguous


def match_choice(text: str, options: Sequence[Option], aliases: dict[str, list[str]]) -> Match:
    """Match typed `text` to one of `options`; `aliases` maps code -> extra words."""
    raw = text.strip()
    key = norm(raw.replace("_", " "))  # a typed code: "tni_polri" like "tni polri"
    if not key:
        return Match(None)
    number = re.fullmatch(r"\s*(\d{1,2})\s*[.)]?\s*", raw)
    if number:
        index = int(number.group(1)) - 1
        if 0 <= index < len(options):
            return Match(options[index].code)
        # a number that is not an option's index may still be a code (e.g. workers "0")
    names: dict[str, list[str]] = {}
    for opt in options:
        words = [opt.code.replace("_", " "), opt.label, opt.short, *aliases.get(opt.code, [])]
        names[opt.code] = [n for n in (norm(w) for w in words) if n]
    tiers = (
        lambda n: key == n,
        lambda n: n.startswith(key + " ") or (" " + key + " ") in (" " + n + " "),
        lambda n: len(key) >= 3 and key in n,
    )
    for test in tiers:
        hits = [code for code, ns in names.items() if any(test(n) for n in ns)]
        if len(hits) == 1:
            return Match(hits[0])
        if len(hits) > 1:
            return Match(None, tuple(hits))
    return Match(None)


def match_multi(
    text: str, options: Sequence[Option], aliases: dict[str, list[str]]
) -> tuple[list[str], list[str]]:
    """Several choices typed at once ("1,3", "1 dan 3", "biaya, dokumen").

    Returns (codes in option order, parts that matched nothing or were ambiguous).
    """
    parts = [p for p in re.split(r"\s*(?:,|;|/|\+|&|\bdan\b|\band\b)\s*", text.strip()) if p]
    if len(parts) == 1 and re.fullmatch(r"[\d\s]+", parts[0]):
        parts = parts[0].split()
    codes: list[str] = []
    bad: list[str] = []
    for part in parts:
        m = match_choice(part, options, aliases)
        if m.code is None:
            bad.append(part)
        elif m.code not in codes:
            codes.append(m.code)
    order = [o.code for o in options]
    return sorted(codes, key=order.index), bad


_MONTHS = {
    **{
        m: i
        for i, m in enumerate(
            [
                "januari",
                "februari",
                "maret",
                "april",
                "mei",
                "juni",
                "juli",
                "agustus",
                "september",
                "oktober",
                "november",
                "desember",
            ],
            start=1,
        )
    },
    **{
        m: i
        for i, m in enumerate(
            [
                "january",
                "february",
                "march",
                "april",
                "may",
                "june",
                "july",
                "august",
                "september",
                "october",
                "november",
                "december",
            ],
            start=1,
        )
    },
    **{
        m: i
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "mei", "jun", "jul", "agu", "sep", "okt", "nov", "des"],
            start=1,
        )
    },
    "agt": 8,
    "ags": 8,
    "aug": 8,
    "oct": 10,
    "dec": 12,
    "may": 5,
}


def parse_month(text: str) -> tuple[int, int] | None:
    """(year, month) from "07/2025", "7-2025", "2025-07", "Juli 2025", "jul 25"; else None."""
    t = norm(text.replace("/", " ").replace("-", " ").replace(".", " "))
    m = re.fullmatch(r"(\d{1,2}) (\d{4})", t)
    if m:
        month, year = int(m.group(1)), int(m.group(2))
    elif m := re.fullmatch(r"(\d{4}) (\d{1,2})", t):
        year, month = int(m.group(1)), int(m.group(2))
    elif m := re.fullmatch(r"([a-z]+) (\d{2}|\d{4})", t):
        if m.group(1) not in _MONTHS:
            return None
        month, year = _MONTHS[m.group(1)], int(m.group(2))
        if year < 100:
            year += 2000
    else:
        return None
    if not 1 <= month <= 12 or not 1950 <= year <= 2100:
        return None
    return year, month


def format_month(year: int, month: int) -> str:
    return f"{month:02d}/{year}"


def parse_date(text: str) -> date | None:
    """A birth date typed as DD-MM-YYYY, DD/MM/YYYY, DD.MM.YYYY, YYYY-MM-DD or "17 Agustus 2007"."""
    t = text.strip()
    m = re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", t)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    elif m := re.fullmatch(r"(\d{1,2})[-/. ](\d{1,2})[-/. ](\d{4})", t):
        d, mo, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
    elif m := re.fullmatch(r"(\d{1,2}) ([a-z]+) (\d{4})", norm(t)):
        if m.group(2) not in _MONTHS:
            return None
        d, mo, y = int(m.group(1)), _MONTHS[m.group(2)], int(m.group(3))
    elif m := re.fullmatch(r"(\d{2})(\d{2})(\d{4})", t):  # 17082007
        d, mo, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        return None
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def parse_nisn(text: str) -> str | None:
    """A typed NISN: 10 digits (spaces/dots allowed); 8-9 digits get their leading zeros back."""
    digits = re.sub(r"[\s.\-]", "", text.strip())
    if not digits.isdigit() or not 8 <= len(digits) <= 10:
        return None
    return digits.zfill(10)


def clean_text(text: str, max_len: int = 200) -> str | None:
    """A free-text answer: trimmed, inner white space folded; None when empty or too long."""
    value = _SPACES.sub(" ", text).strip()
    if not value or len(value) > max_len:
        return None
    return value
