"""Reports benchmark: a province-sized roster (300,000 graduates, 60% answered).

Measures, on SQLite (and PostgreSQL when reachable):
- `class_summary` for one class (/ringkasan), median and worst of several classes;
- `school_recap` plus the chart PNG (/rekap);
- the full XLSX export: wall time, CPU time and peak memory, in a fresh subprocess per roster size
  so the peak resident set is the export's own; run at two roster sizes to show that memory does
  not grow with the roster. tracemalloc's peak of Python allocations is reported as well.
- with --fetch-baseline, the database side alone: iterating `storage.reports.export_rows` over
  the whole roster without writing anything (the floor under any XLSX writer).

Usage (from the repository root):
    .venv/bin/python bench/reports_bench.py                       # SQLite, 300,000 graduates
    .venv/bin/python bench/reports_bench.py --postgres postgresql://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/reports_bench.py --graduates 30000      # quicker
    .venv/bin/python bench/reports_bench.py --reuse --export-only --fetch-baseline \
        --postgres postgresql://postgres@127.0.0.1:5432/bench   # only the export, data kept

The PostgreSQL database given is reset (schema public dropped and recreated): use a scratch one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text  # noqa: E402

from storage import migrate  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.models import Alumnus, Answer, Contact, Response, School  # noqa: E402

MAJORS = ["TKJ", "RPL", "AKL", "OTKP", "BDP", "TBSM", "TKR", "DPIB", "TEI", "MM"]
CLASS_SIZE = 36
STATUS_WEIGHTS = {
    "bekerja": 45,
    "melanjutkan": 15,
    "wirausaha": 8,
    "kursus": 7,
    "mencari_kerja": 20,
    "tidak_mencari": 5,
}
BATCH = 20_000


def _answers(status: str, year: int, rng: random.Random) -> dict:
    a: dict = {"status": status}
    if status in ("bekerja", "wirausaha"):
        month = rng.randint(0, 18)
        y, m = divmod((year * 12 + 5) + month, 12)
        a["start_month"] = f"{m + 1:02d}/{y}"
        a["relevance"] = rng.choice(["sangat_sesuai", "sesuai", "kurang_sesuai", "tidak_sesuai"])
        a["income"] = rng.choice(["lt1", "1_2", "2_3", "3_4", "rahasia"])
    if status == "bekerja":
        a["employer"] = f"PT Contoh {rng.randint(1, 5000)}"
        a["job_title"] = "Staf"
        a["employer_type"] = "swasta"
        a["work_location"] = "kota_sama"
        a["job_channel"] = rng.choice(["bkk", "tempat_pkl", "online"])
    elif status == "wirausaha":
        a["business_field"] = "Toko daring"
        a["workers"] = "1_4"
    elif status == "melanjutkan":
        a["institution"] = "Politeknik Negeri"
        a["study_program"] = "Teknik Informatika"
        a["level"] = "d3"
        a["relevance"] = rng.choice(["ya", "sebagian", "tidak"])
    elif status == "kursus":
        a["provider"] = "BLK"
        a["field"] = "Las"
        a["goal"] = "kerja_dalam_negeri"
    elif status == "mencari_kerja":
        a["searching_months"] = rng.choice(["lt1", "1_3", "4_6", "7_12"])
        a["obstacles"] = rng.sample(["sedikit_lowongan", "biaya", "dokumen"], 2)
        a["willing_to_relocate"] = "ya"
    else:
        a["reason"] = "keluarga"
    return a


def generate(graduates: int, seed: int = 7):
    """Yield (table, rows) batches: alumni, contacts, responses, answers (ids assigned here)."""
    rng = random.Random(seed)
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    now = datetime(2025, 10, 1, tzinfo=UTC)
    alumni, contacts, responses, answers = [], [], [], []
    response_id = contact_id = answer_id = 0
    years = (2024, 2025)
    per_year = graduates // len(years)
    alumnus_id = 0
    for year in years:
        for i in range(per_year if year == years[0] else graduates - per_year):
            alumnus_id += 1
            major = MAJORS[i % len(MAJORS)]
            class_no = i // (CLASS_SIZE * len(MAJORS)) + 1
            kelas = f"XII {major} {class_no}"
            alumni.append(
                {
                    "id": alumnus_id,
                    "school_id": 1,
                    "nisn": f"{alumnus_id:010d}",
                    "name": f"Lulusan {alumnus_id}",
                    "birth_date": date(year - 18, 1 + alumnus_id % 12, 1 + alumnus_id % 28),
                    "kelas": kelas,
                    "jurusan": major,
                    "graduation_year": year,
                    "homeroom_teacher": f"Wali {major} {class_no} {year}",
                    "phone": f"628{alumnus_id:010d}",
                    "created_at": now,
                    "updated_at": now,
                    "stopped_at": now if rng.random() < 0.01 else None,
                }
            )
            roll = rng.random()
            if roll < 0.75:  # wrote to the bot at least once
                contact_id += 1
                contacts.append(
                    {
                        "id": contact_id,
                        "channel": "whatsapp" if rng.random() < 0.85 else "telegram",
                        "address": f"a{alumnus_id}",
                        "alumnus_id": alumnus_id,
                        "language": "id",
                        "state": {"node": "income"} if roll >= 0.6 else {},
                        "unreachable_at": now if 0.72 < roll < 0.75 else None,
                        "last_inbound_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            if roll < 0.6:  # answered
                response_id += 1
                status = rng.choices(statuses, weights)[0]
                completed = now - timedelta(minutes=rng.randint(0, 60 * 24 * 90))
                responses.append(
                    {
                        "id": response_id,
                        "alumnus_id": alumnus_id,
                        "contact_id": contact_id,
                        "channel": "whatsapp",
                        "source": "chat",
                        "status": status,
                        "started_at": completed - timedelta(minutes=5),
                        "completed_at": completed,
                        "last_question": None,
                    }
                )
                for f, v in _answers(status, year, rng).items():
                    answer_id += 1
                    answers.append(
                        {
                            "id": answer_id,
                            "response_id": response_id,
                            "field": f,
                            "value": v,
                            "answered_at": completed,
                        }
                    )
            elif roll < 0.7:  # started, not finished
                response_id += 1
                responses.append(
                    {
                        "id": response_id,
                        "alumnus_id": alumnus_id,
                        "contact_id": contact_id,
                        "channel": "whatsapp",
                        "source": "chat",
                        "status": None,
                        "started_at": now,
                        "completed_at": None,
                        "last_question": "income",
                    }
                )
            if len(answers) >= BATCH:
                yield from _flush(alumni, contacts, responses, answers)
                alumni, contacts, responses, answers = [], [], [], []
    yield from _flush(alumni, contacts, responses, answers)


def _flush(alumni, contacts, responses, answers):
    for table, rows in (
        (Alumnus, alumni),
        (Contact, contacts),
        (Response, responses),
        (Answer, answers),
    ):
        if rows:
            yield table, rows


async def load(db: Database, graduates: int) -> float:
    started = time.perf_counter()
    async with db.session() as s:
        s.add(School(id=1, npsn="BENCH001", name="SMK Provinsi", timezone="Asia/Jakarta"))
        await s.commit()
    if db.is_postgres:
        async with db.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            pg = raw.driver_connection
            for model, rows in generate(graduates):
                columns = list(rows[0])
                records = [
                    tuple(json.dumps(r[c]) if c in ("state", "value") else r[c] for c in columns)
                    for r in rows
                ]
                await pg.copy_records_to_table(
                    model.__tablename__, records=records, columns=columns
                )
            for table in ("alumnus", "contact", "response", "answer"):
                await pg.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
                await pg.execute(f"ANALYZE {table}")
    else:
        async with db.engine.begin() as conn:
            for model, rows in generate(graduates):
                await conn.execute(insert(model.__table__), rows)
        async with db.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - started


async def reset_postgres(url: str) -> None:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await db.dispose()


async def prepare(url: str, graduates: int) -> float:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)  # noqa: ASYNC240
    else:
        await reset_postgres(url)
    db = Database(url)
    try:
        await migrate.upgrade(db)
        return await load(db, graduates)
    finally:
        await db.dispose()


async def measure_queries(url: str) -> dict:
    from bot.reports import format_class_summary, format_recap, recap_chart_png
    from storage.reports import class_summary, school_recap

    db = Database(url)
    try:
        async with db.session() as s:
            classes = [
                r[0]
                for r in await s.execute(
                    text("SELECT DISTINCT kelas FROM alumnus ORDER BY kelas LIMIT 400")
                )
            ]
        rng = random.Random(3)
        picked = rng.sample(classes, min(15, len(classes)))
        await class_summary(db, 1, picked[0])  # warm-up: connection, statement cache
        times = []
        for kelas in picked:
            t0 = time.perf_counter()
            summary = await class_summary(db, 1, kelas)
            format_class_summary(summary)
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rows = await school_recap(db, 1)
        t_recap = time.perf_counter() - t0
        format_recap(rows)
        t0 = time.perf_counter()
        png = recap_chart_png(rows)
        t_chart = time.perf_counter() - t0
        return {
            "class_summary_median_s": statistics.median(times),
            "class_summary_max_s": max(times),
            "class_graduates": summary.graduates,
            "recap_s": t_recap,
            "chart_s": t_chart,
            "recap_plus_chart_s": t_recap + t_chart,
            "chart_bytes": len(png),
            "recap_rows": len(rows),
        }
    finally:
        await db.dispose()


async def measure_export(url: str, out: str, trace: bool, fetch_only: bool = False) -> dict:
    """Run in a fresh process: the export's own peak RSS and time (or, with `fetch_only`, those
    of just iterating the export rows from the database)."""
    from bot.export import export_xlsx
    from storage.reports import export_rows

    async def fetch(db: Database, school_id: int, _out: str) -> int:
        n = 0
        async for _row in export_rows(db, school_id):
            n += 1
        return n

    db = Database(url)
    try:
        async with db.session() as s:  # open the pool, import everything first
            await s.execute(text("SELECT 1"))
        rss_before = _rss_kib("VmRSS")
        _reset_peak_rss()  # the peak from here on is the export's own
        if trace:
            tracemalloc.start()
        t0, cpu0 = time.perf_counter(), time.process_time()
        count = await (fetch if fetch_only else export_xlsx)(db, 1, out)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        peak_traced = tracemalloc.get_traced_memory()[1] if trace else None
        return {
            "rows": count,
            "export_s": elapsed,
            "export_cpu_s": cpu,
            "rss_before_mib": rss_before / 1024,
            "peak_rss_mib": _rss_kib("VmHWM") / 1024,
            "tracemalloc_peak_mib": peak_traced / 2**20 if trace else None,
            "file_mib": None if fetch_only else os.path.getsize(out) / 2**20,  # noqa: ASYNC240
        }
    finally:
        await db.dispose()


def _rss_kib(field: str) -> int:
    """VmRSS / VmHWM of this process in KiB (Linux), else ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        pass


