"""Outreach in the running process: an APScheduler 3 AsyncIOScheduler with two interval jobs.

- `plan` (every `plan_every` s, default 60): vacancies past their deadline closed, reminders
  and follow-ups, under the planner lock (one process plans at a time on PostgreSQL);
- `dispatch` (every `dispatch_every` s, default 2): send what is due (`Dispatcher.dispatch_due`).
Each job runs at most once at a time (`max_instances=1`, `coalesce=True`); a pass that takes
longer than the interval simply delays the next one. `Outreach.tick()` is the same work once
(`jejak outreach tick`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.channels.base import Sender
from bot.outreach.dispatcher import Dispatcher, DispatchStats, build_dispatcher
from bot.outreach.planner import PlanResult, plan_due
from storage.models import utcnow

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TickResult:
    plan: PlanResult | None  # None: another process holds the planner lock
    dispatch: DispatchStats
    digests: int = 0  # weekly digests queued by this tick (bot/digest.py)


class Outreach:
    def __init__(
        self,
        core: Any,
        senders: Mapping[str, Sender],
        *,
        clock: Callable[[], datetime] = utcnow,
        plan_every: float = 60.0,
        dispatch_every: float = 2.0,
        **dispatcher_kwargs: Any,
    ) -> None:
        self.core = core
        self.clock = clock
        self.zone = ZoneInfo(core.school.timezone or core.settings.timezone)
        self.dispatcher: Dispatcher = build_dispatcher(
            core, senders, clock=clock, **dispatcher_kwargs
        )
        self.plan_every = plan_every
        self.dispatch_every = dispatch_every
        self.scheduler: AsyncIOScheduler | None = None
        self._stopping = asyncio.Event()  # stop(): the dispatch pass winds down
        self._running: set[asyncio.Task] = set()  # job runs in progress

    async def plan(self) -> PlanResult | None:
        core = self.core
        return await plan_due(
            core.db,
            school_id=core.school.id,
            school_name=core.school.name,
            flow=core.flow,
            settings=core.settings,
            zone=self.zone,
            now=self.clock(),
        )

    async def dispatch(self) -> DispatchStats:
        return await self.dispatcher.dispatch_due(stop=self._stopping)

    async def digest(self) -> int:
        """Queue the weekly staff digests if they are due (bot/digest.py; idempotent)."""
        from bot.digest import plan_digests

        core = self.core
        return await plan_digests(core.db, flow=core.flow, settings=core.settings, now=self.clock())

    async def tick(self) -> TickResult:
        plan = await self.plan()
        digests = await self.digest()
        return TickResult(plan, await self.dispatch(), digests)

    async def _job(self, name: str, fn) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            if self._stopping.is_set():
                return
            result = await fn()
            if (
                name == "plan"
                and result
                and (result.reminders or result.followups or result.closed)
            ):
                log.info(
                    "outreach: planned %d reminders, %d follow-ups; %d vacancies closed",
                    result.reminders,
                    result.followups,
                    result.closed,
                )
        except Exception:
            log.exception("outreach %s job failed", name)
        finally:
            self._running.discard(task)

    def start(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(timezone=self.zone)
        scheduler.add_job(
            self._job,
            "interval",
            args=("plan", self.plan),
            seconds=self.plan_every,
            id="outreach-plan",
            max_instances=1,
            coalesce=True,
            next_run_time=self.clock(),
        )
        scheduler.add_job(
            self._job,
            "interval",
            args=("dispatch", self.dispatch),
            seconds=self.dispatch_every,
            id="outreach-dispatch",
            max_instances=1,
            coalesce=True,
            next_run_time=self.clock(),
        )
        # the weekly digest is due at DIGEST_WEEKDAY DIGEST_TIME in each school's own zone
        # (WIB, WITA, WIT): the planner runs every hour at that minute and queues the schools
        # that are due (once a week each); and once at start-up, so a process that was down
        # at that time sends it when it comes back the same day
        scheduler.add_job(
            self._job,
            "cron",
            args=("digest", self.digest),
            hour="*",
            minute=self.core.settings.digest_time.minute,
            timezone=self.zone,
            id="outreach-digest",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
        )
        scheduler.add_job(
            self._job, "date", args=("digest", self.digest), id="outreach-digest-startup"
        )
        scheduler.start()
        self.scheduler = scheduler
        return scheduler

    async def stop(self, grace: float = 30.0) -> None:
        """Stop cleanly: no new runs, the dispatch pass winds down (rows not yet `sending` are
        given back, requests in flight are finished and recorded), running jobs are awaited;
        only then the scheduler shuts down (its `shutdown(wait=False)` cancels a job that is
        still running, which APScheduler logs as an error, and could cut a send in two)."""
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is None or not scheduler.running:
            return
        scheduler.pause()
        self._stopping.set()
        running = {t for t in self._running if not t.done()}
        if running:
            _done, late = await asyncio.wait(running, timeout=grace)
            if late:
                log.warning("outreach: %d job(s) still running after %.0f s", len(late), grace)
        scheduler.shutdown(wait=False)


def senders_of(telegram: Any | None, whatsapp: Any | None) -> dict[str, Sender]:
    """The Sender of each running channel: the channels themselves (the WhatsApp channel
    records each message's Delivery row for its status webhooks and labels list buttons in
    the person's language; its bare client would do neither)."""
    senders: dict[str, Sender] = {}
    if telegram is not None:
        senders["telegram"] = telegram
    if whatsapp is not None:
        senders["whatsapp"] = whatsapp
    return senders
