"""Inbound throughput benchmark: N simulated people answer the whole questionnaire through the
fake Telegram Bot API server, against Jejak (one worker subprocess) on SQLite and PostgreSQL,
next to a bare python-telegram-bot echo bot (subprocess) driven the same way.

    .venv/bin/python bench/inbound_bench.py                    # everything, ~2-3 minutes
    .venv/bin/python bench/inbound_bench.py --only echo,sqlite --people 300
    .venv/bin/python bench/inbound_bench.py --only sqlite --profile bench/results/prof

Scenarios (`--only`, comma separated):
  echo         bare PTB echo bot, closed loop (every person waits for the reply, like a human)
  echo-rate    the same at a fixed offered load (`--rate`, default 200 updates/s)
  echo-aio     the echo bot on Jejak's own PTB set-up: the aiohttp transport and
               concurrent_updates(--telegram-concurrency, default 32)
  sqlite       Jejak on SQLite, closed loop
  sqlite-rate  Jejak on SQLite at the fixed offered load
  pg           Jejak on PostgreSQL (one worker), closed loop
  pg-rate      Jejak on PostgreSQL at the fixed offered load
  pg2          two Jejak workers on one PostgreSQL database, closed loop. Telegram long polling
               allows one getUpdates caller per bot, so each worker polls its own bot (its own
               fake server and token) and half of the people talk to each; this is the same
               split a webhook load balancer would make.
  sqlite-wh, sqlite-wh-rate, pg-wh, pg-wh-rate
               the same in Telegram webhook mode: the fake posts each update to the worker's
               own HTTP server (bot/web.py, as `jejak run` serves it), which answers once the
               update is handled; no getUpdates round trip
  pg2-wh       two Jejak workers in webhook mode behind a round-robin load balancer played by
               the fake (one bot, one token; one update per chat in flight, as Telegram does)

Each person: deep link (/start CODE), consent, confirm, vacancy consent, status and the whole
branch (the six branches in turn); each update is pushed only after the bot's reply to the
previous one arrived at the fake server. Latency = push -> that reply received by the fake.
Afterwards the database is checked: every person has a completed response with the branch's
status. Peak memory = VmHWM of the bot subprocess. Results: a table on stdout and a JSON file in
bench/results/. Only 127.0.0.1 is used; every scenario is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from bot.app import build_core  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.invitations import ensure_invitations  # noqa: E402
from storage.models import Response  # noqa: E402
from storage.roster import import_roster  # noqa: E402
from tests.fakes.telegram_api import FakeBotApi  # noqa: E402

try:
    import psutil
except ImportError:  # optional (pip install -e '.[bench]')
    psutil = None

PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "jejak_bench"
STEP_TIMEOUT = 30.0  # one reply
RESULTS = ROOT / "bench" / "results"

ONBOARDING = [("tap", "Setuju"), ("tap", "Ya, benar"), ("tap", "Ya")]
BRANCHES: dict[str, list[tuple[str, str]]] = {
    "bekerja": [
        ("tap", "1. Bekerja"),
        ("send", "PT Maju Jaya"),
        ("send", "Teknisi Jaringan"),
        ("tap", "1. Perusahaan swasta"),
        ("send", "2"),
        ("send", "07/2025"),
        ("send", "pkl"),
        ("send", "lewati"),
        ("send", "sangat sesuai"),
        ("send", "Praktik lebih banyak"),
    ],
    "wirausaha": [
        ("send", "usaha"),
        ("send", "Servis HP"),
        ("send", "Maret 2025"),
        ("send", "sendiri"),
        ("tap", "Rp2–3 juta"),  # range questions show no option numbers
        ("tap", "2. Sesuai"),
        ("send", "LEWATI"),
    ],
    "melanjutkan": [
        ("send", "KULIAH"),
        ("send", "Politeknik Negeri Jakarta"),
        ("send", "Teknik Informatika"),
        ("send", "d3"),
        ("tap", "Ya, sejalan"),
        ("send", "lewati"),
    ],
    "kursus": [
        ("tap", "4. Kursus / pelatihan"),
        ("send", "BLK Bekasi"),
        ("send", "Pengelasan"),
        ("send", "luar negeri"),
        ("send", "lewati"),
    ],
    "mencari_kerja": [
        ("send", "5"),
        ("send", "3"),
        ("send", "1, 3"),
        ("send", "tidak"),
        ("send", "lewati"),
    ],
    "tidak_mencari": [("send", "6"), ("send", "sakit"), ("send", "lewati")],
}
BRANCH_NAMES = list(BRANCHES)
THANKS = "Terima kasih, jawaban Anda sudah tersimpan"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- the fake server with per-chat reply waiters ----
class BenchBotApi(FakeBotApi):
    """FakeBotApi that resolves one waiter per chat on each successful sendMessage.

    The fake's own waiters wake every waiter on every change (fine for tests, quadratic with
    hundreds of concurrent people); this hook is O(1) per message.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiters: dict[Any, tuple[asyncio.AbstractEventLoop, asyncio.Future]] = {}
        self.unexpected = 0

    def expect(self, chat_id: int) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._waiters[chat_id] = (loop, fut)
        return fut

    def forget(self, chat_id: int) -> None:
        self._waiters.pop(chat_id, None)

    def _dispatch(self, method, handler, params, files):  # runs on the server thread
        response = super()._dispatch(method, handler, params, files)
        if method == "sendMessage" and response.status == 200:
            seen = time.monotonic()
            waiter = self._waiters.pop(params.get("chat_id"), None)
            if waiter is None:
                self.unexpected += 1
            else:
                loop, fut = waiter
                loop.call_soon_threadsafe(_resolve, fut, (seen, params.get("text") or ""))
        return response

    # webhook deliveries over aiohttp: httpx's pool costs the bench process ~0.3 ms of CPU per
    # delivery (the same overhead Jejak's own Telegram transport avoids), which on 2 shared
    # cores would be taken from the workers being measured
    _aio: Any = None

    async def _wh_post(self, url: str, update: dict, headers: dict[str, str]) -> int:
        import aiohttp

        if self._aio is None:
            self._aio = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=30)
            )
        async with self._aio.post(url, json=update, headers=headers) as response:
            await response.read()
            return response.status

    async def _on_shutdown(self) -> None:
        if self._aio is not None:
            await self._aio.close()
            self._aio = None
        await super()._on_shutdown()


