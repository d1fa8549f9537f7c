"""Scale-out: several `jejak run` worker processes on one PostgreSQL database share the work
safely; on SQLite a second `jejak run` refuses to start.

The PostgreSQL test starts two worker subprocesses (tests/worker_process.py = `bot.runner.start`)
with Telegram in webhook mode. The fake Bot API plays Telegram and a round-robin load balancer in
front of the workers: it delivers one chat's updates one at a time, in order (like Telegram),
each to the next worker in turn, and for some updates posts the same
update to both at once (a racing duplicate). Then a broadcast goes through both workers' outbox
dispatchers under a shared rate limit, which the fake Bot API enforces.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import os
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot import metrics
from bot.settings import Settings
from storage import migrate, outbox
from storage.db import Database
from storage.invitations import ensure_invitations
from storage.models import Alumnus, Answer, Contact, InboundEvent, OutboxMessage, School
from storage.models import Response as ResponseRow
from storage.roster import import_roster
from storage.schools import ensure_default_school
from tests.conftest import PG_AVAILABLE, PG_URL, _reset_postgres
from tests.fakes.telegram_api import FakeBotApi
from tests.test_telegram_e2e import BRANCHES

ROOT = Path(__file__).resolve().parent.parent
# conversations pushed through the two workers (the issue: "a few hundred")
PEOPLE = int(os.environ.get("JEJAK_SCALE_PEOPLE", "300"))
# outbox rows: everyone above plus 40 chats that never wrote (more than one dispatcher page of
# 200, so both workers claim)
BROADCAST = max(260, PEOPLE + 40)
RATE = 30  # Telegram's global limit (messages per second): the bot's setting, the fake enforces it
STEP_TIMEOUT = 45.0
DUPLICATE_EVERY = 5  # every 5th update is posted to both workers at once
SECRET = "scale-out-secret"
PUBLIC_URL = "https://bot.example.sch.id/webhooks/telegram"  # the load balancer, for Telegram
JEJAK = [sys.executable, "-c", "from bot.cli import main; main()"]  # the `jejak` command
ONBOARDING = [("tap", "Setuju"), ("tap", "Ya, benar"), ("tap", "Ya")]
THANKS = "Terima kasih, jawaban Anda sudah tersimpan"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Worker:
    """A worker subprocess; READY <port> on its stdout once it serves."""

    def __init__(self, env: dict[str, str], log: Path, cwd: Path = ROOT) -> None:
        self.log = log
        self._log_file = log.open("w")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "tests.worker_process"],
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            text=True,
        )
        self.port: int | None = None

    def wait_ready(self, timeout: float = 30.0) -> int:
        assert self.popen.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.popen.stdout.readline()
            if line.startswith("READY "):
                self.port = int(line.split()[1])
                return self.port
            if not line and self.popen.poll() is not None:
                break
        self.stop()
        raise AssertionError(f"worker did not start:\n{self.log.read_text()[-3000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> int | None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log_file.close()
        return self.popen.returncode


# ---- the fake Bot API with O(1) per-chat waiters ----------------------------------------
class ScaleBotApi(FakeBotApi):
    """Records each chat's sendMessage texts (and every send's time) on the server thread and
    wakes the one waiter of that chat; the fake's generic waiters are quadratic at this size."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chat_texts: dict[Any, list[str]] = defaultdict(list)
        self.send_times: list[float] = []
        self._waiters: dict[Any, tuple[asyncio.AbstractEventLoop, asyncio.Future, int]] = {}
        self.workers: list[str] = []  # webhook URLs behind the "load balancer"
        self._turn = itertools.count()
        self.forwarded: dict[str, int] = defaultdict(int)
        self.duplicated = 0
        self.failures: list[str] = []

    def expect(self, chat_id: int, total: int) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._lock:
            if len(self.chat_texts[chat_id]) >= total:
                fut.set_result(None)
            else:
                self._waiters[chat_id] = (loop, fut, total)
        return fut

    def _dispatch(self, method, handler, params, files):  # on the server thread, under no lock
        response = super()._dispatch(method, handler, params, files)
        if method == "sendMessage" and response.status == 200:
            chat_id = params.get("chat_id")
            with self._lock:
                self.send_times.append(time.monotonic())
                texts = self.chat_texts[chat_id]
                texts.append(params.get("text") or "")
                waiter = self._waiters.get(chat_id)
                if waiter is not None and len(texts) >= waiter[2]:
                    del self._waiters[chat_id]
                    waiter[0].call_soon_threadsafe(_resolve, waiter[1])
        return response

    # webhook delivery through a load balancer: the fake's own per-chat lanes (one update of a
    # chat in flight at a time, the next only after a 2xx answer), but each POST goes to the next
    # worker in turn, and every DUPLICATE_EVERY-th update to all workers at once (racing)
    async def _deliver_one(self, lane: Any, entry: Any) -> None:
        assert self._wh_sem is not None and self._wh_client is not None
        with self._lock:
            secret = self._webhook.secret_token
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        if entry.update_id % DUPLICATE_EVERY == 0:
            targets = list(self.workers)
            self.duplicated += 1
        else:
            targets = [self.workers[next(self._turn) % len(self.workers)]]
        async with self._wh_sem:
            answers = await asyncio.gather(
                *(self._wh_client.post(t, json=entry.update, headers=headers) for t in targets),
                return_exceptions=True,
            )
        ok = True
        for target, answer in zip(targets, answers, strict=True):
            self.forwarded[target] += 1
            if isinstance(answer, BaseException) or answer.status_code != 200:
                ok = False
                self.failures.append(f"{entry.update_id} -> {target}: {answer!r}")
        with self._lock:
            self.webhook_deliveries.append({"update_id": entry.update_id, "ok": ok})
            self._wh_lanes_busy.discard(lane)
            if ok:
                with contextlib.suppress(ValueError):
                    self._queue.remove(entry)
            else:
                entry.delivered = False
            self._changed()
        if not ok:
            await asyncio.sleep(self.webhook_retry_delay)
        self._webhook_pump()


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


