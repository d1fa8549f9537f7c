"""Send pacing: a global schedule per channel, and a per-chat pacer.

Both are *schedules*, not bursty buckets: message k of a channel may leave at
`start + k / rate`, so the platform never sees more than `rate` messages in any window. We pace at
`HEADROOM` (96%) of the configured rate, which keeps network jitter from tipping a 1-second
sliding window over the platform's limit and still clears the 95% target.

- `LocalRateLimiter`: in-process (SQLite deployments are one process).
- `SharedRateLimiter`: PostgreSQL. The schedule cursor of each channel is one row of
  `rate_slot` (`next_at`, epoch seconds on the database's clock). A process reserves a block of
  slots with one atomic `UPDATE ... SET next_at = GREATEST(next_at, now) + k / rate RETURNING`,
  then spends them locally, fetching the next block before this one runs out. N processes
  therefore share one schedule: the global rate is not multiplied by the number of processes.
  Unused slots of a block are simply lost (a little lower throughput, never a higher rate).
  Blocks are small (about 0.2 s worth of messages).
- Both hand out `Slot`s (`reserve`) rather than sleeping, so the dispatcher can prepare a row
  (the `sending` mark) just before its slot and send on time; a 429 (`pause`) voids the slots
  handed out before it.
- `ChatPacer`: at most `per_chat` messages per second to one chat (Telegram: 1/s), in process.
  Across processes, `storage.outbox.claim_page` skips rows whose contact got a message less
  than the interval ago; two processes could still each send one message to the same chat
  within a second only when both hold a row for that chat at the same moment (docs/outreach.md).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text

from storage.db import Database

log = logging.getLogger(__name__)
HEADROOM = 0.96


@dataclass(frozen=True, slots=True)
class Slot:
    """A reserved send time (`at`, this process's `time.monotonic()`), valid until the channel
    is paused (`epoch` changes: a 429 invalidates slots handed out before it)."""

    channel: str
    at: float
    epoch: int = 0


class LocalRateLimiter:
    def __init__(
        self, rates: dict[str, float], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rates = {c: r * HEADROOM for c, r in rates.items() if r and r > 0}
        self.clock = clock
        self._next: dict[str, float] = {}
        self._epoch: dict[str, int] = {}

    def interval(self, channel: str) -> float:
        rate = self.rates.get(channel)
        return 1.0 / rate if rate else 0.0

    async def reserve(self, channel: str) -> Slot:
        """This channel's next send slot, without waiting for it."""
        now = self.clock()
        step = self.interval(channel)
        if step == 0.0:
            return Slot(channel, now, self._epoch.get(channel, 0))
        slot = max(self._next.get(channel, now), now)
        self._next[channel] = slot + step
        return Slot(channel, slot, self._epoch.get(channel, 0))

    def valid(self, slot: Slot) -> bool:
        return slot.epoch == self._epoch.get(slot.channel, 0)

    async def acquire(self, channel: str) -> None:
        """Wait for this channel's next send slot."""
        slot = await self.reserve(channel)
        delay = slot.at - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)

    async def pause(self, channel: str, seconds: float) -> None:
        """The platform said "too many requests": no slot before now + seconds, and the slots
        handed out so far are void."""
        resume = self.clock() + seconds
        self._next[channel] = max(self._next.get(channel, 0.0), resume)
        self._epoch[channel] = self._epoch.get(channel, 0) + 1


