"""All settings, from the environment or a `.env` file (pydantic-settings).

Every setting is documented in README.md and `.env.example`; keep the three in step.
"""

from __future__ import annotations

import itertools
import re
from datetime import time
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# the bot's own route for Telegram's webhook posts (bot/web.py)
TELEGRAM_WEBHOOK_PATH = "/webhooks/telegram"
# what Telegram's setWebhook accepts (Bot API: secret_token; ports of the official server)
TELEGRAM_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
TELEGRAM_WEBHOOK_PORTS = (443, 80, 88, 8443)
OFFICIAL_BOT_API_HOST = "api.telegram.org"
# QUIET_HOURS_START / _END, DIGEST_TIME: H:MM or HH:MM, optionally :SS
TIME_OF_DAY = re.compile(r"([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d)?")


class Settings(BaseSettings):
    # hide_input_in_errors: a rejected token or secret is never printed back
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    # storage
    database_url: str = "sqlite+aiosqlite:///./data/jejak.db"

    # the default school (owns the roster)
    school_name: str = "SMK Contoh"
    school_npsn: str = "00000000"
    timezone: str = "Asia/Jakarta"
    default_language: str = "id"
    # shown in the consent text (UU PDP: purpose and retention stated)
    retention_text_id: str = "5 tahun setelah kelulusan"
    retention_text_en: str = "5 years after graduation"
    consent_version: str = "2026-1"

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_bot_username: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_concurrency: int = Field(32, ge=1)
    # the HTTP client under python-telegram-bot: aiohttp (bot/channels/telegram_http.py) or
    # PTB's own httpx one
    telegram_http: Literal["aiohttp", "httpx"] = "aiohttp"

    # WhatsApp Cloud API
    whatsapp_access_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_api_url: str = "https://graph.facebook.com/v23.0"
    whatsapp_display_number: str | None = None
    whatsapp_template_language: str = "id"
    whatsapp_template_reminder: str = "jejak_pengingat"
    whatsapp_template_vacancy: str = "jejak_lowongan"
    whatsapp_template_followup: str = "jejak_tindak_lanjut"
    whatsapp_template_digest: str = "jejak_ringkasan"

    # HTTP server (webhooks, health, metrics)
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)  # 0: any free port (tests)

    # outreach
    telegram_rate_per_second: float = Field(30.0, gt=0)
    telegram_rate_per_chat_per_second: float = Field(1.0, gt=0)
    whatsapp_rate_per_second: float = Field(80.0, gt=0)
    reminder_days: str = "3,7,14"
    reminder_max: int = Field(3, ge=0)
    followup_days: int = Field(90, ge=1)
    quiet_hours_start: time = time(20, 0)
    quiet_hours_end: time = time(7, 0)
    outbox_max_attempts: int = Field(5, ge=1)
    digest_weekday: int = 0  # Monday
    digest_time: time = time(7, 0)

    # identification
    identify_max_failures: int = Field(5, ge=1)
    identify_lock_minutes: int = Field(60, ge=1)

    # logging
    log_level: str = "INFO"
    log_format: str = "text"  # text | json

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (e.g. Asia/Jakarta)") from exc
        return value

    @field_validator("quiet_hours_start", "quiet_hours_end", "digest_time", mode="before")
    @classmethod
    def _time_of_day(cls, value: object, info: ValidationInfo) -> object:
        """HH:MM on the 24-hour clock ("20:00", "7:00"; seconds allowed): not a bare number
        (pydantic would read "8" as 8 seconds after midnight), not "20.00" or "8pm"."""
        if isinstance(value, time):
            return value
        name = (info.field_name or "").upper()
        text = value.strip() if isinstance(value, str) else None
        if text is None or not TIME_OF_DAY.fullmatch(text):
            raise ValueError(
                f"{name} must be a time of day as HH:MM on the 24-hour clock, e.g. 20:00 or "
                f"07:00; got {value!r}"
            )
        return text.zfill(len(text) + 1) if text.index(":") == 1 else text  # 7:00 -> 07:00

    @field_validator("digest_weekday")
    @classmethod
    def _weekday(cls, value: int) -> int:
        if not 0 <= value <= 6:
            raise ValueError(
                f"DIGEST_WEEKDAY must be a day number from 0 (Monday) to 6 (Sunday); got {value}"
            )
        return value

    @field_validator("whatsapp_display_number")
    @classmethod
    def _display_number(cls, value: str | None) -> str | None:
        """wa.me links need the number in international form without "+": a number written
        the local way (0812-3456-7890) is normalised (storage.roster.normalise_phone)."""
        if value is None or not value.strip():
            return None
        from storage.roster import normalise_phone  # phonenumbers, only when it is set

        value = value.strip()
        digits = re.sub(r"[\s().-]", "", value)
        if re.fullmatch(r"62\d+", digits):  # international digits without "+"
            digits = f"+{digits}"
        one = not re.search(r"[/,;]|\batau\b", value, re.IGNORECASE)
        number = normalise_phone(digits) if one else None
        if number is None:
            raise ValueError(
                f"WHATSAPP_DISPLAY_NUMBER {value!r} is not one valid phone number: write the "
                "school's WhatsApp number, e.g. 6281234567890 or 0812-3456-7890"
            )
        return number

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        """What Telegram can post to and the bot answers at: https (plain http only through a
        local Bot API server), an official webhook port, a path ending in /webhooks/telegram."""
        if value is None or not value.strip():
            return None  # long polling
        value = value.strip()
        example = f"e.g. https://bot.smkcontoh.sch.id{TELEGRAM_WEBHOOK_PATH}"
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            raise ValueError(
                f"TELEGRAM_WEBHOOK_URL {value!r} is not a valid URL; {example}"
            ) from None
        api_host = urlsplit(str(info.data.get("telegram_api_url") or "")).hostname
        official = api_host == OFFICIAL_BOT_API_HOST
        allowed = ("https",) if official else ("https", "http")
        if parts.scheme not in allowed or not parts.hostname:
            raise ValueError(
                f"TELEGRAM_WEBHOOK_URL must be a public https:// address (Telegram posts updates "
                f"only over HTTPS), not {value!r}; {example}"
            )
        if official and port is not None and port not in TELEGRAM_WEBHOOK_PORTS:
            ports = ", ".join(str(p) for p in TELEGRAM_WEBHOOK_PORTS)
            raise ValueError(
                f"TELEGRAM_WEBHOOK_URL: Telegram posts only to ports {ports}, not {port}"
            )
        if not parts.path.endswith(TELEGRAM_WEBHOOK_PATH):
            raise ValueError(
                f"TELEGRAM_WEBHOOK_URL must end in {TELEGRAM_WEBHOOK_PATH}, the path the bot "
                f"answers Telegram at (got path {parts.path or '/'!r}); {example}"
            )
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not TELEGRAM_SECRET_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError(
                "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters, each A-Z, a-z, 0-9, _ or - "
                "(Telegram refuses any other); generate one with "
                'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
        return value

    @field_validator("reminder_days")
    @classmethod
    def _reminder_days(cls, value: str) -> str:
        """Whole days after the last message, each later than the one before: "3,7,14" or
        "3, 7, 14". Checked here, at start-up: a value the planner cannot read would otherwise
        stop every reminder at each planning pass."""
        if not value.strip():
            return "3,7,14"
        return ",".join(str(d) for d in parse_reminder_days(value))

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in ("id", "en"):
            raise ValueError("DEFAULT_LANGUAGE must be 'id' or 'en'")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def reminder_schedule(self) -> list[int]:
        return parse_reminder_days(self.reminder_days)

    def token(self, name: str) -> str | None:
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None


def parse_reminder_days(value: str) -> list[int]:
    """ "3,7,14" / "3, 7, 14" -> [3, 7, 14]; anything else (a word, another separator, zero,
    a day not after the previous one) raises ValueError naming REMINDER_DAYS."""
    example = "e.g. 3,7,14 (a reminder 3, 7 and 14 days after the person's last message)"
    parts = [p.strip() for p in value.split(",")]
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError(
            f"REMINDER_DAYS must be whole numbers of days separated by commas, {example}; "
            f"got {value!r}"
        )
    days = [int(p) for p in parts]
    if days[0] < 1 or any(b <= a for a, b in itertools.pairwise(days)):
        raise ValueError(
            f"REMINDER_DAYS must be at least 1 and each day later than the one before, "
            f"{example}; got {value!r}"
        )
    return days


Settings.model_fields["reminder_days"].description = "comma-separated days, e.g. 3,7,14"


@lru_cache
def get_settings() -> Settings:
    return Settings()


__all__ = ["Field", "Settings", "get_settings"]
