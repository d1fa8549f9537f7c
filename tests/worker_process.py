"""One `jejak run` worker for the scale-out tests: `bot.runner.start` (exactly what `jejak run`
starts: HTTP server, channels, outreach scheduler) with settings from the environment only.

    DATABASE_URL=postgresql://... TELEGRAM_BOT_TOKEN=... HTTP_PORT=0 python -m tests.worker_process

Prints `READY <http port>` once serving; stops cleanly on SIGTERM/SIGINT; exits 3 with the
message on stderr when `start` refuses (e.g. a second process on one SQLite database).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from bot.runner import start
from bot.settings import Settings


async def main() -> int:
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    settings = Settings(_env_file=None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        running = await start(settings)
    except SystemExit as exc:
        print(str(exc.code), file=sys.stderr, flush=True)
        return 3
    try:
        print(f"READY {running.web.port}", flush=True)
        await stop.wait()
    finally:
        await running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
