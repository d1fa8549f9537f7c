"""Outreach benchmark: plan a vacancy to N matching job-seekers, then dispatch it against the
fake Bot API at the configured rate, and once more at a high rate to find the ceiling.

    .venv/bin/python -m bench.outreach_bench                       # SQLite, 100,000 people
    .venv/bin/python -m bench.outreach_bench --people 20000 --seconds 10
    .venv/bin/python -m bench.outreach_bench --database-url postgresql://postgres@127.0.0.1/bench

Reports: planning time, Python peak memory during planning (tracemalloc) and the process's
max RSS, achieved send rate / configured rate (the fake server enforces Telegram's 30/s and
1/s per chat and counts any 429), and the ceiling with a high configured rate and no limits.

The fake Bot API runs in a process of its own (like Telegram, it does not share our CPU or
GIL); `--fake-in-process` runs it in a thread of the benchmark's process instead (how the first
numbers were taken). Arrival times are the fake's CLOCK_MONOTONIC stamps, comparable across
processes on Linux.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import resource
import tempfile
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text

from bot.app import build_core
from bot.outreach.dispatcher import build_dispatcher
from bot.outreach.planner import publish_vacancy
from bot.runner import make_telegram
from storage import vacancies
from storage.models import Alumnus, Contact, OutboxMessage, Response, utcnow
from tests.fakes.telegram_api import FakeBotApi
from tests.harness import make_settings

CHUNK = 5000


def _serve_fake(conn, kwargs: dict) -> None:
    """The child process: run a FakeBotApi and answer commands from the benchmark."""
    with FakeBotApi(**kwargs) as api:
        conn.send((api.url, api.token))
        while True:
            command, args = conn.recv()
            if command == "stop":
                conn.send(None)
                return
            if command == "times":
                conn.send([c.time for c in api.messages()])
            elif command == "times_429":
                conn.send([c.time for c in api.calls() if c.status == 429])
            elif command == "stats":
                conn.send(dict(api.stats()))
            elif command == "clear":
                conn.send(api.clear())
            elif command == "set_limits":
                conn.send(api.set_limits(**args))


class FakeInProcess:
    """The fake Bot API in a thread of this process (the first benchmark's setup)."""

    def __init__(self, **kwargs) -> None:
        self.api = FakeBotApi(**kwargs).start()
        self.url, self.token = self.api.url, self.api.token

    def times(self) -> list[float]:
        return [c.time for c in self.api.messages()]

    def times_429(self) -> list[float]:
        return [c.time for c in self.api.calls() if c.status == 429]

    def stats(self) -> dict:
        return dict(self.api.stats())

    def clear(self) -> None:
        self.api.clear()

    def set_limits(self, **kw) -> None:
        self.api.set_limits(**kw)

    def stop(self) -> None:
        self.api.stop()


class FakeProcess:
    """The fake Bot API in a child process; the same small interface as FakeInProcess."""

    def __init__(self, **kwargs) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_fake, args=(child, kwargs), daemon=True)
        self._proc.start()
        self.url, self.token = self._conn.recv()

    def _call(self, command: str, **args):
        self._conn.send((command, args))
        return self._conn.recv()

    def times(self) -> list[float]:
        return self._call("times")

    def times_429(self) -> list[float]:
        return self._call("times_429")

    def stats(self) -> dict:
        return self._call("stats")

    def clear(self) -> None:
        self._call("clear")

    def set_limits(self, **kw) -> None:
        self._call("set_limits", **kw)

    def stop(self) -> None:
        self._call("stop")
        self._proc.join(10)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def generate(core, n: int) -> float:
    started = time.perf_counter()
    now = utcnow()
    first = 1_000_000
    for lo in range(0, n, CHUNK):
        ids = range(first + lo, first + min(n, lo + CHUNK))
        async with core.db.session() as s:
            await s.execute(
                insert(Alumnus),
                [
                    dict(
                        id=i,
                        school_id=core.school.id,
                        nisn=f"{i:010d}",
                        name=f"Pencari {i}",
                        birth_date=date(2007, 1, 1),
                        kelas=f"XII TKJ {i % 4 + 1}",
                        jurusan=("TKJ", "RPL")[i % 2],
                        graduation_year=2025,
                        consent_vacancies=True,
                    )
                    for i in ids
                ],
            )
            await s.execute(
                insert(Contact),
                [
                    dict(
                        channel="telegram",
                        address=str(i),
                        alumnus_id=i,
                        language="id",
                        state={"stage": "done"},
                        last_inbound_at=now - timedelta(days=2),
                    )
                    for i in ids
                ],
            )
            await s.execute(
                insert(Response),
                [
                    dict(
                        alumnus_id=i,
                        channel="telegram",
                        source="chat",
                        status="mencari_kerja",
                        started_at=now - timedelta(days=2),
                        completed_at=now - timedelta(days=2),
                    )
                    for i in ids
                ],
            )
            await s.commit()
    if core.db.is_postgres:
        async with core.db.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


