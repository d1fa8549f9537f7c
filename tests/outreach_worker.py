"""A dispatcher-only worker process for the SIGKILL test (tests/test_outreach_e2e.py).

    python -m tests.outreach_worker DATABASE_URL TELEGRAM_API_URL TOKEN RATE LEASE_SECONDS

Builds the real Core and Telegram channel and runs `Dispatcher.run_forever` until killed
(or SIGTERM). Prints "ready" once it is dispatching.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta

from bot.app import build_core
from bot.outreach.dispatcher import build_dispatcher
from bot.runner import make_telegram
from tests.harness import make_settings


async def main(db_url: str, api_url: str, token: str, rate: float, lease: float) -> None:
    settings = make_settings(
        db_url,
        telegram_bot_token=token,
        telegram_api_url=api_url,
        telegram_rate_per_second=rate,
        quiet_hours_start="00:00",
        quiet_hours_end="00:00",
    )
    core = await build_core(settings, apply_migrations=False)
    telegram = make_telegram(core)
    await telegram.application.initialize()
    dispatcher = build_dispatcher(
        core,
        {"telegram": telegram},
        claim_lease=timedelta(seconds=lease),
        sending_lease=timedelta(seconds=lease),
        page_size=10,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    try:
        await dispatcher.run_forever(stop, idle=0.2)
    finally:
        await telegram.application.shutdown()
        await core.close()


if __name__ == "__main__":
    url, api, tok, rate, lease = sys.argv[1:6]
    asyncio.run(main(url, api, tok, float(rate), float(lease)))
