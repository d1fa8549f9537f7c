"""One Jejak worker process for the benchmarks: the real Telegram channel (long polling, or
webhook mode on 127.0.0.1:BENCH_WEBHOOK_PORT with TELEGRAM_WEBHOOK_URL/_SECRET set, served by
Jejak's own HTTP app) and the real conversation shell on the database at DATABASE_URL, against
TELEGRAM_API_URL.

    DATABASE_URL=sqlite+aiosqlite:///tmp/b.db TELEGRAM_BOT_TOKEN=123456:TEST-TOKEN \
    TELEGRAM_API_URL=http://127.0.0.1:PORT python bench/jejak_worker.py

Settings come from the environment only (no .env file is read). The database must already be
migrated and seeded (bench/inbound_bench.py does that). Prints READY once polling, stops on
SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path

# JEJAK_ROOT: run another checkout's code (before/after comparisons); default: this one
sys.path.insert(0, os.environ.get("JEJAK_ROOT") or str(Path(__file__).resolve().parent.parent))

from bot.app import build_core  # noqa: E402
from bot.runner import make_telegram  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.staff import install as install_staff_router  # noqa: E402
from bot.vacancy_hooks import install as install_vacancy_hooks  # noqa: E402


def _timed(stats: dict[str, list[float]], name: str, fn):
    async def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            stats.setdefault(name, []).append(time.perf_counter() - started)

    return wrapper


def _timed_cm(stats: dict[str, list[float]], name: str, cm):
    @contextlib.asynccontextmanager
    async def wrapper():
        started = time.perf_counter()
        async with cm():
            stats.setdefault(name, []).append(time.perf_counter() - started)
            yield

    return wrapper


def _report(stats: dict[str, list[float]]) -> None:
    for name, values in stats.items():
        values.sort()
        n = len(values)
        print(
            f"TIMING {name}: n={n} mean={1000 * sum(values) / n:.2f}ms "
            f"p50={1000 * values[n // 2]:.2f}ms p99={1000 * values[int(n * 0.99)]:.2f}ms",
            file=sys.stderr,
        )


async def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    settings = Settings(_env_file=None)
    if os.environ.get("BENCH_SWITCH_INTERVAL"):
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    core = await build_core(settings, apply_migrations=False)
    telegram = make_telegram(core)
    if telegram is None:
        raise SystemExit("TELEGRAM_BOT_TOKEN is not set")
    install_staff_router(core)  # as `jejak run` does: every message passes these hooks
    install_vacancy_hooks(core)
    stats: dict[str, list[float]] = {}
    if os.environ.get("BENCH_TIMING"):  # where a handler's time goes (printed to stderr)
        core.service.handle = _timed(stats, "service.handle", core.service.handle)
        core.service.db.writer = _timed_cm(stats, "db.writer wait", core.service.db.writer)
        telegram._send = _timed(stats, "send reply", telegram._send)
        for handler in telegram.application.handlers[0]:
            handler.callback = _timed(stats, "whole update", handler.callback)
    web = None
    try:
        if os.environ.get("BENCH_WEBHOOK_PORT"):  # webhook mode, as `jejak run` serves it
            from bot.web import WebDeps, WebServer, create_app

            secret = settings.token("telegram_webhook_secret")
            deps = WebDeps(db=core.db, telegram=telegram, telegram_secret=secret)
            web = WebServer(create_app(deps), "127.0.0.1", int(os.environ["BENCH_WEBHOOK_PORT"]))
            await web.start()
            await telegram.start_webhook(settings.telegram_webhook_url, secret)
        else:
            await telegram.start_polling()
        print("READY", flush=True)
        await stop.wait()
    finally:
        await telegram.stop()
        if web is not None:
            await web.stop()
        await core.close()
        _report(stats)


if __name__ == "__main__":
    asyncio.run(main())