class TimedSender:
    """The real channel, noting when each request starts (our side of the pace)."""

    def __init__(self, channel) -> None:
        self.channel = channel
        self.starts: list[float] = []

    async def send(self, address, reply, *, template=None):
        self.starts.append(time.monotonic())
        return await self.channel.send(address, reply, template=template)


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most events in any `window` seconds (a sliding window, like the fake's limit)."""
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def dispatch_for(core, api, seconds: float) -> tuple[int, float]:
    telegram = make_telegram(core)
    await telegram.application.initialize()
    stop = asyncio.Event()
    sender = TimedSender(telegram)
    dispatcher = build_dispatcher(core, {"telegram": sender}, concurrency=32)
    api.clear()
    task = asyncio.create_task(dispatcher.dispatch_due(stop=stop))
    await asyncio.sleep(seconds)
    stop.set()
    await task
    await telegram.application.shutdown()
    times = sorted(api.times())
    over = api.times_429()
    print(
        f"  most requests started in any 1 s (ours): {max_in_window(sorted(sender.starts))}; "
        f"most arrivals in any 1 s (server): {max_in_window(times)}; "
        f"429s at {[round(t - times[0], 2) for t in over] if times else over}"
    )
    if len(times) < 2:
        return len(times), 0.0
    return len(times), (len(times) - 1) / (times[-1] - times[0])


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--ceiling-rate", type=float, default=2000.0)
    parser.add_argument("--ceiling-seconds", type=float, default=10.0)
    parser.add_argument(
        "--fake-in-process",
        action="store_true",
        help="run the fake Bot API in a thread of this process instead of its own process",
    )
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="jejak-outreach-bench-")
    url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
    if args.database_url:
        from tests.conftest import _reset_postgres

        await _reset_postgres(url)
    fake = FakeInProcess if args.fake_in_process else FakeProcess
    api = fake(enforce_limits=True, global_per_second=30, per_chat_per_second=1)
    try:
        settings = make_settings(
            url,
            telegram_bot_token=api.token,
            telegram_api_url=api.url,
            telegram_rate_per_second=args.rate,
            quiet_hours_start="00:00",
            quiet_hours_end="00:00",
        )
        core = await build_core(settings)
        gen = await generate(core, args.people)
        print(
            f"database: {core.db.engine.dialect.name}; generated {args.people} job-seekers "
            f"in {gen:.1f} s"
        )
        async with core.db.session() as s:
            v = await vacancies.create_vacancy(
                s,
                core.school.id,
                company="PT Bench",
                position="Operator",
                majors=["TKJ", "RPL"],
                location="Bekasi",
                deadline=date.today() + timedelta(days=30),
            )
            await s.commit()
        rss_before = rss_mb()
        tracemalloc.start()
        started = time.perf_counter()
        added = await publish_vacancy(
            core.db,
            v.id,
            school_id=core.school.id,
            school_name=core.school.name,
            cat=core.flow.catalogue,
            settings=core.settings,
            zone=core.settings.zone,
            now=utcnow(),
        )
        plan_s = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        started = time.perf_counter()
        again = await publish_vacancy(
            core.db,
            v.id,
            school_id=core.school.id,
            school_name=core.school.name,
            cat=core.flow.catalogue,
            settings=core.settings,
            zone=core.settings.zone,
            now=utcnow(),
        )
        replan_s = time.perf_counter() - started
        print(
            f"planning: {added} outbox rows in {plan_s:.2f} s; Python peak allocation "
            f"{peak / 1e6:.1f} MB; max RSS {rss_before:.0f} -> {rss_mb():.0f} MB; "
            f"publishing again: {again} rows in {replan_s:.2f} s"
        )

        sent, rate = await dispatch_for(core, api, args.seconds)
        stats = api.stats()
        print(
            f"dispatch at {args.rate:.0f}/s configured for {args.seconds:.0f} s: {sent} sent, "
            f"{rate:.2f}/s achieved = {rate / args.rate:.1%} of configured; "
            f"429s: {stats.get('429', 0)}"
        )

        api.set_limits(enabled=False)
        core.settings.telegram_rate_per_second = args.ceiling_rate
        sent, rate = await dispatch_for(core, api, args.ceiling_seconds)
        print(
            f"ceiling: configured {args.ceiling_rate:.0f}/s, no server limits, "
            f"{args.ceiling_seconds:.0f} s: {sent} sent, {rate:.1f}/s achieved"
        )
        async with core.db.session() as s:
            left = (
                await s.execute(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status == "pending")
                )
            ).scalar_one()
        print(f"left pending: {left}")
        await core.close()
    finally:
        api.stop()


if __name__ == "__main__":
    asyncio.run(main())