class SharedRateLimiter:
    """The global schedule in PostgreSQL (`rate_slot`), shared by every process.

    Slots are reserved in blocks of `block_seconds` worth with one autocommitted statement, and
    the next block is fetched ahead (when less than half a block is left), so this process's
    part of the schedule has no gap while a reservation is on its way: a reservation made
    while our previous block still runs continues the schedule where it ends
    (`GREATEST(next_at, now)`), as one made by another process does."""

    def __init__(self, db: Database, rates: dict[str, float], *, block_seconds: float = 0.2):
        self.db = db
        self.rates = {c: r * HEADROOM for c, r in rates.items() if r and r > 0}
        self.block_seconds = block_seconds
        self._slots: dict[str, deque[float]] = {}  # local monotonic times still reserved
        self._epoch: dict[str, int] = {}
        self._refill: dict[str, asyncio.Task] = {}
        self._known: set[str] = set()  # channels whose rate_slot row exists
        self._engine = db.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._offsets: deque[float] = deque(maxlen=50)  # local monotonic - database clock

    def interval(self, channel: str) -> float:
        rate = self.rates.get(channel)
        return 1.0 / rate if rate else 0.0

    def block(self, channel: str) -> int:
        return max(1, round(self.block_seconds / self.interval(channel)))

    async def _reserve(self, channel: str, count: int, delay_floor: float = 0.0) -> list[float]:
        step = self.interval(channel)
        async with self._engine.connect() as conn:
            if channel not in self._known:
                await conn.execute(_ENSURE_SLOT, {"c": channel})
                self._known.add(channel)
            row = (
                await conn.execute(
                    _RESERVE, {"c": channel, "span": step * count, "floor": delay_floor}
                )
            ).one()
            received = time.monotonic()
        next_at, db_now = float(row[0]), float(row[1])
        start = next_at - step * count
        offset = self.offset(received - db_now)
        return [start + offset + i * step for i in range(count)]

    def offset(self, observed: float) -> float:
        """Database time -> local monotonic time. `observed` (our clock when the answer arrived
        minus the database's clock in it) overstates the offset by the answer's latency; the
        smallest of the recent observations is the best estimate, and a stable one: blocks
        reserved one after the other stay contiguous locally, whatever each round trip took
        (mapping each block with its own latency would bunch one block onto the previous)."""
        self._offsets.append(observed)
        return min(self._offsets)

    async def _fill(self, channel: str) -> None:
        epoch = self._epoch.get(channel, 0)
        slots = await self._reserve(channel, self.block(channel))
        if epoch == self._epoch.get(channel, 0):  # a pause meanwhile voids this block
            self._slots.setdefault(channel, deque()).extend(slots)

    def _start_fill(self, channel: str) -> asyncio.Task:
        task = self._refill.get(channel)
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._fill(channel))
            task.add_done_callback(_retrieve)
            self._refill[channel] = task
        return task

    async def reserve(self, channel: str) -> Slot:
        step = self.interval(channel)
        if step == 0.0:
            return Slot(channel, time.monotonic(), self._epoch.get(channel, 0))
        while True:
            slots = self._slots.setdefault(channel, deque())
            now = time.monotonic()
            while slots and slots[0] < now - step:  # nobody used them in time: gone
                slots.popleft()
            if slots:
                at = slots.popleft()
                if len(slots) * step < self.block_seconds / 2:
                    self._start_fill(channel)  # the next block, before this one runs out
                return Slot(channel, at, self._epoch.get(channel, 0))
            await self._start_fill(channel)

    def valid(self, slot: Slot) -> bool:
        return slot.epoch == self._epoch.get(slot.channel, 0)

    async def acquire(self, channel: str) -> None:
        slot = await self.reserve(channel)
        delay = slot.at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def pause(self, channel: str, seconds: float) -> None:
        self._epoch[channel] = self._epoch.get(channel, 0) + 1
        self._slots.setdefault(channel, deque()).clear()
        await self._reserve(channel, 0, delay_floor=seconds)


def _retrieve(task: asyncio.Task) -> None:
    """A failed ahead-of-time reservation is logged; the next `reserve` tries again."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("rate_slot reservation failed: %r", task.exception())


_ENSURE_SLOT = text(
    "INSERT INTO rate_slot (channel, next_at) VALUES (:c, 0) ON CONFLICT (channel) DO NOTHING"
)
_RESERVE = text(
    "UPDATE rate_slot SET next_at = GREATEST(next_at, "
    "extract(epoch from clock_timestamp()) + :floor) + :span "
    "WHERE channel = :c "
    "RETURNING next_at, extract(epoch from clock_timestamp())"
)


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
    """The last check right before a request, in this process. The schedule above sets the
    pace; this gate only absorbs jitter between taking a slot and the request reaching the
    platform (a slow commit, a busy loop, a new connection), which could otherwise put one
    request too many into the platform's 1-second window.

    The platform received each request somewhere between its start and its answer. So when a
    new request starts at t, the requests the platform may count in the second before it
    arrives are at most those still in flight or answered after t - 1 s: a request starts only
    while fewer than `rate` (30) of them exist. This bound holds whatever the latency was.
    And at most `ceil(rate * HEADROOM)` (29 of 30) requests start in any 1 s (what the schedule
    sends anyway), a message of slack for the platform's clock."""

    WINDOW = 1.0

    def __init__(self, rates: dict[str, float]) -> None:
        self.limits = {c: max(1, int(r)) for c, r in rates.items() if r and r > 0}
        self.inner = {
            c: max(1, min(int(r), math.ceil(r * HEADROOM))) for c, r in rates.items() if r and r > 0
        }
        # per channel, in start order: [start, end] (end = inf while in flight)
        self._requests: dict[str, deque[list[float]]] = {}

    async def wait(self, channel: str) -> list[float] | None:
        """Wait until a request may start; returns its entry for `done` (None: no limit)."""
        limit = self.limits.get(channel)
        if limit is None:
            return None
        inner = self.inner[channel]
        requests = self._requests.setdefault(channel, deque())
        while True:
            now = time.monotonic()
            horizon = now - self.WINDOW
            while requests and requests[0][1] <= horizon:
                requests.popleft()
            counted = [end for _start, end in requests if end > horizon]
            wait = 0.0
            if len(counted) >= limit:
                ended = sorted(end for end in counted if end != math.inf)
                excess = len(counted) - limit + 1
                # when enough of them leave the window (all in flight: look again shortly)
                wait = ended[excess - 1] - horizon if len(ended) >= excess else 0.005
            recent = [start for start, _end in requests if start > horizon]
            if len(recent) >= inner:
                wait = max(wait, recent[-inner] - horizon)
            if wait <= 0:
                entry = [now, math.inf]
                requests.append(entry)
                return entry
            await asyncio.sleep(wait)

    @staticmethod
    def done(entry: list[float] | None) -> None:
        """The request of `entry` was answered (or failed): it now counts until then + 1 s."""
        if entry is not None:
            entry[1] = time.monotonic()


def make_limiter(db: Database, rates: dict[str, float]):
    return SharedRateLimiter(db, rates) if db.is_postgres else LocalRateLimiter(rates)