def _resolve(fut: asyncio.Future, value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


# ---- people ----
@dataclass
class Person:
    api: BenchBotApi
    chat_id: int
    steps: list[tuple[str, str]]
    branch: str
    echo: bool
    position: int = 0
    last_text: str = ""
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.position >= len(self.steps) or self.error is not None

    async def step(self, latencies: list[float]) -> None:
        how, value = self.steps[self.position]
        fut = self.api.expect(self.chat_id)
        started = time.monotonic()
        try:
            if how == "send":
                self.api.push_text(self.chat_id, value)
            elif self.echo:
                self.api.push_callback(self.chat_id, "echo:ok")
            else:
                self.api.tap(self.chat_id, value)
            seen, text = await asyncio.wait_for(fut, STEP_TIMEOUT)
        except (AssertionError, TimeoutError) as exc:
            self.api.forget(self.chat_id)
            self.error = f"step {self.position} {how} {value!r}: {type(exc).__name__}: {exc}"[:300]
            return
        latencies.append(seen - started)
        self.last_text = text
        self.position += 1


def make_people(api: BenchBotApi, codes: list[str], first_chat: int, echo: bool) -> list[Person]:
    people = []
    for i, code in enumerate(codes):
        branch = BRANCH_NAMES[i % len(BRANCH_NAMES)]
        steps = [("send", f"/start {code}"), *ONBOARDING, *BRANCHES[branch]]
        people.append(Person(api, first_chat + i, steps, branch, echo))
    return people


@dataclass
class Run:
    updates: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    completed_chats: int = 0
    errors: list[str] = field(default_factory=list)
    missed_slots: int = 0


async def closed_loop(people: list[Person], max_seconds: float) -> Run:
    """Everyone at once; each person sends the next answer as soon as the reply arrived."""
    run = Run()

    async def one(person: Person) -> None:
        while not person.done:
            await person.step(run.latencies)

    started = time.monotonic()
    tasks = [asyncio.create_task(one(p)) for p in people]
    _, pending = await asyncio.wait(tasks, timeout=max_seconds)
    for task in pending:
        task.cancel()
    run.seconds = time.monotonic() - started
    return _finish(run, people)


async def fixed_rate(people: list[Person], rate: float, max_seconds: float) -> Run:
    """Open loop at `rate` updates/s: each tick gives the next answer of a person whose previous
    reply has arrived (FIFO); a tick with nobody ready is counted as missed."""
    run = Run()
    ready: deque[Person] = deque(people)
    inflight: set[asyncio.Task] = set()

    async def step(person: Person) -> None:
        await person.step(run.latencies)
        if not person.done:
            ready.append(person)

    loop = asyncio.get_running_loop()
    started = loop.time()
    interval = 1.0 / rate
    tick = 0
    while loop.time() - started < max_seconds:
        if not ready and not inflight and all(p.done for p in people):
            break
        due = started + tick * interval
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tick += 1
        if not ready:
            run.missed_slots += 1
            continue
        task = asyncio.create_task(step(ready.popleft()))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    if inflight:
        await asyncio.wait(inflight, timeout=STEP_TIMEOUT)
    run.seconds = loop.time() - started
    return _finish(run, people)


def _finish(run: Run, people: list[Person]) -> Run:
    run.updates = len(run.latencies)
    for p in people:
        if p.error:
            run.errors.append(f"chat {p.chat_id} ({p.branch}): {p.error}")
        elif p.position >= len(p.steps) and (p.echo or THANKS in p.last_text):
            run.completed_chats += 1
        elif p.position >= len(p.steps):
            run.errors.append(f"chat {p.chat_id} ({p.branch}): last reply {p.last_text[:80]!r}")
    return run


# ---- subprocesses ----
class Proc:
    """A bot subprocess; READY on its stdout means it is polling."""

    def __init__(self, argv: list[str], env: dict[str, str], name: str) -> None:
        self.name = name
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix=f"bench-{name}-", suffix=".log", delete=False
        )
        self.popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.ps = psutil.Process(self.popen.pid) if psutil else None
        self.cpu_start = 0.0

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        assert self.popen.stdout is not None
        while time.monotonic() < deadline:
            line = self.popen.stdout.readline()
            if line.strip() == "READY":
                return
            if not line and self.popen.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"{self.name} did not start; see {self.log.name}")

    def cpu_split(self) -> tuple[float, float]:
        """(user, system) CPU seconds of the process so far."""
        if self.ps is not None:
            t = self.ps.cpu_times()
            return t.user, t.system
        with open(f"/proc/{self.popen.pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(parts[11]) / tick, int(parts[12]) / tick

    def cpu_seconds(self) -> float:
        return sum(self.cpu_split())

    def peak_rss_mb(self) -> float | None:
        try:
            with open(f"/proc/{self.popen.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        if self.ps is not None:
            return self.ps.memory_info().rss / 2**20
        return None

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        if os.environ.get("BENCH_TIMING"):
            with open(self.log.name) as f:
                print("".join(line for line in f if line.startswith("TIMING")), end="")


# ---- databases ----
def write_roster(path: Path, n: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=";")
        w.writerow(
            [
                "nisn",
                "nama",
                "tanggal_lahir",
                "jenis_kelamin",
                "kelas",
                "jurusan",
                "tahun_lulus",
                "wali_kelas",
                "no_hp",
            ]
        )
        for i in range(n):
            kelas = f"XII TKJ {i % 8 + 1}"
            nisn = f"{81000000 + i:010d}"
            w.writerow([nisn, f"Siswa {i}", "14/03/2007", "L", kelas, "TKJ", "2025", "", ""])


def bench_settings(db_url: str, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,
        database_url=db_url,
        school_name="SMK Bench",
        school_npsn="20100099",
        **extra,
    )


async def prepare_database(db_url: str, n: int, workdir: Path) -> list[str]:
    """Migrate, import a roster of n graduates, create their codes; returns the codes."""
    if db_url.startswith("postgresql"):
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{PG_DB}"')
        finally:
            await conn.close()
    roster = workdir / "roster.csv"
    write_roster(roster, n)
    core = await build_core(bench_settings(db_url))
    try:
        report = await import_roster(core.db, core.school.id, roster)
        invites = await ensure_invitations(core.db, core.school.id)
    finally:
        await core.close()
    codes = [code for _, code in sorted(invites, key=lambda ac: ac[0].nisn)]
    assert len(codes) == n, (report, len(codes))
    return codes


async def count_completed(db_url: str) -> dict[str, int]:
    core = await build_core(bench_settings(db_url), apply_migrations=False)
    try:
        async with core.db.session() as s:
            rows = await s.execute(
                select(Response.status, func.count())
                .where(Response.completed_at.is_not(None))
                .group_by(Response.status)
            )
            return {status: count for status, count in rows.all()}
    finally:
        await core.close()


def pg_url() -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{PG_DB}"


def start_py_spy(pid: int, output: Path) -> subprocess.Popen:
    """Sample the worker (py-spy, from the `bench` extra) into collapsed stacks at `output`."""
    output.parent.mkdir(parents=True, exist_ok=True)
    spy_bin = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [spy_bin, "record", "--pid", str(pid), "--format", "raw", "--rate", "200"]
    argv += ["--output", str(output), "--nonblocking"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def write_report(report: dict, output: Path | None) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = output or RESULTS / f"inbound-{time.strftime('%Y%m%d-%H%M%S')}.json"
    Path(out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return Path(out)


# ---- scenarios ----
def summary(name: str, run: Run, procs: list[Proc], cpu: list[float], extra: dict) -> dict:
    lat = sorted(run.latencies)

    def pct(q: float) -> float | None:
        if not lat:
            return None
        return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 1)

    out = {
        "scenario": name,
        "people": extra.pop("people"),
        "updates": run.updates,
        "seconds": round(run.seconds, 2),
        "updates_per_s": round(run.updates / run.seconds, 1) if run.seconds else 0,
        "completed": run.completed_chats,
        "completed_per_s": round(run.completed_chats / run.seconds, 2) if run.seconds else 0,
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 1) if lat else None,
        "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
        "peak_rss_mb": [round(p.peak_rss_mb() or 0, 1) for p in procs],
        "bot_cpu_percent": [round(100 * c / run.seconds, 0) for c in cpu] if run.seconds else [],
        # the bot process(es)' CPU time per update handled: the cost, whatever the machine load
        "bot_cpu_ms_per_update": round(1000 * sum(cpu) / len(run.latencies), 2)
        if run.latencies
        else None,
        "errors": len(run.errors),
        "error_samples": run.errors[:5],
        "missed_slots": run.missed_slots,
    }
    out.update(extra)
    return out


async def scenario(
    name: str,
    *,
    kind: str,  # "echo" | "jejak"
    people_n: int,
    db_url: str | None,
    workers: int,
    rate: float | None,
    webhook: bool = False,
    max_seconds: float,
    workdir: Path,
    echo_concurrency: int,
    telegram_concurrency: int | None,
    profile: Path | None,
    jejak_root: Path | None = None,
) -> dict:
    codes = (
        await prepare_database(db_url, people_n, workdir)
        if kind == "jejak"
        else ["echo"] * people_n
    )
    # polling: one bot (fake server, token) per worker; webhook: one bot, the fake balances
    apis = [
        BenchBotApi(token=f"{700000 + w}:BENCH-TOKEN").start()
        for w in range(1 if webhook else workers)
    ]
    for w, api in enumerate(apis):
        # one database, two bots: keep update_ids distinct (the inbound dedupe key is
        # (channel, update_id), as with one bot behind a webhook load balancer)
        api._next_update_id = 100_001 + w * 10_000_000
    ports = [free_port() for _ in range(workers)] if webhook else []
    if webhook:
        apis[0].webhook_targets = [f"http://127.0.0.1:{p}/webhooks/telegram" for p in ports]
    procs: list[Proc] = []
    spy: subprocess.Popen | None = None
    try:
        for w in range(workers):
            api = apis[0] if webhook else apis[w]
            if kind == "echo":
                argv = [sys.executable, "bench/echo_bot.py", "--api-url", api.url]
                argv += ["--token", api.token]
                if name.startswith("echo-aio"):  # Jejak's transport and concurrency
                    argv += ["--http", "aiohttp", "--concurrency", str(telegram_concurrency or 32)]
                else:  # PTB as it comes
                    argv += ["--concurrency", str(echo_concurrency)]
                env: dict[str, str] = {}
            else:
                argv = [sys.executable, "bench/jejak_worker.py"]
                env = {
                    "DATABASE_URL": db_url or "",
                    "TELEGRAM_BOT_TOKEN": api.token,
                    "TELEGRAM_API_URL": api.url,
                    "SCHOOL_NAME": "SMK Bench",
                    "SCHOOL_NPSN": "20100099",
                }
                if os.environ.get("BENCH_TIMING"):
                    env["BENCH_TIMING"] = "1"
                if jejak_root:
                    env["JEJAK_ROOT"] = str(jejak_root)
                if telegram_concurrency:
                    env["TELEGRAM_CONCURRENCY"] = str(telegram_concurrency)
                if webhook:  # registered with the fake; deliveries go to `webhook_targets`
                    env["TELEGRAM_WEBHOOK_URL"] = "https://bench.invalid/webhooks/telegram"
                    env["TELEGRAM_WEBHOOK_SECRET"] = "bench-webhook-secret"
                    env["BENCH_WEBHOOK_PORT"] = str(ports[w])
            if os.environ.get("BENCH_CPROFILE"):  # a folder: cProfile output per bot process
                out = Path(os.environ["BENCH_CPROFILE"]) / f"{name}-{w}.prof"
                out.parent.mkdir(parents=True, exist_ok=True)
                argv[1:1] = ["-m", "cProfile", "-o", str(out)]
            procs.append(Proc(argv, env, f"{name}-{w}"))
        for p in procs:
            p.wait_ready()
        people: list[Person] = []
        share = (len(codes) + len(apis) - 1) // len(apis)
        for w, api in enumerate(apis):
            part = codes[w * share : (w + 1) * share]
            people += make_people(api, part, 10_000_000 + w * 1_000_000, kind == "echo")
        if profile is not None and kind == "jejak":
            spy = start_py_spy(procs[0].popen.pid, profile / f"{name}.txt")
            await asyncio.sleep(1.0)
        load_before = loadavg()
        cpu0 = [p.cpu_seconds() for p in procs]
        split0 = [p.cpu_split() for p in procs]
        self0 = sum(os.times()[:2])
        # the driver and the fake server keep every call: a full garbage collection of that
        # heap stalls this process (and so the measured latencies) for tens of milliseconds
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            if rate:
                run = await fixed_rate(people, rate, max_seconds)
            else:
                run = await closed_loop(people, max_seconds)
        finally:
            gc.enable()
            gc.unfreeze()
        cpu = [p.cpu_seconds() - c for p, c in zip(procs, cpu0, strict=True)]
        system = [p.cpu_split()[1] - c[1] for p, c in zip(procs, split0, strict=True)]
        self_cpu = sum(os.times()[:2]) - self0
        unexpected = sum(api.unexpected for api in apis)
        extra: dict[str, Any] = {
            "people": people_n,
            "kind": kind,
            "workers": workers,
            "telegram": "webhook" if webhook else "polling",
            "backend": None if db_url is None else db_url.split(":", 1)[0],
            "offered_rate": rate,
            "unexpected_messages": unexpected,
            "driver_cpu_percent": round(100 * self_cpu / run.seconds) if run.seconds else None,
            # of the bot CPU time, the share spent in the kernel (system calls, wake-ups)
            "bot_system_cpu_share": [
                round(sy / c, 2) if c else None for sy, c in zip(system, cpu, strict=True)
            ],
            # other jobs on the machine skew every figure: the 1/5/15-min load, before and after
            "loadavg": [load_before, loadavg()],
        }
        if spy is not None:
            spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
            spy.wait(30)
            extra["profile"] = str(profile / f"{name}.txt")
        result = summary(name, run, procs, cpu, extra)
    finally:
        for p in procs:
            p.stop()
        for api in apis:
            api.stop()
    if kind == "jejak" and db_url is not None:
        committed = await count_completed(db_url)
        result["committed_completed"] = sum(committed.values())
        expected = {b: 0 for b in BRANCH_NAMES}
        for i in range(people_n):
            expected[BRANCH_NAMES[i % len(BRANCH_NAMES)]] += 1
        result["committed_matches"] = committed == {k: v for k, v in expected.items() if v}
    return result


def machine() -> dict:
    import telegram

    info = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "python_telegram_bot": telegram.__version__,
        "platform": platform.platform(),
    }
    try:
        import sqlalchemy

        info["sqlalchemy"] = sqlalchemy.__version__
    except ImportError:
        pass
    try:
        out = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "show server_version"],
            capture_output=True,
            text=True,
            timeout=5,
        )
        info["postgresql"] = out.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        info["postgresql"] = None
    return info


