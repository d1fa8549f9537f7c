"""Derived fields of a response, for reports and exports (QUESTIONNAIRE.md "Derived fields").

Pure: no I/O, no database. `derive(answers, graduation_year)` gives
- `bmw`: "B", "M" or "W" for bekerja / melanjutkan / wirausaha, "" otherwise;
- `relevant`: True for relevance `sangat_sesuai`, `sesuai` or `ya`, False for any other relevance
  code, None when relevance was not answered;
- `waiting_months`: months from graduation to `start_month` ("MM/YYYY"), 0 when the person
  started before graduating (e.g. hired by the internship host), None without a usable start_month.

Graduation is taken as June of the graduation year: SMK results are announced in early May and the
school year ends in June/July; counting from June makes someone who starts right after leaving
school wait 0 months, and someone who starts in July wait 1.
"""

from __future__ import annotations

import re
from typing import Any

GRADUATION_MONTH = 6

BMW_BY_STATUS = {"bekerja": "B", "melanjutkan": "M", "wirausaha": "W"}
RELEVANT_CODES = frozenset({"sangat_sesuai", "sesuai", "ya"})
STATUSES = ("bekerja", "wirausaha", "melanjutkan", "kursus", "mencari_kerja", "tidak_mencari")

_MONTH_RE = re.compile(r"^\s*(\d{1,2})\s*[/\-.]\s*(\d{4})\s*$")


def parse_month(value: Any) -> tuple[int, int] | None:
    """'MM/YYYY' -> (year, month), or None when it is not a valid month."""
    if not isinstance(value, str):
        return None
    match = _MONTH_RE.match(value)
    if not match:
        return None
    month, year = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        return None
    return year, month


def waiting_months(start_month: Any, graduation_year: int | None) -> int | None:
    parsed = parse_month(start_month)
    if parsed is None or graduation_year is None:
        return None
    year, month = parsed
    return max(0, (year * 12 + month) - (graduation_year * 12 + GRADUATION_MONTH))


def is_relevant(relevance: Any) -> bool | None:
    if relevance is None or relevance == "":
        return None
    return relevance in RELEVANT_CODES


def derive(answers: dict[str, Any], graduation_year: int) -> dict[str, Any]:
    """The derived fields of one response's answers (field code -> value)."""
    status = answers.get("status")
    return {
        "bmw": BMW_BY_STATUS.get(status, "") if isinstance(status, str) else "",
        "relevant": is_relevant(answers.get("relevance")),
        "waiting_months": waiting_months(answers.get("start_month"), graduation_year),
    }


__all__ = [
    "BMW_BY_STATUS",
    "GRADUATION_MONTH",
    "RELEVANT_CODES",
    "STATUSES",
    "derive",
    "is_relevant",
    "parse_month",
    "waiting_months",
]