def export_in_subprocess(url: str, trace: bool, fetch_only: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ekspor.xlsx")
        args = [sys.executable, __file__, "--_export", url, "--_out", out]
        if trace:
            args.append("--_trace")
        if fetch_only:
            args.append("--_fetch")
        done = subprocess.run(args, check=True, capture_output=True, text=True)
        return json.loads(done.stdout.strip().splitlines()[-1])


async def roster_size(url: str) -> int:
    db = Database(url)
    try:
        async with db.session() as s:
            return (await s.execute(text("SELECT count(*) FROM alumnus"))).scalar_one()
    except Exception:  # no schema yet
        return -1
    finally:
        await db.dispose()


def _load(label: str, url: str, graduates: int, reuse: bool) -> float | None:
    if reuse and asyncio.run(roster_size(url)) == graduates:
        load_s = None
    else:
        load_s = asyncio.run(prepare(url, graduates))
    print(f"[{label}] {graduates} graduates loaded in {load_s}s", flush=True)
    return load_s


def run_backend(
    label: str,
    url: str,
    graduates: int,
    small: int,
    trace_large: bool,
    reuse: bool = False,
    small_url: str | None = None,
    export_only: bool = False,
    fetch_baseline: bool = False,
) -> dict:
    """`small_url`: a separate database for the small roster (else `url` is reloaded)."""
    result: dict = {"backend": label, "graduates": graduates}
    if small:
        _load(label, small_url or url, small, reuse)
        result["export_small"] = {
            "graduates": small,
            **export_in_subprocess(small_url or url, trace=False),
        }
        print(f"[{label}] export of {small}: {result['export_small']}", flush=True)
        result["export_small_traced"] = export_in_subprocess(small_url or url, trace=True)
        print(f"[{label}] export of {small} (tracemalloc): {result['export_small_traced']}")
    result["load_s"] = _load(label, url, graduates, reuse)
    if not export_only:
        result.update(asyncio.run(measure_queries(url)))
        print(f"[{label}] queries: {json.dumps(result)}", flush=True)
    result["export"] = export_in_subprocess(url, trace=False)
    print(f"[{label}] export: {result['export']}", flush=True)
    if fetch_baseline:
        result["fetch_only"] = export_in_subprocess(url, trace=False, fetch_only=True)
        print(f"[{label}] export rows alone: {result['fetch_only']}", flush=True)
    if trace_large:
        result["export_traced"] = export_in_subprocess(url, trace=True)
        print(f"[{label}] export (tracemalloc): {result['export_traced']}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--graduates", type=int, default=300_000)
    parser.add_argument(
        "--small", type=int, default=30_000, help="also export this roster size (0: skip)"
    )
    parser.add_argument("--sqlite", default=None, help="SQLite file (default: a temp file)")
    parser.add_argument("--postgres", default=None, help="scratch PostgreSQL URL (is reset)")
    parser.add_argument(
        "--postgres-small", default=None, help="scratch PostgreSQL URL for the small roster"
    )
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--reuse", action="store_true", help="keep databases that already have the roster size"
    )
    parser.add_argument(
        "--export-only", action="store_true", help="skip /ringkasan and /rekap, time the export"
    )
    parser.add_argument(
        "--fetch-baseline", action="store_true", help="also time the export rows alone"
    )
    parser.add_argument(
        "--trace-large", action="store_true", help="also run the big export under tracemalloc"
    )
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--_export", help=argparse.SUPPRESS)
    parser.add_argument("--_out", help=argparse.SUPPRESS)
    parser.add_argument("--_trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_fetch", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args._export:
        measured = measure_export(args._export, args._out, args._trace, args._fetch)
        print(json.dumps(asyncio.run(measured)))
        return

    results = []
    if not args.no_sqlite:
        path = args.sqlite or os.path.join(tempfile.gettempdir(), "jejak-reports-bench.db")
        results.append(
            run_backend(
                "sqlite",
                f"sqlite+aiosqlite:///{path}",
                args.graduates,
                args.small,
                args.trace_large,
                args.reuse,
                small_url=f"sqlite+aiosqlite:///{path}.small",
                export_only=args.export_only,
                fetch_baseline=args.fetch_baseline,
            )
        )
    if args.postgres:
        results.append(
            run_backend(
                "postgresql",
                args.postgres,
                args.graduates,
                args.small,
                args.trace_large,
                args.reuse,
                small_url=args.postgres_small,
                export_only=args.export_only,
                fetch_baseline=args.fetch_baseline,
            )
        )
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
