"""Typed-answer matching and validation: pure functions, no I/O.

Choice matching, in tiers (the first tier with exactly one match wins; several matches in a tier
are ambiguous; no match falls through to the next tier):
  1. a number: "2" is the second option ("no 2", "nomor 2", "pilihan 2" too). At a question
     whose options are numeric ranges (questionnaire.yaml `ranges:`) a bare number is a quantity
     instead: "4" or "4 orang" is the option whose range holds 4 (conversations/quantities.py),
     and only "nomor 2" names a position;
  2. exact: the code, the full label, the short label or an alias, ignoring case and punctuation;
  3. whole words: the text is one or more whole words inside a label or alias ("kuliah" for
     "Kuliah / melanjutkan", "sedang mencari" for "Belum bekerja, sedang mencari");
  4. word starts: whole words, the last of which may be the start of a word (3+ letters: "wira",
     "swast"); a number is always a whole word ("2 bulan" is not inside "12 bulan");
  5. one typo: text of 5+ letters one edit (a letter added, dropped, changed or two swapped) from
     a whole label or alias ("kuliyah", "bekrja").
A bare yes/no word ("tidak", "ya") matches only exactly (tiers 1-2): "tidak" is not "Tidak
mencari". Text that matches nothing as a whole is read as a phrase: leading and trailing filler
words go ("masih nganggur", "sedang mencari kerja"); then, unless it holds a negation, a "but",
an "or" or a question, several activities ("kuliah sambil kerja") are asked back, and the longest
leading words that match decide ("kerja di pabrik").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from conversations.quantities import Quantity, RangeSet, read_quantity
from conversations.types import Option


def _words_list(text: str) -> list[str]:
    return text.split()


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


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
    # when no code: the catalogue key that explains why (None: the generic explanations)
    hint: str | None = None


HINT_BETWEEN = "answer.range.between"  # a quantity on a shared bound / in a gap: pick one
HINT_PICK_MAIN = "answer.pick_main"  # several activities named: pick the main one

# a reply to a yes/no question, alone: matched only exactly
_BARE_REPLIES = _words(
    "tidak tdk gak ga gk nggak ngga enggak engga g bukan no not nope ya iya y yes ok oke okay "
    "sip sudah udah sama tetap lanjut lanjutkan lanjutin next continue"
) | {"masih sama", "tetap sama", "sama saja", "sama aja"}
# a negation, a "but", an "or" or a question in the text: no guessing from a part of it
_NO_GUESS = _words(
    "tidak tdk gak ga gk nggak ngga enggak engga bukan belum blm no not nope never tak ndak nda "
    "dont tapi tetapi namun kecuali but except apa apakah gimana bagaimana maksudnya kenapa "
    "mengapa what how why atau or"
)
_LEAD_FILLERS = _words(
    "saya aku sy gw gue ane masih sedang sdg lagi lg sudah udah udh sdh dah baru cuma hanya "
    "sekarang skrg skrng skrang yaitu yakni i im m am currently still now just"
)
_TRAIL_FILLERS = _words(
    "sih kok aja saja deh dong kak ka min gan bang ya yah nih pak bu mas mbak sekarang skrg now"
)
_CONJUNCTIONS = _words("sambil dan sama serta plus sekaligus and while")
_POSITION = re.compile(
    r"(?:(?:no|nomor|nomer|nmr|pilihan|opsi|option|number|#)\s*\.?\s*)(\d{1,2})\s*[.)]?",
    re.IGNORECASE,
)
_BARE_NUMBER = re.compile(r"(\d{1,2})\s*[.)]?")


def match_choice(
    text: str,
    options: Sequence[Option],
    aliases: dict[str, list[str]],
    ranges: RangeSet | None = None,
) -> Match:
    """Match typed `text` to one of `options`; `aliases` maps code -> extra words; `ranges`
    when the options are numeric ranges (a typed quantity picks the option holding it)."""
    raw = text.strip()
    key = norm(raw.replace("_", " "))  # a typed code: "tni_polri" like "tni polri"
    if not key:
        return Match(None)
    number = _POSITION.fullmatch(raw) or (None if ranges else _BARE_NUMBER.fullmatch(raw))
    if number:
        index = int(number.group(1)) - 1
        if 0 <= index < len(options):
            return Match(options[index].code)
        # a number that is not an option's index may still be a code (e.g. workers "0")
    codes = [o.code for o in options]
    if ranges is not None:
        reading = read_quantity(raw, ranges.unit)
        if isinstance(reading, Quantity):
            placed = tuple(c for c in ranges.place(reading) if c in codes)
            if len(placed) == 1:
                return Match(placed[0])
            if placed:
                return Match(None, placed, HINT_BETWEEN)
        elif reading is not None:  # a quantity that cannot be placed: say why
            return Match(None, (), f"answer.range.{reading}")
    names: dict[str, list[str]] = {}
    for opt in options:
        words = [opt.code.replace("_", " "), opt.label, opt.short, *aliases.get(opt.code, [])]
        names[opt.code] = [n for n in (norm(w) for w in words) if n]
    if ranges is not None and any(ch.isdigit() for ch in key):
        # numbers that are no quantity ("-1", "3 juta" for people): a code typed as such
        # ("1_4") at most, never a number inside a label
        found = _tiers(key, names, exact_only=True)
    else:
        found = _tiers(key, names)
        if found.code is None and not found.ambiguous:
            found = _phrase(key.split(), names, guess="?" not in raw)
    if ranges is not None and found.code is None:
        return Match(None, (), f"answer.range.{ranges.unit}")
    return found


def _tiers(key: str, names: dict[str, list[str]], exact_only: bool = False) -> Match:
    words = key.split()
    tests = [lambda n: key == n]
    if key not in _BARE_REPLIES and not exact_only:
        tests += [
            lambda n: f" {key} " in f" {n} ",
            lambda n: _starts_words(words, n.split()),
            lambda n: _one_edit(key, n),
        ]
    for test in tests:
        hits = [code for code, ns in names.items() if any(test(n) for n in ns)]
        if len(hits) == 1:
            return Match(hits[0])
        if len(hits) > 1:
            return Match(None, tuple(hits))
    return Match(None)


def _starts_words(typed: list[str], name: list[str]) -> bool:
    """`typed` are whole words of `name` in a row, the last maybe only a word's start."""
    last = typed[-1]
    if len(last) < 3 or not last.isalpha():
        return False
    k = len(typed)
    for i in range(len(name) - k + 1):
        if name[i : i + k - 1] == typed[:-1] and name[i + k - 1].startswith(last):
            return True
    return False