# ---- helpers ---------------------------------------------------------------------------------
def write_roster(path: Path, n: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(
            ["nisn", "nama", "tanggal_lahir", "kelas", "jurusan", "tahun_lulus", "wali_kelas"]
        )
        for i in range(n):
            nisn = f"{82000000 + i:010d}"
            w.writerow([nisn, f"Siswa {i}", "14/03/2007", "XII TKJ 1", "TKJ", "2025", ""])


def segments(steps: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Consecutive typed answers form one burst (pushed without waiting for the replies);
    a tap waits for the keyboard it taps, so it goes alone."""
    out: list[list[tuple[str, str]]] = []
    for how, value in steps:
        if how == "send" and out and out[-1][0][0] == "send":
            out[-1].append((how, value))
        else:
            out.append([(how, value)])
    return out


async def scrape(url: str) -> dict:
    async with httpx.AsyncClient() as client:
        resp = await client.get(f"{url}/metrics")
        resp.raise_for_status()
        return metrics.parse(resp.text)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return round((int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK"), 1)


def max_in_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.fixture
async def pg_db(pg_session_url):
    if not PG_AVAILABLE or pg_session_url is None:
        if os.environ.get("JEJAK_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but not reachable at {PG_URL}")
        pytest.skip(f"no PostgreSQL reachable at {PG_URL} (set JEJAK_TEST_POSTGRES_URL)")
    await _reset_postgres(pg_session_url)
    database = Database(pg_session_url)
    await migrate.upgrade(database)
    yield database, pg_session_url
    await database.dispose()


@pytest.mark.postgres
@pytest.mark.slow
async def test_two_workers_share_conversations_and_a_broadcast(pg_db, tmp_path):
    db, url = pg_db
    settings = Settings(
        _env_file=None, database_url=url, school_name="SMK Skala", school_npsn="20100777"
    )
    school = await ensure_default_school(db, settings, update=False)
    roster = tmp_path / "roster.csv"
    write_roster(roster, PEOPLE)
    await import_roster(db, school.id, roster)
    codes = [c for _, c in sorted(await ensure_invitations(db, school.id), key=lambda x: x[0].nisn)]
    assert len(codes) == PEOPLE

    api = ScaleBotApi().start()
    workers: list[Worker] = []
    try:
        env = {
            "DATABASE_URL": url,
            "SCHOOL_NAME": "SMK Skala",
            "SCHOOL_NPSN": "20100777",
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_URL": api.url,
            "TELEGRAM_WEBHOOK_URL": PUBLIC_URL,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_RATE_PER_SECOND": str(RATE),
            "QUIET_HOURS_START": "00:00",
            "QUIET_HOURS_END": "00:00",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": "0",
        }
        workers = [Worker(env, tmp_path / f"worker{i}.log") for i in range(2)]
        for w in workers:
            w.wait_ready()
        assert api.webhook["url"] == PUBLIC_URL and api.webhook["secret_token"] == SECRET
        api.workers = [f"{w.url}/webhooks/telegram" for w in workers]

        # ---- a few hundred conversations, alternating workers, with racing duplicates ----
        names = list(BRANCHES)
        plans = []
        for i, code in enumerate(codes):
            branch = names[i % len(names)]
            steps = [("send", f"/start {code}"), *ONBOARDING, *BRANCHES[branch][0]]
            plans.append((9_000_000 + i, branch, steps))
        pushed_updates = 0

        async def converse(chat_id: int, steps: list[tuple[str, str]]) -> None:
            nonlocal pushed_updates
            done = 0
            for segment in segments(steps):
                for how, value in segment:
                    if how == "send":
                        api.push_text(chat_id, value)
                    else:
                        api.tap(chat_id, value)
                    pushed_updates += 1
                done += len(segment)
                try:
                    await asyncio.wait_for(api.expect(chat_id, done), STEP_TIMEOUT)
                except TimeoutError:
                    raise AssertionError(
                        f"chat {chat_id}: no reply to {segment} within {STEP_TIMEOUT}s; "
                        f"got {api.chat_texts[chat_id][-3:]}; {pushed_updates} updates pushed, "
                        f"{sum(api.forwarded.values())} forwarded, failures "
                        f"{api.failures[:3]}"
                    ) from None

        started = time.monotonic()
        await asyncio.gather(*(converse(chat_id, steps) for chat_id, _, steps in plans))
        conversation_seconds = time.monotonic() - started

        assert not api.failures, api.failures[:5]
        assert api.duplicated > 0
        # every reply exactly once, in order: one message per step, the last one the thanks
        for chat_id, branch, steps in plans:
            texts = api.chat_texts[chat_id]
            assert len(texts) == len(steps), (chat_id, branch, texts)
            assert THANKS in texts[-1], (chat_id, branch, texts[-3:])
            assert not any("tidak ada di pilihan" in t for t in texts), (chat_id, texts)

        async with db.session() as s:
            assert (
                await s.execute(select(func.count()).select_from(InboundEvent))
            ).scalar_one() == (pushed_updates)
            responses = (
                await s.execute(
                    select(
                        Alumnus.nisn, ResponseRow.id, ResponseRow.status, ResponseRow.completed_at
                    )
                    .join(ResponseRow, ResponseRow.alumnus_id == Alumnus.id)
                    .order_by(Alumnus.nisn)
                )
            ).all()
            answers: dict[int, dict[str, Any]] = defaultdict(dict)
            for response_id, field_name, value in (
                await s.execute(select(Answer.response_id, Answer.field, Answer.value))
            ).all():
                answers[response_id][field_name] = value
        assert len(responses) == PEOPLE  # one pass per person: nothing doubled
        for i, (nisn, response_id, status, completed_at) in enumerate(responses):
            branch = names[i % len(names)]
            assert nisn == f"{82000000 + i:010d}"
            assert completed_at is not None and status == branch
            assert answers[response_id] == BRANCHES[branch][1], (nisn, branch)

        per_worker = [await scrape(w.url) for w in workers]
        processed = [
            metrics.sample(m, "jejak_updates_total", channel="telegram", outcome="processed")
            for m in per_worker
        ]
        duplicates = [
            metrics.sample(m, "jejak_updates_total", channel="telegram", outcome="duplicate")
            for m in per_worker
        ]
        assert all(p > PEOPLE for p in processed), processed  # both did a fair share
        assert sum(processed) == pushed_updates
        assert sum(duplicates) == api.duplicated
        completions = [
            metrics.sample(m, "jejak_questionnaire_completions_total", channel="telegram")
            for m in per_worker
        ]
        assert sum(completions) == PEOPLE

        # ---- a broadcast through both workers' dispatchers, one shared rate limit ----
        # a 2-second window (60 per 2 s) tolerates a few tens of ms of scheduling jitter on a
        # busy machine; two workers each pacing itself at RATE would send about twice that
        api.set_limits(enabled=True, global_per_second=2 * RATE, per_chat_per_second=2, window=2.0)
        sends_before = len(api.send_times)
        async with db.session() as s:
            contacts = {
                c.address: c
                for c in (await s.execute(select(Contact).where(Contact.channel == "telegram")))
                .scalars()
                .all()
            }
            rows = []
            for i in range(BROADCAST):
                address = str(9_000_000 + i) if i < PEOPLE else str(9_500_000 + i)
                contact = contacts.get(address)
                rows.append(
                    {
                        "school_id": school.id,
                        "purpose": "notice",
                        "idempotency_key": f"scale-notice:{address}",
                        "channel": "telegram",
                        "address": address,
                        "contact_id": contact.id if contact else None,
                        "alumnus_id": contact.alumnus_id if contact else None,
                        "payload": {"text": f"Info BKK {i}: bursa kerja Sabtu ini."},
                    }
                )
            assert await outbox.enqueue(s, rows) == BROADCAST
            await s.commit()
        started = time.monotonic()

        async def broadcast_done() -> bool:
            async with db.session() as s:
                pending = (
                    await s.execute(
                        select(func.count())
                        .select_from(OutboxMessage)
                        .where(OutboxMessage.status.in_(("pending", "sending")))
                    )
                ).scalar_one()
            return pending == 0

        while not await broadcast_done():
            assert time.monotonic() - started < 40, "broadcast did not finish"
            await asyncio.sleep(0.25)
        broadcast_seconds = time.monotonic() - started

        async with db.session() as s:
            by_status = dict(
                (
                    await s.execute(
                        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                    )
                ).all()
            )
            claimers = (
                await s.execute(
                    select(OutboxMessage.claimed_by, func.count()).group_by(
                        OutboxMessage.claimed_by
                    )
                )
            ).all()
        assert by_status == {"sent": BROADCAST}, by_status
        assert len(claimers) == 2, claimers  # both workers' dispatchers took a share
        notices = defaultdict(int)
        for chat_id, texts in list(api.chat_texts.items()):
            notices[chat_id] += sum(1 for t in texts if t.startswith("Info BKK"))
        assert len(notices) >= BROADCAST and set(notices.values()) == {1}  # no duplicate sends
        broadcast_times = api.send_times[sends_before:]
        assert len(broadcast_times) == BROADCAST
        # Overall the two workers keep to one RATE, not RATE each (that would be ~2 * RATE and
        # dozens of 429s). Short bursts over it do occur on a loaded machine: a worker stalled
        # for a few hundred ms sends its reserved slots late, on top of the other's (measured at
        # load average 6 on 2 cores: up to 40 sends in one second, a few 429s from a 60-per-2-s
        # window, which the dispatcher answers by pausing and retrying). Hence the tolerances.
        span = broadcast_times[-1] - broadcast_times[0]
        assert (BROADCAST - 1) / span <= RATE * 1.02
        assert max_in_window(broadcast_times, 2.0) <= 2 * RATE * 1.25
        assert api.too_many_requests <= BROADCAST * 0.03
        cpu = [cpu_seconds(w.popen.pid) for w in workers]
        print(
            f"\ncpu: test process {time.process_time():.1f}s, workers {cpu}; "
            f"429s {api.too_many_requests}"
        )
        print(
            f"\nscale-out: {PEOPLE} conversations, {pushed_updates} updates "
            f"({api.duplicated} posted twice) in {conversation_seconds:.1f}s; "
            f"processed per worker {processed}; broadcast {BROADCAST} in "
            f"{broadcast_seconds:.1f}s, at most {max_in_window(broadcast_times)} in 1 s, "
            f"{max_in_window(broadcast_times, 2.0)} in 2 s"
        )
    finally:
        codes_seen = [w.stop() for w in workers]
        api.stop()
    assert codes_seen == [0, 0], [w.log.read_text()[-2000:] for w in workers]
    for w in workers:
        log = w.log.read_text()
        assert "Traceback" not in log, log[-3000:]


# ---- SQLite: one process ------------------------------------------------------------------
def test_a_second_jejak_run_on_one_sqlite_database_refuses(tmp_path):
    db_file = tmp_path / "data" / "jejak.db"
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{db_file}",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": "0",
        "SCHOOL_NPSN": "20100888",
    }
    first = Worker(env, tmp_path / "first.log", cwd=tmp_path)
    second = None
    try:
        first.wait_ready()
        second = subprocess.run(
            [*JEJAK, "run"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode != 0
        assert "already using the SQLite database" in second.stderr, second.stderr
        assert str(first.popen.pid) in second.stderr
        assert "PostgreSQL" in second.stderr
        # short CLI commands still work next to the running bot
        roster = tmp_path / "roster.csv"
        write_roster(roster, 3)
        imported = subprocess.run(
            [*JEJAK, "roster", "import", str(roster)],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert imported.returncode == 0, imported.stderr
        # the first one is still serving
        assert httpx.get(f"{first.url}/healthz").status_code == 200
    finally:
        assert first.stop() == 0
    # the lock goes with its process: now a new one starts
    again = Worker(env, tmp_path / "again.log", cwd=tmp_path)
    try:
        again.wait_ready()
    finally:
        assert again.stop() == 0


def _enqueue_notice(url: str, chat: str) -> None:
    async def go() -> None:
        db = Database(url)
        try:
            async with db.session() as s:
                school = (await s.execute(select(School))).scalars().one()
                row = {
                    "school_id": school.id,
                    "purpose": "notice",
                    "idempotency_key": f"tick-notice:{chat}",
                    "channel": "telegram",
                    "address": chat,
                    "payload": {"text": "Info BKK: bursa kerja Sabtu ini."},
                }
                assert await outbox.enqueue(s, [row]) == 1
                await s.commit()
        finally:
            await db.dispose()

    asyncio.run(go())


def test_outreach_tick_refuses_next_to_jejak_run_on_sqlite(tmp_path):
    """`jejak outreach tick` sends from its own process: on SQLite (rate limits per process) it
    takes the run lock, so next to `jejak run` it sends nothing and exits non-zero; alone, it
    sends. A tick that finds another tick running skips quietly, and `jejak run` names it."""
    db_file = tmp_path / "data" / "jejak.db"
    url = f"sqlite+aiosqlite:///{db_file}"
    run_env = {
        "DATABASE_URL": url,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": "0",
        "SCHOOL_NPSN": "20100888",
        "QUIET_HOURS_START": "00:00",
        "QUIET_HOURS_END": "00:00",
        "TELEGRAM_BOT_TOKEN": "",  # the bot itself sends nothing to Telegram here
        "WHATSAPP_ACCESS_TOKEN": "",
        "JEJAK_ENV_FILE": "",
    }

    def jejak(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*JEJAK, *args],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "300", **run_env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )

    with FakeBotApi() as api:
        telegram = {"TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_URL": api.url}
        first = Worker(run_env, tmp_path / "run.log", cwd=tmp_path)
        try:
            first.wait_ready()
            _enqueue_notice(url, "9100001")
            refused = jejak("outreach", "tick", **telegram)
            assert refused.returncode == 1, refused.stdout + refused.stderr
            message = " ".join(refused.stderr.split())
            assert f"`jejak run` (pid {first.popen.pid}) is running on the SQLite database" in (
                message
            )
            assert "only for setups without `jejak run`" in message
            assert "nothing was done" in message
            assert api.texts(9100001) == []
            assert httpx.get(f"{first.url}/healthz").status_code == 200
        finally:
            assert first.stop() == 0
        alone = jejak("outreach", "tick", **telegram)
        assert alone.returncode == 0, alone.stderr
        assert "Dispatched: 1 sent" in alone.stdout
        assert api.texts(9100001) == ["Info BKK: bursa kerja Sabtu ini."]

        # a tick still running (cron started the next one early): skipped, exit 0
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from storage import process_lock; "
                f"lock = process_lock.acquire({url!r}, holder=process_lock.TICK); "
                "print('HELD', flush=True); sys.stdin.read()",
            ],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "HELD"
            _enqueue_notice(url, "9100002")
            skipped = jejak("outreach", "tick", **telegram)
            assert skipped.returncode == 0, skipped.stderr
            assert f"another `jejak outreach tick` (pid {holder.pid}) is still" in " ".join(
                skipped.stdout.split()
            )
            assert api.texts(9100002) == []
            # and `jejak run` says which command holds the database
            blocked = Worker(run_env, tmp_path / "blocked.log", cwd=tmp_path)
            assert blocked.popen.wait(30) == 3
            blocked.stop()
            log = " ".join(blocked.log.read_text().split())
            assert f"another `jejak outreach tick` (pid {holder.pid}) is already using" in log
        finally:
            holder.communicate("", timeout=10)


def test_postgres_and_memory_databases_take_no_file_lock(tmp_path):
    from storage import process_lock

    assert process_lock.acquire("postgresql://u@127.0.0.1/x") is None
    assert process_lock.acquire("sqlite+aiosqlite:///:memory:") is None
    lock = process_lock.acquire(f"sqlite:///{tmp_path}/a.db")
    assert lock is not None and lock.path == (tmp_path / "a.db.lock").resolve()
    with pytest.raises(process_lock.AlreadyRunning, match=str(os.getpid())):
        process_lock.acquire(f"sqlite+aiosqlite:///{tmp_path}/a.db")
    lock.release()
    process_lock.acquire(f"sqlite:///{tmp_path}/a.db").release()
