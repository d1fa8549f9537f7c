"""Outreach benchmark: plan a vacancy to N matching job-seekers, then dispatch it against the
fake Bot API at the configured rate, and once more at a high rate to find the ceiling.

    .venv/bin/python -m bench.outreach_bench                       # SQLite, 100,000 people
    .venv/bin/python -m bench.outreach_bench --people 20000 --seconds 10
    .venv/bin/python -m bench.outreach_bench --database-url postgresql://postgres@127.0.0.1/bench

Reports: planning time, Python peak memory during planning (tracemalloc) and the process's
max RSS, achieved send rate / configured rate (the fake server enforces Telegram's 30/s and
1/s per chat and counts any 429), and the ceiling with a high configured rate and no limits.
"""

from __future__ import annotations

import argparse
import asyncio
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


async def dispatch_for(core, api: FakeBotApi, seconds: float) -> tuple[int, float]:
    telegram = make_telegram(core)
    await telegram.application.initialize()
    stop = asyncio.Event()
    dispatcher = build_dispatcher(core, {"telegram": telegram}, concurrency=32)
    api.clear()
    task = asyncio.create_task(dispatcher.dispatch_due(stop=stop))
    await asyncio.sleep(seconds)
    stop.set()
    await task
    await telegram.application.shutdown()
    msgs = api.messages()
    if len(msgs) < 2:
        return len(msgs), 0.0
    span = msgs[-1].time - msgs[0].time
    return len(msgs), (len(msgs) - 1) / span


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--ceiling-rate", type=float, default=2000.0)
    parser.add_argument("--ceiling-seconds", type=float, default=10.0)
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="jejak-outreach-bench-")
    url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
    if args.database_url:
        from tests.conftest import _reset_postgres

        await _reset_postgres(url)
    with FakeBotApi(enforce_limits=True, global_per_second=30, per_chat_per_second=1) as api:
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


if __name__ == "__main__":
    asyncio.run(main())