def _one_edit(a: str, b: str) -> bool:
    """`a` (5+ letters) is one edit from `b`: a letter added, dropped, changed or two swapped."""
    if len(a) < 5 or not a.replace(" ", "").isalpha() or abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1 :]


def _strip_fillers(words: list[str]) -> list[str]:
    words = list(words)
    while len(words) > 1 and words[0] in _LEAD_FILLERS:
        words.pop(0)
    while len(words) > 1 and words[-1] in _TRAIL_FILLERS:
        words.pop()
    return words


def _phrase(words: list[str], names: dict[str, list[str]], guess: bool) -> Match:
    """Text that matched nothing as a whole, read as a phrase."""
    core = _strip_fillers(words)
    if core != words:
        found = _tiers(" ".join(core), names)
        if found.code or found.ambiguous:
            return found
    if not guess or any(w in _NO_GUESS for w in core):
        return Match(None)  # "tidak kuliah", "setuju gak", "kuliah?": no guessing from a part
    parts: list[list[str]] = [[]]
    for word in core:
        if word in _CONJUNCTIONS:
            parts.append([])
        else:
            parts[-1].append(word)
    parts = [p for p in parts if p]
    if len(parts) > 1:
        picked: list[str] = []
        for part in parts:
            m = _leading(part, names)
            picked += [c for c in ((m.code,) if m.code else m.ambiguous) if c not in picked]
        if len(picked) == 1:
            return Match(picked[0])
        if picked:
            order = list(names)
            return Match(None, tuple(sorted(picked, key=order.index)), HINT_PICK_MAIN)
    return _leading(core, names)


