"""The dispatcher: the one place outreach messages leave the bot.

One pass (`dispatch_due`) repeats until nothing is due:
1. lease a page of due `pending` rows (committed; `FOR UPDATE SKIP LOCKED` on PostgreSQL; rows
   whose Telegram chat got a message less than a second ago, from any process, wait);
2. per row, in due order: if its chat got a message less than a second ago in this process
   (Telegram's per-chat limit), give the row back due at the chat's next slot; else hand it to
   a task (bounded concurrency, so rows to different chats are in flight together);
3. the task takes the channel's next send slot (a schedule shared across processes on
   PostgreSQL, see ratelimit.py) without waiting for it; just before the slot (`lead`, about
   one database round trip) it checks the row is still wanted (STOP, unreachable, finished,
   vacancy closed, follow-up re-opens the status question) and marks it `sending`, committed
   (vacancies, notices, digests: one autocommitted UPDATE ... RETURNING that also reads what
   the check needs; reminders and follow-ups: Composer.prepare in a transaction); at the slot
   it makes one HTTP attempt through the channel's Sender; then commits the outcome at once
   (a sent row: one statement on PostgreSQL):
     SENT -> sent (+ external id)
     RETRY -> pending again at now + retry_after (or a backoff), failed after max attempts;
              a 429 also pauses the channel's schedule and the chat for retry_after
     UNREACHABLE -> the row `unreachable`, the contact marked unreachable, its other pending
              rows cancelled
     NEEDS_TEMPLATE -> the same row is sent once more, as the purpose's WhatsApp template (a
              `reply` row, a direct reply queued by the WhatsApp channel: cancelled)
     FAILED -> failed.
A row is `sending` only while its one HTTP request is about to leave or in flight. If the
process dies then, the row stays `sending`; after `sending_lease` any dispatcher marks it
`unknown` and never resends it (docs/outreach.md has the rule and the operator's
`resend-unknown`; a WhatsApp status webhook may still confirm it `sent`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.channels.base import Sender, SendResult, SendStatus
from bot.outreach.messages import WINDOW_CLOSED, Composer, Prepared, window_template
from bot.outreach.planner import in_quiet_hours, next_allowed
from bot.outreach.ratelimit import ChatPacer, LocalRateLimiter, Slot, WindowGate, make_limiter
from storage import outbox
from storage.db import Database
from storage.models import Contact, utcnow

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
# staff notices, and direct replies the person is waiting for, may go out in quiet hours
QUIET_EXEMPT = ("notice", outbox.REPLY)


@dataclass(slots=True)
class DispatchStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    unreachable: int = 0
    cancelled: int = 0
    templated: int = 0
    deferred: int = 0
    expired_unknown: int = 0
    rate_limited: int = 0  # 429s / throttling answers seen
    errors: list[str] = field(default_factory=list)

    def add(self, other: DispatchStats) -> None:
        for name in (
            "sent",
            "retried",
            "failed",
            "unreachable",
            "cancelled",
            "templated",
            "deferred",
            "expired_unknown",
            "rate_limited",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def backoff(attempts: int) -> float:
    return min(2.0 ** max(attempts - 1, 0) * 2.0, 600.0)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        senders: Mapping[str, Sender],
        settings: Any,
        *,
        composer: Composer,
        zone: ZoneInfo | None = None,
        person_lock: Callable[[str, str], Any] | None = None,
        clock: Clock = utcnow,
        limiter: Any | None = None,
        pacer: ChatPacer | None = None,
        worker: str | None = None,
        page_size: int = 200,
        concurrency: int = 16,
        claim_lease: timedelta = timedelta(seconds=60),
        sending_lease: timedelta = timedelta(minutes=5),
        schools: Any | None = None,
    ) -> None:
        self.db = db
        self.schools = schools  # storage.schools.SchoolDirectory: quiet hours per school zone
        self.senders = dict(senders)
        self.settings = settings
        self.composer = composer
        self.zone = zone or settings.zone
        self.person_lock = person_lock
        self.clock = clock
        rates = {
            "telegram": settings.telegram_rate_per_second,
            "whatsapp": settings.whatsapp_rate_per_second,
        }
        self.limiter = limiter or make_limiter(db, rates)
        self.gate = WindowGate(rates)
        self.pacer = pacer or ChatPacer(
            {"telegram": settings.telegram_rate_per_chat_per_second},
            clock=lambda: clock().timestamp(),  # the rows' clock: due times stay consistent
        )
        self.worker = worker or f"{os.getpid()}-{secrets.token_hex(3)}"
        self.page_size = page_size
        self.concurrency = concurrency
        self.claim_lease = claim_lease
        self.sending_lease = sending_lease
        self.max_attempts = settings.outbox_max_attempts
        self._sem = asyncio.Semaphore(concurrency)
        self._in_flight: set[tuple[str, str]] = set()
        self._sqlite_lock = asyncio.Lock()
        # single statements (the `sending` mark, a sent outcome) are autocommitted (no
        # BEGIN/COMMIT round trips around them) on a few connections held for the pass (no
        # pool checkout and its pre-ping per statement)
        self._conns = HeldConnections(db.engine.execution_options(isolation_level="AUTOCOMMIT"))
        self.lead = Lead()
        self._passes = 0  # dispatch passes running (the held connections close after the last)
        self.chat_spacing = {
            channel: timedelta(seconds=step) for channel, step in self.pacer.interval.items()
        }

    # -- public --
    async def expire_stale(self) -> int:
        async with self._writing(), self.db.session() as s:
            n = await outbox.expire_stale_sending(s, self.clock(), self.sending_lease)
            await s.commit()
        if n:
            log.warning("outbox: %d rows were left mid-send by a stopped process: unknown", n)
        return n

    async def dispatch_due(
        self, *, stop: asyncio.Event | None = None, max_rows: int | None = None
    ) -> DispatchStats:
        """Send everything due now (one pass). Returns what happened."""
        stats = DispatchStats()
        stats.expired_unknown = await self.expire_stale()
        if not self.senders:
            return stats
        tasks: set[asyncio.Task] = set()
        handled = 0
        self._passes += 1
        try:
            while not (stop and stop.is_set()):
                now = self.clock()
                purposes = QUIET_EXEMPT if self._quiet(now) else None
                page = await self._claim(now, purposes)
                if not page:
                    break
                for index, row in enumerate(page):
                    if (stop and stop.is_set()) or (max_rows is not None and handled >= max_rows):
                        await self._release_rest(page[index:])
                        return stats
                    chat = (row.channel, row.address)
                    quiet_until = self._school_quiet_until(row, now)
                    if quiet_until is not None:  # its school's zone is in quiet hours
                        async with self._writing(), self.db.session() as s:
                            await outbox.release(s, row.id, self.worker, quiet_until)
                            await s.commit()
                        stats.deferred += 1
                        continue
                    wait = self.pacer.wait_needed(*chat)
                    if chat in self._in_flight:
                        wait = max(wait, self.pacer.interval.get(row.channel, 0.0), 0.05)
                    if wait > 0:
                        async with self._writing(), self.db.session() as s:
                            due = self.clock() + timedelta(seconds=wait)
                            await outbox.release(s, row.id, self.worker, due)
                            await s.commit()
                        stats.deferred += 1
                        continue
                    await self._sem.acquire()
                    self._in_flight.add(chat)
                    handled += 1
                    task = asyncio.create_task(self._run_row(row, stats, stop))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if max_rows is not None and handled >= max_rows:
                    break
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self._passes -= 1
            if not self._passes:
                await self._conns.close()
        return stats

    async def run_forever(self, stop: asyncio.Event, *, idle: float = 1.0) -> None:
        """Dispatch continuously (the scheduler's job runs `dispatch_due` instead; this is for
        worker processes that only dispatch)."""
        while not stop.is_set():
            try:
                await self.dispatch_due(stop=stop)
            except Exception:  # keep the loop alive; the error is logged
                log.exception("outbox dispatch pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), idle)

    # -- internals --
    def _writing(self):
        """SQLite: one write transaction at a time in this process (the database's own
        `writer()` lock when it has one, shared with the conversation shell), instead of
        SQLite's busy-wait backoff; PostgreSQL: nothing."""
        writer = getattr(self.db, "writer", None)
        if writer is not None:
            return writer()
        if self.db.is_sqlite:
            return self._sqlite_lock
        return contextlib.nullcontext()

    def _quiet(self, now: datetime) -> bool:
        """Quiet hours everywhere: in the (default) zone, or in every school's zone."""
        start, end = self.settings.quiet_hours_start, self.settings.quiet_hours_end
        if self.schools is None or not self.schools.multi:
            return in_quiet_hours(now, self.zone, start, end)
        return all(in_quiet_hours(now, s.zone, start, end) for s in self.schools.all())

    def _today(self, row: outbox.Claimed) -> date:
        """The local date of the row's school (a vacancy's deadline is a date there)."""
        zone = self.schools.get(row.school_id).zone if self.schools is not None else self.zone
        return self.clock().astimezone(zone).date()

    def _school_quiet_until(self, row: outbox.Claimed, now: datetime) -> datetime | None:
        """Several schools in several zones: when a row's school is in quiet hours now, the end
        of them (the row is given back due then); None: send it."""
        if self.schools is None or not self.schools.multi or row.purpose in QUIET_EXEMPT:
            return None
        zone = self.schools.get(row.school_id).zone
        start, end = self.settings.quiet_hours_start, self.settings.quiet_hours_end
        until = next_allowed(now, zone, start, end)
        return until if until > now else None

    async def _claim(self, now: datetime, purposes) -> list[outbox.Claimed]:
        async with self._writing(), self.db.session() as s:
            page = await outbox.claim_page(
                s,
                self.worker,
                now,
                limit=self.page_size,
                channels=list(self.senders),
                lease=self.claim_lease,
                purposes=purposes,
                chat_spacing=self.chat_spacing,
            )
            await s.commit()
        return page

    async def _release_rest(self, rows: list[outbox.Claimed]) -> None:
        async with self._writing(), self.db.session() as s:
            for row in rows:
                await outbox.release(s, row.id, self.worker, row.not_before)
            await s.commit()

    async def _run_row(
        self, row: outbox.Claimed, stats: DispatchStats, stop: asyncio.Event | None = None
    ) -> None:
        try:
            await self._send_row(row, stats, stop)
        except Exception as exc:  # a bug must not kill the pass; the row stays as it is
            log.exception("outbox row %s: unexpected error", row.id)
            stats.errors.append(f"{row.id}: {exc!r}")
        finally:
            self._in_flight.discard((row.channel, row.address))
            self._sem.release()

    async def _begin(self, row: outbox.Claimed) -> Prepared | None:
        """Check the row and mark it `sending` (committed). None: not ours any more."""
        if row.purpose in Composer.QUICK:
            vacancy_id = row.payload.get("vacancy_id") if row.purpose == "vacancy" else None
            async with self._writing(), self._conns.get() as conn:
                facts = await outbox.begin_send(
                    conn, row.id, self.worker, self.clock(), vacancy_id=vacancy_id
                )
                if facts is None:
                    return None
                prepared = self.composer.check(row, facts, self._today(row), now=self.clock())
                if prepared.reply is None:
                    await outbox.record_final(conn, row.id, "cancelled", error=prepared.reason)
                    if row.purpose == outbox.REPLY:
                        await outbox.forget_payload(conn, row.id)
            return prepared
        lock = (
            self.person_lock(row.channel, row.address)
            if self.person_lock is not None and row.purpose == "followup"
            else contextlib.nullcontext()
        )
        async with lock, self._writing(), self.db.session() as s:
            now = self.clock()
            if not await outbox.mark_sending(s, row.id, self.worker, now):
                await s.rollback()
                return None
            prepared = await self.composer.prepare(s, row, self._today(row))
            if prepared.reply is None:
                await outbox.record_final(s, row.id, "cancelled", error=prepared.reason)
            await s.commit()
        return prepared

    async def _send_row(
        self, row: outbox.Claimed, stats: DispatchStats, stop: asyncio.Event | None = None
    ) -> None:
        # The send slot is taken first; the row is marked `sending` (one short commit) `lead`
        # seconds before the slot, and the request leaves at the slot: the platform sees our
        # pace, not the database's latency, and a row is `sending` only for its own request
        # (never while it waits for a slot further away than `lead`).
        slot = await self._slot(row.channel, stop)
        if stop is not None and stop.is_set():  # stopping: not begun, so simply given back
            await self._release_rest([row])
            return
        started = time.monotonic()
        prepared = await self._begin(row)
        self.lead.note(time.monotonic() - started)
        if prepared is None:
            return
        if prepared.reply is None:
            stats.cancelled += 1
            return
        sender = self.senders[row.channel]
        await _sleep_until(slot.at)
        if not self.limiter.valid(slot):  # a 429 paused the channel since: a new slot
            await self.limiter.acquire(row.channel)
        now = self.clock()
        template = window_template(
            self.settings, row.channel, row.purpose, row.payload, prepared.last_inbound_at, now
        )
        # WhatsApp: the row's id rides along as biz_opaque_callback_data; a status webhook
        # then confirms a row whose outcome we did not record (docs/outreach.md, crash rule)
        extra: dict[str, Any] = {}
        if row.channel == "whatsapp":
            extra["callback_data"] = outbox.callback_data(row.id)
            if row.payload.get("skip_parts"):  # a reply partly delivered before it was queued
                extra["skip_parts"] = int(row.payload["skip_parts"])
        result = await self._request(sender, row, prepared.reply, template, extra)
        if (
            result.status == SendStatus.NEEDS_TEMPLATE
            and template is None
            and row.purpose != outbox.REPLY  # a reply is never sent as a template
        ):
            template = window_template(
                self.settings, row.channel, row.purpose, row.payload, None, now, force=True
            )
            await self.limiter.acquire(row.channel)
            result = await self._request(sender, row, prepared.reply, template, extra)
        if template is not None and result.status == SendStatus.SENT:
            stats.templated += 1
        await self._record(row, result, stats)

    async def _slot(self, channel: str, stop: asyncio.Event | None = None) -> Slot:
        """A send slot, returned `lead` seconds before it (a pause voids it: take another);
        returned early when `stop` is set."""
        slot = await self.limiter.reserve(channel)
        while True:
            await _sleep_until(slot.at - self.lead.seconds, stop)
            if self.limiter.valid(slot) or (stop is not None and stop.is_set()):
                return slot
            slot = await self.limiter.reserve(channel)

    async def _request(self, sender: Sender, row: outbox.Claimed, reply, template, extra):
        """One request, through the last gate (the in-process window and the chat's spacing);
        the gate and the chat learn when it ended (the platform got it by then)."""
        await self._last_gate(row)
        entry = await self.gate.wait(row.channel)
        try:
            return await sender.send(row.address, reply, template=template, **extra)
        finally:
            self.gate.done(entry)
            self.pacer.note(row.channel, row.address)

    async def _last_gate(self, row: outbox.Claimed) -> None:
        """Right before the request: the chat's spacing."""
        chat_wait = self.pacer.wait_needed(row.channel, row.address)
        if chat_wait > 0:
            await asyncio.sleep(chat_wait)
        self.pacer.note(row.channel, row.address)

    async def _record(self, row: outbox.Claimed, result: SendResult, stats: DispatchStats) -> None:
        now = self.clock()
        attempts = row.attempts + 1
        if result.status == SendStatus.SENT:
            async with self._writing(), self._conns.get() as conn:
                await outbox.finish_sent(conn, row.id, row.contact_id, now, result.external_id)
                if row.purpose == outbox.REPLY:
                    await outbox.forget_payload(conn, row.id)
            stats.sent += 1
            return
        async with self._writing(), self.db.session() as s:
            if result.status == SendStatus.RETRY:
                wait = result.retry_after if result.retry_after else backoff(attempts)
                if result.error_code in ("429", "130429", "131056"):
                    stats.rate_limited += 1
                if result.error_code in ("429", "130429"):
                    await self.limiter.pause(row.channel, wait)
                    self.pacer.note(row.channel, row.address, pause=wait)
                if attempts >= self.max_attempts:
                    await outbox.record_final(
                        s, row.id, "failed", error_code=result.error_code, error=result.error
                    )
                    stats.failed += 1
                else:
                    await outbox.record_retry(
                        s,
                        row.id,
                        now + timedelta(seconds=wait),
                        error_code=result.error_code,
                        error=result.error or "retry",
                    )
                    stats.retried += 1
            elif result.status == SendStatus.UNREACHABLE:
                reason = (result.error or "unreachable")[:200]
                await outbox.record_final(
                    s, row.id, "unreachable", error_code=result.error_code, error=reason
                )
                await s.execute(
                    Contact.__table__.update()
                    .where(Contact.channel == row.channel, Contact.address == row.address)
                    .values(unreachable_at=now, unreachable_reason=reason)
                )
                if row.contact_id is not None:
                    stats.cancelled += await outbox.cancel_pending_for_contact(
                        s, row.contact_id, "contact unreachable"
                    )
                stats.unreachable += 1
            elif result.status == SendStatus.NEEDS_TEMPLATE and row.purpose == outbox.REPLY:
                await outbox.record_final(
                    s, row.id, "cancelled", error_code=result.error_code, error=WINDOW_CLOSED
                )
                stats.cancelled += 1
            else:  # FAILED, or NEEDS_TEMPLATE after the template failed too
                await outbox.record_final(
                    s, row.id, "failed", error_code=result.error_code, error=result.error
                )
                stats.failed += 1
            if row.purpose == outbox.REPLY:
                await outbox.forget_payload(s, row.id)
            await s.commit()


