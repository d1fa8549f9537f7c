"""bot/logs.py: redaction of personal data and secrets, JSON lines, quiet noisy loggers."""

from __future__ import annotations

import io
import json
import logging
from datetime import date

import httpx
import pytest

from bot.logs import _NOISY, pseudonym, redact, set_pseudonym_key, setup_logging

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def restore_logging():
    """Put the root logger (and the loggers setup_logging touches) back as they were."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    names = [*_NOISY, "jejak.test"]
    levels = {n: logging.getLogger(n).level for n in names}
    yield
    for handler in list(root.handlers):
        if handler not in saved[0]:
            root.removeHandler(handler)
    root.setLevel(saved[1])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(False)


def capture(fmt: str, level: str = "INFO") -> io.StringIO:
    buf = io.StringIO()
    setup_logging(level, fmt, stream=buf)
    return buf


def json_lines(buf: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("text", "secret", "marker"),
    [
        ("identify failed for NISN 0012345678", "0012345678", "[nisn]"),
        ("roster row has NISN 9912345678.", "9912345678", "[nisn]"),
        ("phone 081234567890 matched", "081234567890", "[phone]"),
        ("phone 0812-3456-7890 matched", "0812-3456-7890", "[phone]"),
        ("wa_id 6281234567890 wrote", "6281234567890", "[phone]"),
        ("contact +62 812 3456 7890 shared", "+62 812 3456 7890", "[phone]"),
        ("contact +628123456789 shared", "+628123456789", "[phone]"),
        ("foreign +44 20 7946 0958 wrote", "+44 20 7946 0958", "[phone]"),
        ("born 2005-03-17 per roster", "2005-03-17", "[date]"),
        ("typed 17/03/2005 as birth date", "17/03/2005", "[date]"),
        ("typed 17-03-2005 as birth date", "17-03-2005", "[date]"),
        ("typed 7-3-2005 as birth date", "7-3-2005", "[date]"),
        ("typed 17 Maret 2005", "17 Maret 2005", "[date]"),
        ("DETAIL:  Failing row contains (7, 1, Budi (Ari) Santoso, null).", "Budi", "([row])"),
        ("DETAIL:  Key (school_id, name)=(1, Siti (Ani)) already exists.", "Siti", "([value])"),
        ("DETAIL:  Key (email)=(siti@contoh.id) is not present in table", "siti@", "([value])"),
        ("telegram user 5123456789 started", "5123456789", "[nisn]"),
        ("telegram chat 123456789 blocked us", "123456789", "[id]"),
        ("group -1001234567890 ignored", "1001234567890", "[id]"),
        ("NISN without its zero 12345678 rejected", "12345678", "[id]"),
    ],
)
def test_each_pattern_is_redacted(text, secret, marker):
    out = redact(text)
    assert secret not in out
    assert marker in out
    # the words around it survive
    assert out.split()[0] == text.split()[0]


@pytest.mark.parametrize(
    "text",
    [
        "sent 3 messages in 0.25 s, 12 pending, port 8080, status 200",
        "next reminder due 2026-12-01T07:00:00+00:00 (quiet hours 20:00-07:00)",
        "consent version 2026-1, schema at revision 0001, attempt 4/5",
        "outbox row 42 claimed by worker 2, retry_after=3.5",
        "Application started; webhook https://bot.example.sch.id/webhooks/telegram",
        "graduation year 2024, class XII TKJ 1, major RPL",
    ],
)
def test_non_personal_text_is_untouched(text):
    assert redact(text) == text


def test_birth_like_dates_only():
    # dates less than ten years ago are operational (due times, timestamps), not birth dates
    recent = date.today().replace(day=1).isoformat()
    assert redact(f"due {recent}") == f"due {recent}"
    assert redact("born 1999-12-31") == "born [date]"
    assert redact("impossible 2005-13-45") == "impossible 2005-13-45"


def test_token_in_httpx_style_url_is_masked():
    line = f'HTTP Request: POST https://api.telegram.org/bot{TOKEN}/getUpdates "HTTP/1.1 200 OK"'
    out = redact(line)
    assert TOKEN not in out and "AAHdqTcv" not in out
    assert "https://api.telegram.org/bot[token]/getUpdates" in out
    assert (
        redact(f"file at /file/bot{TOKEN}/photos/x.jpg") == "file at /file/bot[token]/photos/x.jpg"
    )
    assert "AAHdqTcv" not in redact(f"token is {TOKEN}")


def test_secrets_in_queries_and_headers_are_masked():
    out = redact(
        "GET /webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=s3cr3t-v&hub.challenge=abc"
    )
    assert "s3cr3t-v" not in out and "hub.verify_token=[redacted]" in out
    assert "hub.mode=subscribe" in out
    out = redact("Authorization: Bearer EAAGm0PX4ZCpsBAKZAyQwerty12345 sent")
    assert "EAAGm0PX4" not in out and out.endswith("Bearer [token] sent")
    assert "deadbeef" not in redact("X-Hub-Signature-256: sha256=deadbeefdeadbeef0123456789")


def test_json_lines_parse_and_carry_extras(restore_logging):
    buf = capture("json")
    log = logging.getLogger("jejak.test")
    log.info("answer stored for %s", pseudonym(5123456789), extra={"field": "employer", "n": 3})
    log.warning("plain")
    records = json_lines(buf)
    assert len(records) == 2
    first = records[0]
    assert {"ts", "level", "logger", "msg"} <= first.keys()
    assert first["level"] == "INFO" and first["logger"] == "jejak.test"
    assert first["msg"].startswith("answer stored for p") and "5123456789" not in first["msg"]
    assert first["field"] == "employer" and first["n"] == 3
    assert first["ts"].endswith("Z") and first["ts"][:2] == "20"
    assert records[1]["level"] == "WARNING" and records[1]["msg"] == "plain"


def test_filter_redacts_message_args_and_extras(restore_logging):
    buf = capture("json")
    log = logging.getLogger("jejak.test")
    log.info(
        "identify %s born %s from %s",
        "0012345678",
        "2005-03-17",
        6281234567890,
        extra={
            "chat_id": 5123456789,
            "phone": "whatever",
            "note": "call 0812-3456-7890",
            "bot_token": TOKEN,
            "ids": [123456789, "ok"],
            "count": 12,
        },
    )
    (rec,) = json_lines(buf)
    raw = buf.getvalue()
    for secret in ("0012345678", "2005-03-17", "6281234567890", "5123456789", "3456-7890"):
        assert secret not in raw
    assert rec["msg"] == "identify [nisn] born [date] from [phone]"
    assert rec["chat_id"] == "[nisn]"
    assert rec["phone"] == "[redacted]"
    assert rec["note"] == "call [phone]"
    assert rec["bot_token"] == "[redacted]"
    assert rec["ids"] == ["[id]", "ok"]
    assert rec["count"] == 12


def test_exception_text_is_redacted(restore_logging):
    buf = capture("json")
    try:
        raise ValueError("no roster row for NISN 0012345678")
    except ValueError:
        logging.getLogger("jejak.test").exception("import failed")
    (rec,) = json_lines(buf)
    assert "ValueError: no roster row for NISN [nisn]" in rec["exc"]
    assert "0012345678" not in buf.getvalue()


def test_text_format_redacts_and_appends_extras(restore_logging):
    buf = capture("text")
    logging.getLogger("jejak.test").info("hello %s", "0012345678", extra={"channel": "telegram"})
    line = buf.getvalue().strip()
    assert line.endswith("INFO jejak.test: hello [nisn] channel=telegram")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_real_httpx_request_logging_never_leaks_the_token(restore_logging):
    """httpx logs each request URL at INFO; the bot token is in the path."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"ok": True})

    url = f"https://api.telegram.org/bot{TOKEN}/getMe"
    for level in ("INFO", "DEBUG"):
        buf = capture("text", level)
        with httpx.Client(transport=httpx.MockTransport(handler)) as client:
            client.get(url)
        assert "AAHdqTcv" not in buf.getvalue()
    # at DEBUG httpx does speak, and then the URL shows with the token masked
    assert "bot[token]/getMe" in buf.getvalue()
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.INFO