def _leading(words: list[str], names: dict[str, list[str]]) -> Match:
    """The longest leading words that match: "kerja di pabrik" is "kerja"."""
    words = _strip_fillers(words)
    for n in range(len(words), 0, -1):
        found = _tiers(" ".join(words[:n]), names)
        if found.code or found.ambiguous:
            return found
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


# ---- months and dates ----
_MONTH_NAMES = {
    **{
        m: i
        for i, m in enumerate(
            _words_list(
                "januari februari maret april mei juni juli agustus september oktober november "
                "desember"
            ),
            start=1,
        )
    },
    **{
        m: i
        for i, m in enumerate(
            _words_list(
                "january february march april may june july august september october november "
                "december"
            ),
            start=1,
        )
    },
    "pebruari": 2,
    "nopember": 11,
}
# abbreviations and spellings that are no start of a month's name
_MONTH_WORDS = {
    **_MONTH_NAMES,
    "peb": 2,
    "pebr": 2,
    "mrt": 3,
    "apl": 4,
    "agt": 8,
    "ags": 8,
    "agst": 8,
    "agts": 8,
    "aug": 8,
    "spt": 9,
    "oct": 10,
    "dec": 12,
}
_MONTHS = _MONTH_WORDS  # kept for callers of the old name


def month_number(word: str) -> int | None:
    """1-12 for a month's name in Indonesian or English, an abbreviation ("agt", "sept", "nop"),
    the start of a name (3+ letters: "agus", "okt") or a name with one typo ("febuari")."""
    w = norm(word)
    if w in _MONTH_WORDS:
        return _MONTH_WORDS[w]
    if len(w) < 3 or not w.isalpha():
        return None
    found = {n for name, n in _MONTH_NAMES.items() if name.startswith(w)}
    if not found and len(w) >= 5:
        found = {n for name, n in _MONTH_NAMES.items() if _one_edit(w, name)}
    return found.pop() if len(found) == 1 else None


_DATE_TOKEN = re.compile(r"\d+|[^\W\d_]+")
_MONTH_FILLERS = _words("sejak mulai dari bulan bln tahun thn th tgl tanggal pada since from in")


def read_month(text: str) -> tuple[int, int] | str:
    """(year, month) from "07/2025", "7/25", "2025-07", "Juli 2025", "sept 2024", "nop '24",
    "bulan 7 tahun 2025", or a whole date ("1 Juli 2025"); else a problem: "no_year" (a month
    alone, "Juli") or "unreadable"."""
    words = [w for w in _DATE_TOKEN.findall(norm(text)) if w not in _MONTH_FILLERS]
    if not words:
        return "unreadable"
    if len(words) == 3:  # a whole date: day, month, year
        read = _read_date_words(words, None)
        return (read.year, read.month) if isinstance(read, date) else "unreadable"
    if len(words) == 1:
        w = words[0]
        if w.isdigit() and len(w) in (5, 6) and 1 <= int(w[:-4]) <= 12:  # 072025
            words = [w[:-4], w[-4:]]
        elif month_number(w) or (w.isdigit() and 1 <= int(w) <= 12 and len(w) <= 2):
            return "no_year"
        else:
            return "unreadable"
    if len(words) != 2:
        return "unreadable"
    a, b = words
    if a.isdigit() and len(a) == 4:  # 2025-07, 2025 juli
        a, b = b, a
    if not b.isdigit() or len(b) not in (2, 4):
        return "unreadable"
    month = int(a) if a.isdigit() and len(a) <= 2 else month_number(a)
    year = int(b) + (2000 if len(b) == 2 else 0)
    if month is None or not 1 <= month <= 12 or not 1950 <= year <= 2100:
        return "unreadable"
    return year, month


def parse_month(text: str) -> tuple[int, int] | None:
    """(year, month) as `read_month` reads it, or None."""
    read = read_month(text)
    return read if isinstance(read, tuple) else None