class HeldConnections:
    """A few autocommit connections held for one dispatch pass and shared by its rows (one
    statement at a time each). A connection that failed is dropped and replaced."""

    def __init__(self, engine: Any, size: int = 3) -> None:
        self.engine = engine
        self.size = size
        self._free: asyncio.Queue | None = None
        self._held: set[Any] = set()

    @contextlib.asynccontextmanager
    async def get(self):
        if self._free is None:
            self._free = asyncio.Queue()
            for _ in range(self.size):
                self._free.put_nowait(None)
        free = self._free
        conn = await free.get()
        try:
            if conn is None:
                conn = await self.engine.connect()
                self._held.add(conn)
            yield conn
        except BaseException:
            if conn is not None:
                self._held.discard(conn)
                with contextlib.suppress(Exception):
                    await conn.close()
            conn = None
            raise
        finally:
            free.put_nowait(conn)

    async def close(self) -> None:
        held, self._held, self._free = self._held, set(), None
        for conn in held:
            with contextlib.suppress(Exception):
                await conn.close()


class Lead:
    """How long before its slot a row is marked `sending`: the `sending` commit's recent
    latency, mean + 4 deviations (as TCP estimates its retransmission timeout), 2-150 ms."""

    def __init__(self, initial: float = 0.01) -> None:
        self.mean = initial
        self.dev = initial / 2

    @property
    def seconds(self) -> float:
        return min(max(self.mean + 4 * self.dev, 0.002), 0.15)

    def note(self, took: float) -> None:
        self.dev = 0.75 * self.dev + 0.25 * abs(took - self.mean)
        self.mean = 0.875 * self.mean + 0.125 * took


async def _sleep_until(at: float, stop: asyncio.Event | None = None) -> None:
    delay = at - time.monotonic()
    if delay <= 0:
        return
    if stop is None:
        await asyncio.sleep(delay)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay)


def build_dispatcher(core: Any, senders: Mapping[str, Sender], **kwargs: Any) -> Dispatcher:
    """A dispatcher for the app's Core (bot.app.Core)."""
    composer = Composer(core.service, core.flow.catalogue)
    return Dispatcher(
        core.db,
        senders,
        core.settings,
        composer=composer,
        zone=ZoneInfo(core.school.timezone or core.settings.timezone),
        person_lock=core.service.person_lock,
        schools=getattr(core, "schools", None),
        **kwargs,
    )


__all__ = ["DispatchStats", "Dispatcher", "LocalRateLimiter", "build_dispatcher"]
