"""The message catalogue's English: counts read right for one as for many."""

from __future__ import annotations

import re
import string

from conversations.messages import catalogue

# placeholders that hold a number of things (not an id, a year or a limit such as {max})
COUNTS = {"count", "n", "graduates", "answered", "responders", "new", "quota"}
# "1 answers", "1 earlier answer sets": the number then a plural, at most two words between
PLURAL_AFTER_ONE = re.compile(r"(?<![#\w])1 (?:[a-z-]+ ){0,2}?([a-z]+s)\b")
NOT_PLURALS = {"this", "is", "was", "has", "its", "as", "us", "yes", "his"}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_english_counts_read_right_for_one():
    cat = catalogue()
    wrong = []
    for key in list(cat.keys()):
        text = cat.raw(key, "en")
        if not isinstance(text, str) or not COUNTS & _fields(text):
            continue
        one = text.format(**{name: "1" if name in COUNTS else "X" for name in _fields(text)})
        for match in PLURAL_AFTER_ONE.finditer(one):
            if match.group(1) not in NOT_PLURALS:
                wrong.append(f"{key}: {match.group(0)!r}")
    assert wrong == []


def test_the_check_finds_a_plural_after_one():
    """The pattern above is not vacuous: the texts it was written for are caught."""
    for bad in ("In progress: 1 answers not finished yet.", "History: 1 earlier answer sets"):
        assert PLURAL_AFTER_ONE.search(bad)
