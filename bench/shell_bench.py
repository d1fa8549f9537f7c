"""CPU cost of the conversation shell alone: engine, chat hooks and database, no Telegram.

N people answer the whole questionnaire by calling `ConversationService.handle` directly (the
same scripts as bench/inbound_bench.py), at most `--concurrency` messages in flight, so the
group-commit batches are at most that big (1 = one message per transaction).

    .venv/bin/python bench/shell_bench.py --people 300 --concurrency 1
    .venv/bin/python bench/shell_bench.py --people 300 --concurrency 32 --db postgresql

Prints updates/s, this process's CPU time per update (user + system, all threads) and the
batches formed. PostgreSQL: the database `jejak_bench` is dropped and recreated.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inbound_bench import (  # noqa: E402
    BRANCH_NAMES,
    BRANCHES,
    ONBOARDING,
    THANKS,
    bench_settings,
    prepare_database,
)

from bot.app import build_core  # noqa: E402
from bot.staff import install as install_staff_router  # noqa: E402
from bot.vacancy_hooks import install as install_vacancy_hooks  # noqa: E402
from conversations.types import Inbound, InputKind, Reply  # noqa: E402


def inbound(address: str, n: int, kind: str, value: str, last: list[Reply]) -> Inbound:
    base = {"channel": "telegram", "address": address, "external_id": f"{address}:{n}"}
    if kind == "start":
        return Inbound(kind=InputKind.START, text=f"/start {value}", value=value, **base)
    if kind == "tap":  # the button of the last question whose label (maybe numbered) matches
        reply = [r for r in last if r.options][-1]
        for number, option in enumerate(reply.options, start=1):
            if value in (option.label, f"{number}. {option.label}"):
                return Inbound(
                    kind=InputKind.CHOICE, question=reply.question, value=option.code, **base
                )
        raise AssertionError(f"no button {value!r}")
    return Inbound(kind=InputKind.TEXT, text=value, **base)


async def person(service, i: int, code: str, gate: asyncio.Semaphore) -> int:
    address = str(1000 + i)
    steps = [("start", code), *ONBOARDING, *BRANCHES[BRANCH_NAMES[i % len(BRANCH_NAMES)]]]
    last: list[Reply] = []
    for n, (kind, value) in enumerate(steps):
        async with gate:
            outcome = await service.handle(inbound(address, n, kind, value, last))
        last = outcome.replies
    assert any(THANKS in r.text for r in last), [r.text for r in last]
    return len(steps)


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="jejak-shell-bench-"))
    if args.db == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir}/bench.db"
    else:
        url = "postgresql+asyncpg://postgres@127.0.0.1:5432/jejak_bench"
    codes = await prepare_database(url, args.people, workdir)
    core = await build_core(bench_settings(url), apply_migrations=False)
    install_staff_router(core)  # as `jejak run`: every message passes the chat hooks
    install_vacancy_hooks(core)
    gate = asyncio.Semaphore(args.concurrency)
    started, cpu0 = time.perf_counter(), time.process_time()
    counts = await asyncio.gather(
        *(person(core.service, i, codes[i], gate) for i in range(args.people))
    )
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    updates = sum(counts)
    stats = core.service.group_stats
    print(
        f"{args.db}, {args.concurrency} in flight: {updates} updates in {wall:.2f} s, "
        f"{updates / wall:.0f} updates/s, {1000 * cpu / updates:.2f} ms CPU/update; "
        f"{stats.batches} batches, mean {stats.items / max(1, stats.batches):.1f}, "
        f"largest {stats.largest}"
    )
    await core.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    asyncio.run(main(parser.parse_args()))
