"""Send pacing: a global schedule per channel, and a per-chat pacer.

Both are *schedules*, not bursty buckets: message k of a channel may leave at
`start + k / rate`, so the platform never sees more than `rate` messages in any window. We pace at
`HEADROOM` (96%) of the configured rate, which keeps network jitter from tipping a 1-second
sliding window over the platform's limit and still clears the 95% target.

- `LocalRateLimiter`: in-process (SQLite deployments are one process).
- `SharedRateLimiter`: PostgreSQL. The schedule cursor of each channel is one row of
  `rate_slot` (`next_at`, epoch seconds on the database's clock). A process reserves a block of
  slots with one atomic `UPDATE ... SET next_at = GREATEST(next_at, now) + k / rate RETURNING`,
  then spends them locally. N processes therefore share one schedule: the global rate is not
  multiplied by the number of processes. Unused slots of a block are simply lost (a little
  lower throughput, never a higher rate). Blocks are small (about 0.1 s worth of messages).
- `ChatPacer`: at most `per_chat` messages per second to one chat (Telegram: 1/s), in process.
  Rows of one chat are rare in a broadcast (one per person); two processes could each send one
  message to the same chat within a second only when both hold a row for that chat at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from sqlalchemy import text

from storage.db import Database

HEADROOM = 0.96


class LocalRateLimiter:
    def __init__(
        self, rates: dict[str, float], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rates = {c: r * HEADROOM for c, r in rates.items() if r and r > 0}
        self.clock = clock
        self._next: dict[str, float] = {}
        self._lock = asyncio.Lock()

    def interval(self, channel: str) -> float:
        rate = self.rates.get(channel)
        return 1.0 / rate if rate else 0.0

    async def acquire(self, channel: str) -> None:
        """Wait for this channel's next send slot."""
        step = self.interval(channel)
        if step == 0.0:
            return
        async with self._lock:
            now = self.clock()
            slot = max(self._next.get(channel, now), now)
            self._next[channel] = slot + step
        delay = slot - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)

    async def pause(self, channel: str, seconds: float) -> None:
        """The platform said "too many requests": no slot before now + seconds."""
        async with self._lock:
            resume = self.clock() + seconds
            self._next[channel] = max(self._next.get(channel, 0.0), resume)


class SharedRateLimiter:
    """The global schedule in PostgreSQL (`rate_slot`), shared by every process."""

    def __init__(self, db: Database, rates: dict[str, float], *, block_seconds: float = 0.1):
        self.db = db
        self.rates = {c: r * HEADROOM for c, r in rates.items() if r and r > 0}
        self.block_seconds = block_seconds
        # channel -> (list of local monotonic times still reserved)
        self._slots: dict[str, list[float]] = {}
        self._lock = asyncio.Lock()

    def interval(self, channel: str) -> float:
        rate = self.rates.get(channel)
        return 1.0 / rate if rate else 0.0

    async def _reserve(self, channel: str, count: int, delay_floor: float = 0.0) -> list[float]:
        step = self.interval(channel)
        async with self.db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO rate_slot (channel, next_at) VALUES (:c, 0) "
                    "ON CONFLICT (channel) DO NOTHING"
                ),
                {"c": channel},
            )
            row = (
                await conn.execute(
                    text(
                        "UPDATE rate_slot SET next_at = GREATEST(next_at, "
                        "extract(epoch from clock_timestamp()) + :floor) + :span "
                        "WHERE channel = :c "
                        "RETURNING next_at, extract(epoch from clock_timestamp())"
                    ),
                    {"c": channel, "span": step * count, "floor": delay_floor},
                )
            ).one()
        next_at, db_now = float(row[0]), float(row[1])
        start = next_at - step * count
        local_now = time.monotonic()
        return [local_now + (start - db_now) + i * step for i in range(count)]

    async def acquire(self, channel: str) -> None:
        step = self.interval(channel)
        if step == 0.0:
            return
        async with self._lock:
            slots = self._slots.setdefault(channel, [])
            now = time.monotonic()
            while slots and slots[0] < now - step:  # stale reservations are gone
                slots.pop(0)
            if not slots:
                count = max(1, int(self.block_seconds / step))
                slots.extend(await self._reserve(channel, count))
            slot = slots.pop(0)
        delay = slot - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def pause(self, channel: str, seconds: float) -> None:
        async with self._lock:
            self._slots.pop(channel, None)
            await self._reserve(channel, 0, delay_floor=seconds)


class ChatPacer:
    """At most `per_second` messages per second to one chat (in process)."""

    def __init__(
        self, per_second: dict[str, float], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = {c: 1.0 / (r * HEADROOM) for c, r in per_second.items() if r and r > 0}
        self.clock = clock
        self._next: dict[tuple[str, str], float] = {}

    def wait_needed(self, channel: str, address: str) -> float:
        """Seconds until this chat may receive another message (0 = now)."""
        at = self._next.get((channel, address))
        return max(0.0, at - self.clock()) if at is not None else 0.0

    def note(self, channel: str, address: str, *, pause: float = 0.0) -> None:
        step = self.interval.get(channel)
        if step is None and pause <= 0:
            return
        self._next[(channel, address)] = self.clock() + max(step or 0.0, pause)
        if len(self._next) > 50_000:  # forget chats whose slot passed long ago
            now = self.clock()
            self._next = {k: v for k, v in self._next.items() if v > now}


class WindowGate:
    """The last check right before a request: at most `rate` requests started in any
    `1 s + margin` window, in this process. The schedule above sets the pace; this gate only
    absorbs jitter between taking a slot and the request leaving (a slow commit, a busy
    loop), which could otherwise put one request too many into the platform's 1-second
    window."""

    def __init__(self, rates: dict[str, float], *, margin: float = 0.04) -> None:
        self.limits = {c: max(1, int(r)) for c, r in rates.items() if r and r > 0}
        self.window = 1.0 + margin
        self._starts: dict[str, deque[float]] = {}

    async def wait(self, channel: str) -> None:
        limit = self.limits.get(channel)
        if limit is None:
            return
        starts = self._starts.setdefault(channel, deque())
        while True:
            now = time.monotonic()
            while starts and starts[0] <= now - self.window:
                starts.popleft()
            if len(starts) < limit:
                starts.append(now)
                return
            await asyncio.sleep(starts[0] + self.window - now)


def make_limiter(db: Database, rates: dict[str, float]):
    return SharedRateLimiter(db, rates) if db.is_postgres else LocalRateLimiter(rates)
