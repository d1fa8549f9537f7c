"""Logging setup: text or JSON lines, with personal data and secrets redacted from every record.

Call `setup_logging(settings.log_level, settings.log_format)` once at start. It installs one
handler on the root logger with a `RedactingFilter`, so every record that reaches it (from our
code or a library, propagated from any logger) has NISN-like numbers, phone numbers, birth-like
dates, chat/user ids, bot tokens and secrets in URLs replaced before it is formatted:

    "0012345678" -> "[nisn]"   "0812-3456-7890" / "+62 812..." -> "[phone]"
    "2005-03-17" / "17/03/2005" -> "[date]"   "123456789" (7+ digits) -> "[id]"
    ".../bot123:AAE.../getUpdates" -> ".../bot[token]/getUpdates"
    "?hub.verify_token=x" -> "?hub.verify_token=[redacted]"

Redaction is a safety net, not a licence: code should not log personal data in the first place.
Where a log line needs to say "the same person again", log `pseudonym(chat_id)` (a short keyed
hash such as "p3fa2c1d0") instead of the id itself.

uvicorn: start it with `log_config=None` so that its records propagate to this handler (its own
default handlers would bypass the filter, and access lines carry query strings).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import sys
from datetime import UTC, date, datetime
from typing import IO, Any

__all__ = [
    "JsonFormatter",
    "RedactingFilter",
    "TextFormatter",
    "pseudonym",
    "redact",
    "set_pseudonym_key",
    "setup_logging",
]

# ---------------------------------------------------------------------------------------------
# redaction

_MONTHS = (
    "jan|januari|january|feb|februari|february|mar|maret|march|apr|april|mei|may|jun|juni|june|"
    "jul|juli|july|agu|agt|agustus|aug|august|sep|sept|september|okt|oct|oktober|october|"
    "nov|nopember|november|des|dec|desember|december"
)

# Secrets first: they contain digits that the later patterns would otherwise half-eat.
_SECRET_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Bot API URLs: https://api.telegram.org/bot<id>:<secret>/method (and /file/bot<token>/...)
    (re.compile(r"bot\d+:[A-Za-z0-9_-]+"), "bot[token]"),
    # a bare Telegram bot token
    (re.compile(r"(?<![\w])\d{5,}:[A-Za-z0-9_-]{30,}"), "[token]"),
    # Authorization headers
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [token]"),
    # Meta access tokens (EAA...)
    (re.compile(r"\bEAA[A-Za-z0-9]{20,}"), "[token]"),
    # secrets in query strings or key=value text: hub.verify_token=..., access_token=..., secret=...
    (
        re.compile(
            r"(?i)\b((?:hub\.verify_token|access_token|verify_token|token|secret|password|"
            r"app_secret|api_key|signature)=)[^&\s\"']+"
        ),
        r"\1[redacted]",
    ),
    # webhook signature and secret-token headers as they may appear in dumps
    (re.compile(r"(?i)\bsha256=[0-9a-f]{16,}"), "sha256=[redacted]"),
    # PostgreSQL error details quote the rows and keys a statement touched (names, answers):
    # "Failing row contains (...)" to the end of its line, "Key (nisn)=(...) already exists"
    (re.compile(r"(Failing row contains )\(.*"), r"\1([row])"),
    (
        re.compile(
            r"(Key \([^)]*\)=)\(.*?\)(?=\s+(?:already exists|is not present|is still)|$)", re.M
        ),
        r"\1([value])",
    ),
]

# Phones: Indonesian mobiles (08.., 628.., +628..) and any +<country> number; single spaces,
# dots or dashes between digits allowed. `_phone_sub` decides whether a candidate is a phone.
_PHONE_RE = re.compile(r"(?<![\w+])\+?(?:\d[ .-]?){8,15}\d(?!\w)")

_DATE_RES: list[re.Pattern[str]] = [
    re.compile(r"(?<![\w.:/-])(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?![\d/-])"),
    re.compile(r"(?<![\w.:/-])(?P<d>\d{1,2})[/-](?P<m>\d{1,2})[/-](?P<y>\d{4})(?![\w:/-])"),
    re.compile(
        rf"(?i)(?<![\w])(?P<d>\d{{1,2}})\s+(?P<mname>{_MONTHS})\.?\s+(?P<y>\d{{4}})(?![\w])"
    ),
]
_NISN_RE = re.compile(r"(?<!\w)(?<!\d\.)\d{10}(?!\w|\.\d)")
# chat ids, user ids (Telegram ids are up to ~13 digits; group ids are negative), NISNs that
# lost their leading zero, WhatsApp ids without a plus, ...
_LONG_ID_RE = re.compile(r"(?<!\w)(?<!\d\.)-?\d{7,}(?!\w|\.\d)")

# Keys whose values are personal data whatever they look like (for `extra={...}` fields).
_PERSONAL_KEYS = re.compile(
    r"(?i)^(nisn|nik|phone|phone_number|no_hp|wa_id|msisdn|birth|birth_date|birthdate|dob|"
    r"tanggal_lahir|date_of_birth|income|penghasilan|nama|name|full_name|first_name|last_name|"
    r"username|address|alamat|text|body|answer|value)$"
)
_SECRET_KEYS = re.compile(r"(?i)(token|secret|password|signature|authorization)")


def _birth_like_year(year: int) -> bool:
    # Someone who has finished an SMK was born at least ~10 years ago; dates nearer than that
    # (due times, graduation dates, timestamps) are operational and stay readable.
    return 1900 <= year <= date.today().year - 10


def _date_sub(match: re.Match[str]) -> str:
    year = int(match.group("y"))
    if not _birth_like_year(year):
        return match.group(0)
    if match.groupdict().get("mname") is None:
        month, day = int(match.group("m")), int(match.group("d"))
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return match.group(0)
    return "[date]"


def _phone_sub(match: re.Match[str]) -> str:
    raw = match.group(0)
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):
        return "[phone]" if 8 <= len(digits) <= 15 else raw
    if (
        (digits.startswith("08") and 10 <= len(digits) <= 13)
        or (digits.startswith("628") and 11 <= len(digits) <= 14)
        # "812-3456-7890": a mobile number written without its leading 0
        or (digits.startswith("8") and len(digits) != len(raw) and 9 <= len(digits) <= 12)
    ):
        return "[phone]"
    return raw  # other digit runs: left to the NISN and id rules below


def redact(text: str) -> str:
    """Replace personal data and secrets in one string (see the module docstring)."""
    if not text:
        return text
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    for pattern in _DATE_RES:  # before phones, so "17-03-2005 0812..." is not one number
        text = pattern.sub(_date_sub, text)
    text = _PHONE_RE.sub(_phone_sub, text)
    text = _NISN_RE.sub("[nisn]", text)
    text = _LONG_ID_RE.sub("[id]", text)
    return text


def _redact_value(key: str | None, value: Any) -> Any:
    if key is not None and _SECRET_KEYS.search(key) and value is not None:
        return "[redacted]"
    if key is not None and _PERSONAL_KEYS.match(key) and value not in (None, ""):
        return "[redacted]"
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        cleaned = redact(str(value))
        return value if cleaned == str(value) else cleaned
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(None, v) for v in value]
    if isinstance(value, date | datetime):
        return redact(value.isoformat())
    return redact(str(value))


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None).__dict__.keys()
) | {"message", "asctime", "taskName"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


class RedactingFilter(logging.Filter):
    """Rewrites each record in place: message (with its args merged), extras, exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_jejak_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        for key, value in _extras(record).items():
            setattr(record, key, _redact_value(key, value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._jejak_redacted = True
        return True


# ---------------------------------------------------------------------------------------------
# formatters


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then any extra fields (and exc)."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC)
        payload: dict[str, Any] = {
            "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extras(record).items():
            if key.startswith("_") or key in payload:
                continue
            payload[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exc"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        return json.dumps(payload, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`2026-01-05 07:00:00,123 INFO bot.web: message key=value ...` (extras appended)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in _extras(record).items() if not k.startswith("_")}
        if not extras:
            return line
        head, sep, tail = line.partition("\n")
        pairs = " ".join(f"{k}={v}" for k, v in extras.items())
        return f"{head} {pairs}{sep}{tail}"


# ---------------------------------------------------------------------------------------------
# pseudonyms

_pseudonym_key: bytes = os.urandom(16)


def set_pseudonym_key(key: str | bytes | None) -> None:
    """Make pseudonyms stable across processes and restarts (default: random per process)."""
    global _pseudonym_key
    if key is None:
        _pseudonym_key = os.urandom(16)
    else:
        _pseudonym_key = key.encode() if isinstance(key, str) else key


def pseudonym(value: object) -> str:
    """A short keyed hash of an identifier, for correlating log lines without the identifier.

    Keyed (HMAC) because a plain hash of a 10-digit number is reversible by trying them all.
    The result starts with a letter so that no redaction rule mistakes it for a number.
    """
    digest = hmac.new(_pseudonym_key, str(value).encode(), hashlib.sha256).hexdigest()
    return "p" + digest[:8]


# ---------------------------------------------------------------------------------------------
# setup

# Loggers that print request URLs (with the bot token in the path) or a line per poll.
_NOISY = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "telegram": logging.INFO,
    "telegram.ext.Updater": logging.INFO,
    "apscheduler": logging.WARNING,
    "hpack": logging.WARNING,
    "asyncio": logging.WARNING,
    "aiosqlite": logging.WARNING,
}


def setup_logging(
    level: str = "INFO",
    fmt: str = "text",
    *,
    stream: IO[str] | None = None,
    pseudonym_key: str | bytes | None = None,
) -> logging.Handler:
    """Configure the root logger once (calling again replaces the previous Jejak handler).

    `level`: a logging level name (LOG_LEVEL). `fmt`: "text" or "json" (LOG_FORMAT).
    Returns the installed handler.
    """
    fmt = (fmt or "text").strip().lower()
    if fmt not in ("text", "json"):
        raise ValueError(f"LOG_FORMAT must be 'text' or 'json', not {fmt!r}")
    numeric = logging.getLevelName((level or "INFO").strip().upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown LOG_LEVEL {level!r} (DEBUG, INFO, WARNING, ERROR)")

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_jejak", False)]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler._jejak = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(numeric)

    for name, floor in _NOISY.items():
        # at DEBUG, httpx may speak (its URLs are redacted); httpcore stays quiet regardless
        chosen = logging.INFO if numeric <= logging.DEBUG and name == "httpx" else floor
        logging.getLogger(name).setLevel(max(chosen, numeric))
    if pseudonym_key is not None:
        set_pseudonym_key(pseudonym_key)
    logging.captureWarnings(True)
    return handler