def test_noisy_loggers_are_quieted_at_info(restore_logging):
    capture("json", "INFO")
    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("httpcore").level == logging.WARNING
    assert logging.getLogger("apscheduler").level == logging.WARNING


def test_setup_is_idempotent_and_validates(restore_logging):
    root = logging.getLogger()
    before = len(root.handlers)
    capture("json")
    capture("text")
    assert len(root.handlers) == before + 1
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        setup_logging("INFO", "xml")
    with pytest.raises(ValueError, match="LOG_LEVEL"):
        setup_logging("LOUD", "text")


def test_pseudonym_is_stable_keyed_and_survives_redaction():
    set_pseudonym_key("k1")
    a = pseudonym(5123456789)
    assert a == pseudonym("5123456789") and a != pseudonym(5123456780)
    assert a.startswith("p") and len(a) == 9
    assert redact(f"user {a}") == f"user {a}"
    set_pseudonym_key("k2")
    assert pseudonym(5123456789) != a
    set_pseudonym_key(None)


@pytest.mark.postgres
async def test_a_logged_database_error_carries_no_statement_values(restore_logging, db):
    """A failing INSERT logged with its traceback: SQLAlchemy would append the parameters (a
    name, a birth date), which no redaction pattern can recognise as personal."""
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from storage.models import Alumnus

    buf = capture("json")
    row = {
        "school_id": 999_999,  # no such school: the foreign key (or NOT NULL) fails
        "nisn": "0012345678",
        "name": "Budi Santoso Wiryawan",
        "birth_date": date(2005, 3, 17),
        "kelas": None,
        "jurusan": "TKJ",
        "graduation_year": 2024,
    }
    async with db.session() as session:
        with pytest.raises(IntegrityError):
            try:
                await session.execute(insert(Alumnus), [row])
            except IntegrityError:
                logging.getLogger("jejak.test").exception("roster write failed")
                raise
    (rec,) = json_lines(buf)
    assert "IntegrityError" in rec["exc"] and "hidden" in rec["exc"]
    for value in ("Budi Santoso", "2005", "0012345678", "TKJ"):
        assert value not in buf.getvalue(), value
