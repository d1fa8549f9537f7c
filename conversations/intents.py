"""What a short free-text message means, for the onboarding steps: pure functions, no I/O.

Graduates type the way they chat ("iyaa kak", "gak mau", "kode saya A7K2Q9XMPR", "nisn
0071234501 lahir 14-03-2007"). This module reads such messages:

- `yes_no`: a yes or a no (or both, or neither) from the yes/no words present, after folding
  case, punctuation, emoji, particles ("kak", "dong", "min") and repeated letters ("yaaa");
- `is_greeting`: "halo", "p", "assalamualaikum", "selamat pagi kak", ...;
- `find_code`, `find_identity`: an invitation code, a NISN and a birth date picked out of a
  sentence, so that only text shaped like a real identifier is looked up (and counted against
  the identification attempt limit).

Invitation codes are made by storage/invitations.py (`new_code`): 10 characters of `CODE_ALPHABET`
with at least one digit and one letter. The conversations layer imports no storage module, so
the shape is repeated here; tests/test_intents.py checks that both agree.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from conversations.answers import parse_date

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
_CODE_DIGITS = frozenset("23456789")
_CODE_CHARS = frozenset(CODE_ALPHABET)
_CODE_SEPARATORS = re.compile(r"[\s\-_.]+")
_LINK_PAYLOAD = re.compile(r"[?&](?:start|text)=([A-Za-z0-9_%-]+)")
_SLASH_START = re.compile(r"^/start(@\w+)?\s*", re.IGNORECASE)
# token boundaries in a sentence ("Kode: A7K2Q9XMPR.", "nisn=0071234501,")
_TOKEN_SPLIT = re.compile(r"[\s,;:!?()\[\]{}\"'=*]+")

YES, NO, BOTH = "yes", "no", "both"


def _words(text: str) -> list[str]:
    """Case-folded words without accents, punctuation or emoji, repeated letters squeezed."""
    text = re.sub(r"n['’]t\b", " not", text, flags=re.IGNORECASE)  # don't -> do not
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"[^\w\s]+|_", " ", text)
    return [re.sub(r"([^\W\d])\1+", r"\1", w) for w in text.split()]


def _vocabulary(words: str) -> frozenset[str]:
    """A word list (white-space separated) folded like messages are."""
    return frozenset(_words(words))


def fold(text: str) -> list[str]:
    """The words of `text` for matching: case-folded, without accents, punctuation or emoji,
    repeated letters squeezed ("Yaaa!!" -> ["ya"], "nggak" -> ["ngak"]), particles dropped."""
    return [w for w in _words(text) if w not in _PARTICLES]


# Words that only colour a message ("ok kak", "ya dong", "gak sih"): dropped before matching.
_PARTICLES = _vocabulary(
    "kak ka kk kakak dong deh sih min mimin admin pak bu bapak ibu bang mas mbak mba bro sis "
    "gan kok nih tuh lah loh lho kan aja saja please pls plz sir maam"
)
# Negations: a no on their own ("ga", "tidak") and turn the next word into a no ("gak mau",
# "tidak setuju", "ga usah", "bukan saya"); "belum" only before such a word.
_NEGATORS = _vocabulary(
    "tidak tdk tak ga gak gk g nggak ngga enggak engga kagak kaga ndak nda bukan bkn jangan jgn "
    "no not never"
)
_SOFT_NEGATORS = _vocabulary("belum blm")
# After a negation these make no answer at all: "tidak tahu", "not sure", "gak ngerti".
_UNSURE = _vocabulary(
    "tahu tau tw ngerti mengerti paham yakin sure know tentu jelas ingat inget kenal"
)
# After a negation these make "it's fine", neither yes nor no: "gak apa apa", "no problem".
_FINE = _vocabulary("apa papa masalah problem")
# Neutral words a yes or no may come with ("saya setuju", "tidak, terima kasih", "gak usah").
_FILLERS = _vocabulary(
    "saya aku sy gw gue gua udah sudah sdh terima kasih makasih trims thanks thank you i am do it "
    "is that s me sangat sekali banget bgt dulu juga jg usah perlu ingin pengen pingin jadi want "
    "need to gpp gapapa apa"
)


def yes_no(text: str, yes_words: Iterable[str], no_words: Iterable[str]) -> str | None:
    """YES, NO, BOTH (a yes and a no word: ambiguous) or None (no decision: words it does not
    know, "tidak tahu", or nothing at all).

    `yes_words`/`no_words` are the question's aliases (the catalogue's); a phrase of several
    words counts when the whole message is that phrase. Every word of the message must be a yes
    or no word, a negation, a particle or a neutral word: "mau tanya dulu" decides nothing."""
    words = fold(text)
    if not words:
        return None
    yes_phrases = {" ".join(fold(p)) for p in yes_words}
    no_phrases = {" ".join(fold(p)) for p in no_words}
    whole = " ".join(words)
    if whole in yes_phrases and whole not in no_phrases:
        return YES
    if whole in no_phrases and whole not in yes_phrases:
        return NO
    yes_set = {p for p in yes_phrases if p and " " not in p}
    no_set = {p for p in no_phrases if p and " " not in p} | _NEGATORS
    said_yes = said_no = False
    i = 0
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if word in _NEGATORS or (word in _SOFT_NEGATORS and nxt in yes_set | _FILLERS):
            if nxt in _UNSURE:
                return None
            if nxt in _FINE:
                i += 2
                continue
            if nxt is not None and (nxt in yes_set or nxt in no_set or nxt in _FILLERS):
                i += 1  # "gak mau", "tidak setuju", "bukan saya": one no
            said_no = True
        elif word in yes_set:
            said_yes = True
        elif word in no_set:
            said_no = True
        elif word not in _FILLERS:
            return None
        i += 1
    if said_yes and said_no:
        return BOTH
    if said_yes:
        return YES
    if said_no:
        return NO
    return None


_GREETING_HEADS = _vocabulary(
    "halo hallo helo hello hai hay hi hei hey hy p ping tes test assalamualaikum asalamualaikum "
    "assalamu salam askum ass samlekom selamat pagi siang sore malam permisi punten good"
)
_GREETINGS = _GREETING_HEADS | _vocabulary(
    "alaikum morning afternoon evening wr wb warahmatullahi wabarakatuh"
)


def is_greeting(text: str) -> bool:
    """True for a message that only greets: "Halo kak", "P", "Assalamu'alaikum wr. wb.",
    "selamat pagi min", "hiii"."""
    words = fold(text)
    return bool(words) and words[0] in _GREETING_HEADS and all(w in _GREETINGS for w in words)


# ---- identifiers ----
def is_code(candidate: str) -> bool:
    """True when `candidate` (upper-case, no separators) has the shape of an invitation code."""
    return (
        len(candidate) == CODE_LENGTH
        and all(c in _CODE_CHARS for c in candidate)
        and any(c in _CODE_DIGITS for c in candidate)
        and any(c not in _CODE_DIGITS for c in candidate)
    )


def _bare(text: str) -> str:
    return _CODE_SEPARATORS.sub("", text).upper()


def _tokens(text: str) -> list[str]:
    return [t.strip(".-_") for t in _TOKEN_SPLIT.split(text) if t.strip(".-_")]


def find_code(text: str) -> str | None:
    """The invitation code (upper-case) in `text`, or None: the code alone in any case, with
    spaces/dashes/dots in between ("a7k2-q9xm-pr"), a pasted link ("https://t.me/bot?start=CODE",
    "wa.me/...?text=CODE"), "/start CODE", or a code in a sentence ("kode saya CODE",
    "Kode: CODE.")."""
    if not text:
        return None
    text = text.strip()
    for payload in _LINK_PAYLOAD.findall(text):
        if is_code(_bare(payload)):
            return _bare(payload)
    text = _SLASH_START.sub("", text)
    if is_code(_bare(text)):
        return _bare(text)
    tokens = _tokens(text)
    for token in tokens:
        if is_code(_bare(token)):
            return _bare(token)
    # a code typed in groups inside a sentence: "kode saya A7K2 Q9XM PR"
    for start in range(len(tokens)):
        joined = ""
        for token in tokens[start:]:
            if len(token) > 5:
                break
            joined += _bare(token)
            if len(joined) >= CODE_LENGTH:
                if is_code(joined):
                    return joined
                break
    return None


def looks_like_code(text: str) -> bool:
    """True for a token that is probably a mistyped invitation code: 8-12 letters and digits
    (both), but not a valid code (a look-alike such as O, I, L, 0 or 1, or a character too many
    or too few). Such a message is not looked up."""
    for token in (_bare(t) for t in _tokens(text)):
        if (
            8 <= len(token) <= 12
            and token.isalnum()
            and token.isascii()
            and any(c.isdigit() for c in token)
            and any(c.isalpha() for c in token)
        ):
            return True
    return False


_NISN_LABEL = re.compile(r"^\s*(no\.?\s*)?nisn\s*[:.=\-]?\s*", re.IGNORECASE)
_DATE_SEPARATOR = re.compile(r"\d[-/.]\d")


def _nisn_digits(token: str) -> str | None:
    digits = re.sub(r"[.\-]", "", token)
    if digits.isdigit() and digits.isascii() and 8 <= len(digits) <= 10:
        return digits
    return None


def find_date(text: str, today: date | None = None) -> date | None:
    """A date written somewhere in `text` ("lahir 14-03-2007", "tgl 14 Maret 2007"), or None.
    With `today`, a birth date (`answers.read_date`: "14-03-95" is 1995, an implausible age is
    none)."""
    whole = parse_date(text, today)
    if whole is not None:
        return whole
    tokens = [t.strip(".,;:") for t in text.split()]
    tokens = [t for t in tokens if t]
    for size in (3, 1):
        for start in range(len(tokens) - size + 1):
            found = parse_date(" ".join(tokens[start : start + size]), today)
            if found is not None:
                return found
    return None


@dataclass(frozen=True, slots=True)
class Identity:
    """What a message offers to identify its sender."""

    code: str | None = None  # a well-formed invitation code, upper-case
    nisn: str | None = None  # 10 digits (leading zeros given back to 8-9 typed digits)
    dob: date | None = None  # a date written next to the NISN
    digits: bool = False  # it has a number that is neither a NISN nor a date
    near_code: bool = False  # a token like a code that is not a valid one


def find_identity(text: str, today: date | None = None) -> Identity:
    """The invitation code, or the NISN (and a birth date next to it), in `text`.

    "NISN 0071234501", "nisn: 0071.2345.01", "0071 2345 01", "0071234501 14-03-2007" and
    "nisn saya 0071234501 lahir 14 maret 2007" give a NISN (and a date); "kode saya A7K2Q9XMPR"
    or a pasted invitation link gives a code. Anything else gives neither, and says whether
    there were digits (a wrong-length NISN) or a code-like token. With `today`, the date is
    read as a birth date (see `find_date`)."""
    code = find_code(text)
    if code is not None:
        return Identity(code=code)
    body = _NISN_LABEL.sub("", text.strip())
    whole = re.sub(r"[\s.\-]", "", body)
    is_date = bool(_DATE_SEPARATOR.search(body)) and parse_date(body) is not None
    if whole.isdigit() and whole.isascii() and 8 <= len(whole) <= 10 and not is_date:
        return Identity(nisn=whole.zfill(10))
    tokens = [t.strip(".,;:") for t in body.split()]
    candidates: list[tuple[int, str]] = []
    for index, token in enumerate(tokens):
        if _DATE_SEPARATOR.search(token) and parse_date(token) is not None:
            continue  # 14-03-2007 is a date, not 8 digits
        digits = _nisn_digits(token)
        if digits is not None:
            candidates.append((index, digits))
    full = [c for c in candidates if len(c[1]) == 10]
    pick = full[0] if full else (candidates[0] if len(candidates) == 1 else None)
    if pick is None:
        return Identity(digits=any(ch.isdigit() for ch in text), near_code=looks_like_code(text))
    index, digits = pick
    rest = " ".join(tokens[:index] + tokens[index + 1 :])
    return Identity(nisn=digits.zfill(10), dob=find_date(rest, today) if rest else None)


__all__ = [
    "BOTH",
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "NO",
    "YES",
    "Identity",
    "find_code",
    "find_date",
    "find_identity",
    "fold",
    "is_code",
    "is_greeting",
    "looks_like_code",
    "yes_no",
]