def format_month(year: int, month: int) -> str:
    return f"{month:02d}/{year}"


# birth dates: a graduate is 14 to 60 years old
AGE_MIN, AGE_MAX = 14, 60
_DATE_FILLERS = _words(
    "tgl tanggal tangal tanggl tgllahir lahir ttl dob born birth date of on pada saya aku sy "
    "tempat tl"
)


def read_date(text: str, today: date | None = None) -> date | str:
    """A date typed as 17-08-2007, 17/8/07, 17.08.2007, 2007-08-17, 17 Agustus 2007, 17 agt 07,
    August 17, 2007, 17082007, 170807 or 20070817 ("tgl", "lahir", a place before a comma and
    emoji around it are ignored).

    With `today`, it is a birth date: a 2-digit year is the century that makes the person 14-60
    years old on `today`, and another age is "implausible". Without, any date (a vacancy's
    deadline): a 2-digit year is 20xx.

    Else a problem: "no_year" ("17 sept"), "impossible" (31-02-2007), "implausible" or
    "unreadable"."""
    t = text
    if "," in t:  # "Bandung, 17 Agustus 2007": a place of birth first
        head, _, tail = t.rpartition(",")
        if not any(ch.isdigit() for ch in head) and any(ch.isdigit() for ch in tail):
            t = tail
    words = [w for w in _DATE_TOKEN.findall(norm(t)) if w not in _DATE_FILLERS]
    return _read_date_words(words, today)


def _read_date_words(words: list[str], today: date | None) -> date | str:
    if len(words) == 1 and words[0].isdigit():
        return _compact_date(words[0], today)
    if len(words) == 2:
        if any(month_number(w) for w in words) or all(w.isdigit() and len(w) <= 2 for w in words):
            return "no_year"
        return "unreadable"
    if len(words) != 3:
        return "unreadable"
    a, b, c = words
    if a.isdigit() and len(a) == 4:  # 2007-08-17
        y, m, d = a, b, c
    elif not a.isdigit():  # August 17, 2007
        y, m, d = c, a, b
    else:  # 17-08-2007, 17 agustus 07
        d, m, y = a, b, c
    month = int(m) if m.isdigit() and len(m) <= 2 else month_number(m)
    if month is None or not d.isdigit() or len(d) > 2 or not y.isdigit() or len(y) not in (2, 4):
        return "unreadable"
    return _checked(int(y), month, int(d), len(y) == 2, today)


def _compact_date(digits: str, today: date | None) -> date | str:
    if len(digits) == 6:  # DDMMYY
        return _checked(int(digits[4:]), int(digits[2:4]), int(digits[:2]), True, today)
    if len(digits) != 8:
        return "unreadable"
    readings = [  # DDMMYYYY, YYYYMMDD
        _checked(int(digits[4:]), int(digits[2:4]), int(digits[:2]), False, today),
        _checked(int(digits[:4]), int(digits[4:6]), int(digits[6:]), False, today),
    ]
    good = [r for r in readings if isinstance(r, date)]
    if len(good) == 1:
        return good[0]
    if good:
        return "unreadable"  # two plausible readings: cannot happen with 19xx/20xx years
    return "implausible" if "implausible" in readings else "impossible"


def _checked(year: int, month: int, day: int, two_digit: bool, today: date | None) -> date | str:
    candidates = [1900 + year, 2000 + year] if two_digit else [year]
    found: list[date] = []
    for y in candidates:
        try:
            found.append(date(y, month, day))
        except ValueError:
            continue
    if not found:
        return "impossible"
    if today is None:  # a month/year, not a birth date: no age to check
        return found[-1]
    plausible = [d for d in found if AGE_MIN <= _age(d, today) <= AGE_MAX]
    if len(plausible) != 1:
        return "implausible"
    return plausible[0]


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def parse_date(text: str, today: date | None = None) -> date | None:
    """The date `read_date` reads (a birth date when `today` is given), or None."""
    read = read_date(text, today)
    return read if isinstance(read, date) else None


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