ALL = [
    "echo",
    "echo-rate",
    "echo-aio",
    "echo-aio-rate",
    "sqlite",
    "sqlite-rate",
    "pg",
    "pg-rate",
    "pg2",
    "sqlite-wh",
    "sqlite-wh-rate",
    "pg-wh",
    "pg-wh-rate",
    "pg2-wh",
]


async def main(args: argparse.Namespace) -> int:
    only = [s.strip() for s in args.only.split(",")] if args.only else ALL
    unknown = set(only) - set(ALL)
    if unknown:
        raise SystemExit(f"unknown scenario(s): {sorted(unknown)}; known: {ALL}")
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="jejak-bench-") as tmp:
        workdir = Path(tmp)
        runs: list[tuple[str, Path | None, str]] = []  # (scenario, worker checkout, label)
        for name in only:
            if args.baseline_root is not None and not name.startswith("echo"):
                runs.append((name, args.baseline_root, f"{name}@base"))
            runs.append((name, args.jejak_root, name))
        for repeat in range(args.repeat):  # interleaved: repeats see the same load drift
            for name, root, base_label in runs:
                db_url = None
                kind = "echo" if name.startswith("echo") else "jejak"
                if name.startswith("sqlite"):
                    db_path = workdir / f"{base_label}-{repeat}.db"
                    db_url = f"sqlite+aiosqlite:///{db_path}"
                elif name.startswith("pg"):
                    db_url = pg_url()
                label = base_label if args.repeat == 1 else f"{base_label}#{repeat + 1}"
                print(f"-- {label} ...", flush=True)
                result = await scenario(
                    label,
                    kind=kind,
                    people_n=args.people,
                    db_url=db_url,
                    workers=2 if name.startswith("pg2") else 1,
                    rate=args.rate if name.endswith("-rate") else None,
                    webhook="-wh" in name,
                    max_seconds=args.max_seconds,
                    workdir=workdir,
                    echo_concurrency=args.echo_concurrency,
                    telegram_concurrency=args.telegram_concurrency,
                    profile=args.profile,
                    jejak_root=root,
                )
                results.append(result)
                print(json.dumps(result), flush=True)
    report = {
        "machine": machine(),
        "argv": sys.argv[1:],
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": results,
        "ratios": ratios(results),
    }
    print_table(report)
    print(f"written {write_report(report, args.output)}")
    failed = [r for r in results if r["errors"] or r.get("committed_matches") is False]
    return 1 if failed else 0


