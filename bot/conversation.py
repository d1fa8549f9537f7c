"""The conversation shell: load a person's state, run the pure engine, save, reply.

Every inbound message's idempotency record, new state and answers are committed before its
replies are handed back to the channel, which sends them (no session is held across a network
call). Messages of one person are handled one at a time (an in-process lock, plus a PostgreSQL
advisory lock when several processes share a database).

Group commit: `handle()` queues the message and waits; a writer task takes everything waiting
(up to `batch_cap`), handles them in one transaction (their event ids recorded in one
statement, their contacts read in one, each contact written back with one UPDATE), commits
once and hands every message its Outcome. When a message raises, nothing of that attempt is
kept and the batch is redone with each message in its own SAVEPOINT: the failing one is rolled
back to its savepoint and its caller gets the exception; the others commit. Nothing waits for
company: an idle writer starts on the first message. SQLite has one writer task (it allows one
writer; the batch runs inside `db.writer()`, shared with the dispatcher), PostgreSQL a few
(`writers`), each on its own connection, each batch taking its people's advisory locks in one
sorted statement.
Per-transaction cost (session, BEGIN, COMMIT, lock hand-over, contact reads) is paid once per
batch instead of once per message; see bench/README.md, "Inbound".

Several schools: identity lookups search the whole deployment (storage/queries.py). The engine's
Context (school name in the texts, time zone for months and times) is the person's own school:
read from the matched graduate's card in the state (no query), or, before identification, from
the invitation code being used; else the default school. A single-school install never queries
for it (the school directory is in memory).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics
from conversations import engine
from conversations.engine import Context, LookupResult
from conversations.messages import Catalogue
from conversations.questionnaire import Flow
from conversations.types import Inbound, InputKind, Outcome, Reply
from storage import queries
from storage.db import Database
from storage.models import Alumnus, Contact, utcnow
from storage.schools import SchoolDirectory

log = logging.getLogger(__name__)

COMPLETIONS = "jejak.completions"  # session.info: questionnaires completed in this transaction

# A hook gets the first look at an inbound message (staff commands, vacancy buttons). It returns
# replies when it handled the message, or None to let the questionnaire engine have it.
Hook = Callable[[AsyncSession, Contact, Inbound], Awaitable[list[Reply] | None]]


class BatchSession(AsyncSession):
    """The session of one group-commit batch. A hook that commits (e.g. redeeming a staff
    code) only flushes here: the batch commits once, after every message in it."""

    _batch_connection: Any = None

    async def commit(self) -> None:
        await self.flush()

    async def commit_batch(self) -> None:
        self._batch_connection = None
        await super().commit()

    async def connection(self, **kwargs: Any) -> Any:
        """The batch's one connection, looked up once (the Core statements of every message
        ask for it: each lookup is a trip through SQLAlchemy's greenlet bridge). Not inside a
        SAVEPOINT: asking the session is what emits it."""
        if kwargs or self.in_nested_transaction():
            return await super().connection(**kwargs)
        if self._batch_connection is None:
            self._batch_connection = await super().connection()
        return self._batch_connection


@dataclasses.dataclass
class _Group:
    """Group-commit state of one event loop: waiting messages and running writer tasks."""

    loop: asyncio.AbstractEventLoop
    queue: collections.deque = dataclasses.field(default_factory=collections.deque)
    writers: int = 0
    tasks: set = dataclasses.field(default_factory=set)


@dataclasses.dataclass
class GroupStats:
    """Counters for benchmarks and tests."""

    batches: int = 0
    items: int = 0
    failed: int = 0
    largest: int = 0


class ConversationService:
    def __init__(
        self,
        db: Database,
        flow: Flow,
        *,
        school_id: int,
        school_name: str,
        context: Callable[[], Context],
        consent_version: str = "1",
        default_language: str = "id",
        schools: SchoolDirectory | None = None,
        group_commit: bool = True,
        batch_cap: int = 64,
        writers: int | None = None,
    ) -> None:
        self.db = db
        self.flow = flow
        self.cat: Catalogue = flow.catalogue
        self.school_id = school_id
        self.school_name = school_name
        self.context = context
        self.consent_version = consent_version
        self.default_language = default_language
        self.schools = schools
        self.hooks: list[Hook] = []
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        # group commit (see the module docstring)
        self.group_commit = group_commit
        self.batch_cap = max(1, batch_cap)
        self.writers = writers or (1 if db.is_sqlite else 4)
        self.group_stats = GroupStats()
        self._group: _Group | None = None
        self._batch_sessions = async_sessionmaker(
            db.engine, class_=BatchSession, expire_on_commit=False
        )

    def add_hook(self, hook: Hook) -> None:
        self.hooks.append(hook)

    def _lock(self, channel: str, address: str) -> asyncio.Lock:
        key = (channel, address)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def handle(self, inbound: Inbound) -> Outcome:
        """Handle one inbound message; returns once it is committed (group commit: with
        whatever other messages were waiting at the same time)."""
        if self.schools is not None:  # at most one query a minute (a school added meanwhile)
            await self.schools.refresh(self.db)
        async with self._lock(inbound.channel, inbound.address):
            if self.group_commit:
                return await self._submit(inbound)
            return await self._handle_alone(inbound)

    async def _handle_alone(self, inbound: Inbound) -> Outcome:
        """One message, one transaction (group_commit=False)."""
        async with self.db.writer(), self.db.session() as session:
            await queries.lock_address(session, inbound.channel, inbound.address)
            if inbound.external_id and not await queries.record_inbound(
                session, inbound.channel, inbound.external_id
            ):
                await session.rollback()
                return Outcome(duplicate=True)
            outcome = await self._handle(session, inbound)
            completions = session.info.pop(COMPLETIONS, [])
            await session.commit()
        for channel in completions:
            metrics.completion(channel)
        return outcome

    # -- group commit --
    async def _submit(self, inbound: Inbound) -> Outcome:
        loop = asyncio.get_running_loop()
        group = self._group
        if group is None or group.loop is not loop:  # first use, or a new event loop (tests)
            group = self._group = _Group(loop)
        future: asyncio.Future[Outcome] = loop.create_future()
        group.queue.append((inbound, future))
        if group.writers < self.writers:  # no writer idle: start one (it runs at once)
            group.writers += 1
            task = loop.create_task(self._write_loop(group))
            group.tasks.add(task)
            task.add_done_callback(group.tasks.discard)
        return await future

    async def _write_loop(self, group: _Group) -> None:
        """Take everything waiting (up to batch_cap), write it as one batch; repeat until
        nothing waits, then end (the next message starts a new writer)."""
        try:
            while group.queue:
                batch: list[tuple[Inbound, asyncio.Future[Outcome]]] = []
                while group.queue and len(batch) < self.batch_cap:
                    item = group.queue.popleft()
                    if not item[1].done():  # its caller was cancelled meanwhile
                        batch.append(item)
                if batch:
                    await self._write_batch(batch)
        finally:
            group.writers -= 1

    async def _write_batch(self, batch: list[tuple[Inbound, asyncio.Future[Outcome]]]) -> None:
        inbounds = [inbound for inbound, _ in batch]
        try:
            try:  # optimistic: the whole batch as one plain transaction
                outcomes, completions = await self._attempt(inbounds, isolate=False)
            except Exception as exc:
                if len(batch) == 1:
                    outcomes, completions = [exc], []
                else:  # one of them failed, nothing was committed: redo each in a savepoint
                    log.info("a batch of %d failed as a whole; redoing it one by one", len(batch))
                    outcomes, completions = await self._attempt(inbounds, isolate=True)
        except BaseException as exc:  # nothing of the batch was committed
            for _, future in batch:
                if not future.done():
                    if isinstance(exc, Exception):
                        future.set_exception(exc)
                    else:
                        future.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        for channel in completions:
            metrics.completion(channel)
        stats = self.group_stats
        stats.batches += 1
        stats.items += len(batch)
        stats.largest = max(stats.largest, len(batch))
        for (_, future), result in zip(batch, outcomes, strict=True):
            if isinstance(result, Exception):
                stats.failed += 1
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _attempt(
        self, inbounds: list[Inbound], *, isolate: bool
    ) -> tuple[list[Outcome | Exception], list[str]]:
        """Handle a batch in one transaction and commit it: the outcomes in order, and the
        channels of the questionnaires completed. Not `isolate`: the inbound records are written
        in one statement and the first exception aborts the whole batch (the caller redoes it
        isolated). `isolate`: each message in its own SAVEPOINT; one that raises is rolled back
        to it (its exception is its outcome) and the others go on."""
        outcomes: list[Outcome | Exception] = []
        async with (
            self.db.writer(),
            self._batch_sessions() as session,
            self.db.immediate(session),
        ):
            keys = [(inbound.channel, inbound.address) for inbound in inbounds]
            await queries.lock_addresses(session, keys)
            await queries.preload_contacts(session, keys)
            if isolate:
                for inbound in inbounds:
                    try:
                        async with session.begin_nested():
                            outcomes.append(await self._handle_item(session, inbound))
                    except Exception as exc:  # rolled back to its savepoint; the rest go on
                        outcomes.append(exc)
            else:
                events = [(i.channel, i.external_id) for i in inbounds if i.external_id]
                fresh = await queries.record_inbounds(session, events)
                for inbound in inbounds:
                    key = (inbound.channel, inbound.external_id)
                    if inbound.external_id and key not in fresh:
                        outcomes.append(Outcome(duplicate=True))
                        continue
                    fresh.discard(key)  # the same event twice in one batch: the first counts
                    outcomes.append(await self._handle(session, inbound))
            completions = session.info.pop(COMPLETIONS, [])
            await session.commit_batch()
        return outcomes, completions

    async def _handle_item(self, session: AsyncSession, inbound: Inbound) -> Outcome:
        if inbound.external_id and not await queries.record_inbound(
            session, inbound.channel, inbound.external_id
        ):
            return Outcome(duplicate=True)
        return await self._handle(session, inbound)

    async def _handle(self, session: AsyncSession, inbound: Inbound) -> Outcome:
        lang = self.default_language
        if inbound.language_hint:
            lang = "en" if inbound.language_hint.lower().startswith("en") else "id"
        contact, created = await queries.get_or_create_contact(
            session, inbound.channel, inbound.address, lang
        )
        remember_username(contact, inbound)
        outcome = await self._step(session, contact, inbound)
        remember_username(contact, inbound)  # linked or unlinked (/hapus) by this message
        contact.last_inbound_at = contact.updated_at = utcnow()
        await queries.save_contact(session, contact)  # one UPDATE, with the new state
        return outcome

    async def _step(self, session: AsyncSession, contact: Contact, inbound: Inbound) -> Outcome:
        for hook in self.hooks:
            replies = await hook(session, contact, inbound)
            if replies is not None:
                return Outcome(replies=replies)
        state: dict[str, Any] = dict(contact.state or {}) or engine.initial_state(contact.language)
        before_answers = dict(state.get("answers") or {})
        before_code = state.get("code")
        school_id = await self._school_of(session, contact, state)
        ctx = self.context_of(school_id)
        result = engine.step(self.flow, state, inbound, ctx)
        if self.schools is not None and self.schools.multi:
            # an invitation code that arrived with this message names the school (consent text)
            after = await self._school_of(session, contact, result.state)
            if after is not None and after != school_id:
                ctx = self.context_of(after)
                result = engine.step(self.flow, state, inbound, ctx)
        replies: list[Reply] = []
        for _ in range(4):  # lookups feed back into the engine; a handful at most
            lookup = await self._apply(session, contact, result, before_code, replies)
            if lookup is None:
                break
            if lookup.alumnus and lookup.alumnus.get("school_id") is not None:
                ctx = self.context_of(lookup.alumnus["school_id"])
            result = engine.step(self.flow, result.state, lookup, ctx)
        replies.extend(result.replies)
        new_state = result.state
        card = new_state.get("alumnus")
        if isinstance(card, dict) and "school_id" not in card and school_id is not None:
            new_state["alumnus"] = {**card, "school_id": school_id}  # a state from before
        if contact.response_id is not None and new_state.get("stage") in ("q", "done"):
            await queries.sync_answers(
                session, contact.response_id, before_answers, new_state.get("answers") or {}
            )
            await queries.touch_response(
                session,
                contact.response_id,
                new_state.get("node"),
                (new_state.get("answers") or {}).get("status"),
            )
        contact.state = new_state
        contact.language = new_state.get("lang", contact.language)
        return Outcome(replies=replies, chosen_label=result.chosen_label)

    async def _apply(
        self,
        session: AsyncSession,
        contact: Contact,
        result: engine.Step,
        code_before: str | None,
        replies: list[Reply],
    ) -> LookupResult | None:
        """Carry out the engine's effects; return a LookupResult when it asked for one."""
        lookup: LookupResult | None = None
        for eff in result.effects:
            if isinstance(eff, engine.Lookup):
                lookup = await self._lookup(session, contact, eff)
            elif isinstance(eff, engine.Link):
                await self._link(session, contact, eff, code_before)
            elif isinstance(eff, engine.VacancyConsent):
                if contact.alumnus_id is not None:
                    await queries.update_alumnus(
                        session,
                        contact.alumnus_id,
                        consent_vacancies=eff.granted,
                        consent_vacancies_at=utcnow(),
                    )
            elif isinstance(eff, engine.Refused):
                contact.refused_at = utcnow()
                contact.alumnus_id = None
                contact.response_id = None
                if eff.code:  # their personal invitation: the graduate is known, so recorded
                    await queries.record_declined(session, eff.code, contact.id, contact.refused_at)
            elif isinstance(eff, engine.BeginResponse):
                if contact.alumnus_id is not None:
                    if contact.id is None:  # a contact created in this transaction
                        await session.flush()
                    contact.response_id = await queries.begin_response(
                        session, contact.alumnus_id, contact.id, contact.channel
                    )
            elif isinstance(eff, engine.Complete):
                if contact.response_id is not None:
                    await queries.complete_response(session, contact.response_id, eff.status)
                    # counted once committed (a batch may be rolled back and redone)
                    session.info.setdefault(COMPLETIONS, []).append(contact.channel)
            elif isinstance(eff, engine.ShowData):
                replies.append(Reply(text=await self._data_text(session, contact)))
            elif isinstance(eff, engine.DeleteData):
                alumnus = await self._alumnus(session, contact)
                if alumnus is not None:
                    await queries.delete_person_data(session, alumnus)
                contact.alumnus_id = None
                contact.response_id = None
                contact.refused_at = None
            elif isinstance(eff, engine.SetStop):
                if contact.alumnus_id is not None:
                    await queries.update_alumnus(
                        session, contact.alumnus_id, stopped_at=utcnow() if eff.stopped else None
                    )
            elif isinstance(eff, engine.SetLanguage):
                contact.language = eff.lang
        return lookup

    def context_of(self, school_id: int | None) -> Context:
        """The engine's Context for a person of this school (the default school's when None)."""
        ctx = self.context()
        if self.schools is None or school_id is None or school_id == self.schools.default_id:
            return ctx
        info = self.schools.get(school_id)
        return dataclasses.replace(ctx, school=info.name, zone=info.zone)

    async def _school_of(
        self, session: AsyncSession, contact: Contact, state: dict[str, Any]
    ) -> int | None:
        """The person's school: from the graduate card in the state (no query); in a
        multi-school deployment also from the linked roster row or the invitation code."""
        for key in ("alumnus", "candidate"):
            card = state.get(key)
            if isinstance(card, dict) and card.get("school_id") is not None:
                return int(card["school_id"])
        if self.schools is None or not self.schools.multi:
            return None
        if contact.alumnus_id is not None:
            school_id = (
                await session.execute(
                    select(Alumnus.school_id).where(Alumnus.id == contact.alumnus_id)
                )
            ).scalar_one_or_none()
        elif state.get("code"):
            school_id = await queries.school_of_code(session, str(state["code"]))
        else:
            return None
        if school_id is not None and school_id not in self.schools.by_id:
            await self.schools.refresh(self.db, force=True)
        return school_id

    async def _alumnus(self, session: AsyncSession, contact: Contact) -> Alumnus | None:
        return await session.get(Alumnus, contact.alumnus_id) if contact.alumnus_id else None

    async def _lookup(
        self, session: AsyncSession, contact: Contact, eff: engine.Lookup
    ) -> LookupResult:
        if eff.kind == "code" and eff.code:
            hit = await queries.find_by_code(session, None, eff.code)
            if hit is None:
                return LookupResult(False)
            card, used_at = hit
            # a code already used from another chat may have leaked: ask the birth date too
            needs_dob = used_at is not None and await queries.has_other_contacts(
                session, card["id"], contact.id
            )
            return LookupResult(True, card, needs_dob=needs_dob)
        if eff.kind == "nisn" and eff.nisn and eff.dob:
            card = await queries.find_by_nisn_dob(session, None, eff.nisn, eff.dob)
            return LookupResult(card is not None, card)
        if eff.kind == "dob" and eff.alumnus_id and eff.dob:
            card = await queries.card_if_born(session, eff.alumnus_id, eff.dob)
            return LookupResult(card is not None, card)
        if eff.kind == "phone" and contact.channel == "whatsapp":
            card = await queries.find_by_phone(session, None, contact.address)
            return LookupResult(card is not None, card)
        return LookupResult(False)

    async def _link(
        self, session: AsyncSession, contact: Contact, eff: engine.Link, code: str | None
    ) -> None:
        linked = await queries.update_alumnus(
            session,
            eff.alumnus_id,
            consent_tracer_at=datetime.fromisoformat(eff.consent_at),
            consent_version=self.consent_version,
            declined_at=None,  # agreed after all
            updated_at=utcnow(),
        )
        if not linked:  # no such graduate (deleted meanwhile)
            return
        contact.alumnus_id = eff.alumnus_id
        contact.refused_at = None
        if code:
            await queries.mark_code_used(session, code)

    async def _data_text(self, session: AsyncSession, contact: Contact) -> str:
        lang = (contact.state or {}).get("lang", contact.language)
        t = self.cat.t
        alumnus = await self._alumnus(session, contact)
        if alumnus is None:
            if contact.refused_at is not None:  # the refusal itself is what is kept
                zone = self.context_of(await self._school_of(session, contact, {})).zone
                when = contact.refused_at.astimezone(zone).strftime("%d-%m-%Y")
                return t("data.refused", lang, when=when)
            return t("data.none", lang)
        lines = [t("data.header", lang)]
        lines.append(
            t(
                "data.roster",
                lang,
                name=alumnus.name,
                nisn=alumnus.nisn,
                kelas=alumnus.kelas,
                jurusan=alumnus.jurusan,
                year=alumnus.graduation_year,
            )
        )
        yes, no = t("data.yes", lang), t("data.no", lang)
        vac = alumnus.consent_vacancies
        lines.append(
            t(
                "data.consent",
                lang,
                tracer=yes if alumnus.consent_tracer_at else no,
                vacancies=t("data.unknown", lang) if vac is None else (yes if vac else no),
                outreach=t("data.off", lang) if alumnus.stopped_at else t("data.on", lang),
            )
        )
        usernames = await queries.usernames_of(session, alumnus.id, contact)
        if usernames:
            handles = ", ".join(f"@{u}" for u in usernames)
            lines.append(t("data.username", lang, usernames=handles))
        current = await queries.latest_completed(session, alumnus.id)
        if current is not None:
            zone = self.context_of(alumnus.school_id).zone
            when = current.completed_at.astimezone(zone).strftime("%d-%m-%Y")
            lines.append(t("data.answers", lang, when=when))
            lines.extend(self.format_answers(await queries.answers_of(session, current.id), lang))
            earlier = await queries.count_completed(session, alumnus.id) - 1
            if earlier > 0:
                lines.append(t("data.history", lang, count=earlier))
        in_progress = (contact.state or {}).get("answers") or {}
        if (contact.state or {}).get("stage") == "q" and in_progress:
            lines.append(t("data.in_progress", lang, count=len(in_progress)))
        return "\n".join(lines)

    def format_answers(self, answers: dict[str, Any], lang: str) -> list[str]:
        """One line per answer, in the order of the person's branch, with choice labels."""
        out = []
        for node in self.flow.path(answers):
            if node.field not in answers:
                continue
            value = answers[node.field]
            if node.choices:
                known = self.flow.choice_sets[node.choices]
                codes = value if isinstance(value, list) else [value]
                shown = ", ".join(
                    self.flow.label(node.choices, c, lang) if c in known else str(c) for c in codes
                )
            else:
                shown = str(value)
            out.append(f"• {self.cat.t('field.' + node.field, lang)}: {shown}")
        return out

    def person_lock(self, channel: str, address: str) -> asyncio.Lock:
        """The in-process lock that orders work on one chat (outreach takes it too)."""
        return self._lock(channel, address)

    async def reopen_status(
        self, session: AsyncSession, contact: Contact, prefix: str | None = None
    ) -> list[Reply]:
        """Follow-up: re-open the status question as a new Response, in the caller's
        transaction (the caller holds `person_lock` and commits). Returns the prompt."""
        await queries.lock_address(session, contact.channel, contact.address)
        await session.refresh(contact)
        state = dict(contact.state or {})
        ctx = self.context_of(await self._school_of(session, contact, state))
        result = engine.reopen_status(self.flow, state, ctx, prefix)
        replies: list[Reply] = []
        await self._apply(session, contact, result, None, replies)
        contact.state = result.state
        contact.updated_at = utcnow()
        return replies + result.replies

    async def current_prompt(self, contact: Contact) -> Reply:
        card = (contact.state or {}).get("alumnus") or {}
        ctx = self.context_of(card.get("school_id") if isinstance(card, dict) else None)
        return engine.current_prompt(self.flow, contact.state or {}, ctx)


def remember_username(contact: Contact, inbound: Inbound) -> None:
    """The Telegram @username, for BKK staff to reach a graduate interested in a vacancy
    (t.me/<username>): kept only while the chat is linked to a graduate, as Telegram reports
    it with each message (a name the person removed is removed here too)."""
    if inbound.channel == "telegram":
        contact.username = inbound.username if contact.alumnus_id is not None else None


def is_text_command(inbound: Inbound, *names: str) -> bool:
    if inbound.kind != InputKind.TEXT:
        return False
    kw, _ = engine.keyword(inbound.text)
    return kw in names
