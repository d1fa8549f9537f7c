"""`jejak run`: serve the configured channels until stopped."""

from __future__ import annotations

from bot.cli import app
from bot.cli.common import load_settings


@app.command("run")
def run_cmd() -> None:
    """Run the bot: Telegram (polling, or webhook), WhatsApp webhooks, outreach scheduler."""
    from bot.logs import setup_logging
    from bot.runner import run_forever

    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    run_forever(settings)