def ratios(results: list[dict]) -> dict[str, float]:
    def best(prefix: str) -> float | None:
        vals = [
            r["updates_per_s"]
            for r in results
            if r["scenario"].split("#")[0] == prefix and not r["errors"]
        ]
        return max(vals) if vals else None

    out: dict[str, float] = {}
    for ceiling in ("echo", "echo-aio"):
        echo = best(ceiling)
        for name in (
            *("sqlite", "pg", "pg2", "sqlite-wh", "pg-wh", "pg2-wh"),
            *("sqlite@base", "pg@base", "pg2@base"),
        ):
            value = best(name)
            if echo and value:
                out[f"{name}/{ceiling}"] = round(value / echo, 3)
    if best("pg") and best("pg2"):
        out["pg2/pg"] = round(best("pg2") / best("pg"), 3)
    if best("pg-wh") and best("pg2-wh"):
        out["pg2-wh/pg-wh"] = round(best("pg2-wh") / best("pg-wh"), 3)
    return out


def print_table(report: dict) -> None:
    cols = [
        ("scenario", 12),
        ("updates", 7),
        ("seconds", 7),
        ("updates_per_s", 9),
        ("completed_per_s", 9),
        ("p50_ms", 7),
        ("p99_ms", 7),
        ("max_ms", 7),
        ("peak_rss_mb", 12),
        ("bot_cpu_percent", 10),
        ("bot_cpu_ms_per_update", 7),
        ("errors", 6),
    ]
    print()
    print(" ".join(name[:w].ljust(w) for name, w in cols))
    for r in report["results"]:
        print(" ".join(str(r.get(name))[:w].ljust(w) for name, w in cols))
    print("ratios:", report["ratios"])
    print("machine:", report["machine"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--only", default="")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=90.0, help="cap per scenario")
    parser.add_argument("--echo-concurrency", type=int, default=0)
    parser.add_argument("--telegram-concurrency", type=int, default=None)
    parser.add_argument("--profile", type=Path, default=None, help="py-spy raw output folder")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--baseline-root",
        type=Path,
        default=None,
        help="also run every Jejak scenario on this checkout first (labelled NAME@base), "
        "in the same invocation, for before/after comparisons under the same load",
    )
    parser.add_argument(
        "--jejak-root",
        type=Path,
        default=None,
        help="run the worker on another checkout (e.g. a `git worktree` of the commit before)",
    )
    sys.exit(asyncio.run(main(parser.parse_args())))
