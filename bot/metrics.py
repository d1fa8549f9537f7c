"""Prometheus metrics for `GET /metrics`, written by hand (text exposition format 0.0.4).

The counters and histograms live in this process (one registry, `REGISTRY`); recording is a
dict update, cheap enough for every update and every send. Gauges that describe shared state
(the outbox) are read from the database at scrape time with one grouped COUNT, so every worker
reports the same outbox figures and Prometheus can take them from any of them.

    jejak_updates_total{channel, outcome}        inbound updates: processed | duplicate |
                                                 ignored (not for the questionnaire) | error
    jejak_questionnaire_completions_total{channel}
    jejak_sends_total{channel, result}           send attempts: sent | retry | unreachable |
                                                 needs_template | failed
    jejak_send_seconds{channel}                  histogram of one send attempt (HTTP call)
    jejak_rate_limited_total{channel}            429 / throughput answers from the platform
    jejak_planner_runs_total{kind, outcome}      planning passes per kind (vacancies closed at
                                                 their deadline, reminders, followups): ok | error
    jejak_outbox_messages{status}                gauge, from the database
    jejak_outbox_oldest_pending_seconds          gauge: how late the most overdue pending row is
    jejak_process_start_time_seconds             gauge

Several workers: scrape each one; sum the counters over instances
(`sum by (channel) (rate(jejak_updates_total[5m]))`); take the outbox gauges from any one.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "unreachable", "unknown", "cancelled")
RATE_LIMIT_CODES = frozenset({"429", "http_429", "130429", "131056", "80007", "4"})

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Labels) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)

    def _key(self, labels: dict[str, Any]) -> Labels:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {sorted(labels)}")
        return tuple((n, str(labels[n])) for n in self.labelnames)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def get(self, **labels: Any) -> float:
        return self._values.get(self._key(labels), 0.0)

    def lines(self) -> list[str]:
        return [f"{self.name}{_labels(k)} {_number(v)}" for k, v in sorted(self._values.items())]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labelnames)
        self.buckets = tuple(sorted(buckets))
        # labels -> [per-bucket counts (not cumulative), sum, count]
        self._values: dict[Labels, list[Any]] = {}

    def observe(self, value: float, **labels: Any) -> None:
        key = self._key(labels)
        entry = self._values.get(key)
        if entry is None:
            entry = self._values[key] = [[0] * len(self.buckets), 0.0, 0]
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                entry[0][i] += 1
                break
        entry[1] += value
        entry[2] += 1

    @contextlib.contextmanager
    def time(self, **labels: Any) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe(time.perf_counter() - started, **labels)

    def count(self, **labels: Any) -> int:
        entry = self._values.get(self._key(labels))
        return entry[2] if entry else 0

    def lines(self) -> list[str]:
        out = []
        for key, (counts, total, n) in sorted(self._values.items()):
            running = 0
            for bound, c in zip(self.buckets, counts, strict=True):
                running += c
                le = (*key, ("le", _number(bound)))
                out.append(f"{self.name}_bucket{_labels(le)} {running}")
            out.append(f"{self.name}_bucket{_labels((*key, ('le', '+Inf')))} {n}")
            out.append(f"{self.name}_sum{_labels(key)} {_number(total)}")
            out.append(f"{self.name}_count{_labels(key)} {n}")
        return out


# A collector returns whole metric families, already formatted (gauges read at scrape time).
Collector = Callable[[], Awaitable[list[str]]]


class Registry:
    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def counter(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help_text, labelnames)
        self.metrics.append(metric)
        return metric

    def histogram(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        metric = Histogram(name, help_text, labelnames, buckets)
        self.metrics.append(metric)
        return metric

    async def render(self, collectors: Sequence[Collector] = ()) -> str:
        lines: list[str] = []
        for metric in self.metrics:
            lines.extend(metric.header())
            lines.extend(metric.lines())
        for collect in collectors:
            lines.extend(await collect())
        return "\n".join(lines) + "\n"


REGISTRY = Registry()
STARTED = time.time()

UPDATES = REGISTRY.counter(
    "jejak_updates_total",
    "Inbound updates handled, by channel and outcome (processed, duplicate, ignored, error).",
    ("channel", "outcome"),
)
COMPLETIONS = REGISTRY.counter(
    "jejak_questionnaire_completions_total",
    "Questionnaire passes completed in chat.",
    ("channel",),
)
SENDS = REGISTRY.counter(
    "jejak_sends_total",
    "Send attempts to a platform API, by result (sent, retry, unreachable, needs_template, "
    "failed).",
    ("channel", "result"),
)
SEND_SECONDS = REGISTRY.histogram(
    "jejak_send_seconds",
    "Duration of one send attempt (one platform API call), replies and outbox alike.",
    ("channel",),
)
RATE_LIMITED = REGISTRY.counter(
    "jejak_rate_limited_total",
    "Too-many-requests answers (HTTP 429, WhatsApp throughput codes) seen from a platform.",
    ("channel",),
)
PLANNER_RUNS = REGISTRY.counter(
    "jejak_planner_runs_total",
    "Outreach planning runs by kind (vacancies, reminders, followups) and outcome (ok, error); "
    "a failing kind does not stop the others.",
    ("kind", "outcome"),
)


def update_handled(channel: str, outcome: str) -> None:
    UPDATES.inc(channel=channel, outcome=outcome)


def send_attempt(channel: str, seconds: float, result: str, error_code: str | None = None) -> None:
    """Record one send attempt: its latency, its result, and whether the platform throttled."""
    SEND_SECONDS.observe(seconds, channel=channel)
    SENDS.inc(channel=channel, result=result)
    if error_code is not None and str(error_code) in RATE_LIMIT_CODES:
        RATE_LIMITED.inc(channel=channel)


def planned(kind: str, *, ok: bool) -> None:
    PLANNER_RUNS.inc(kind=kind, outcome="ok" if ok else "error")


def completion(channel: str) -> None:
    COMPLETIONS.inc(channel=channel)


# ---- gauges read at scrape time -----------------------------------------------------------
def outbox_collector(db: Any) -> Collector:
    """`jejak_outbox_messages{status}` and the oldest due pending row, from the database:
    one grouped COUNT over the (status, not_before) index."""
    from storage.models import OutboxMessage, utcnow

    async def collect() -> list[str]:
        async with db.session() as session:
            rows = await session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
            )
            by_status = {status: n for status, n in rows.all()}
            oldest: datetime | None = (
                await session.execute(
                    select(func.min(OutboxMessage.not_before)).where(
                        OutboxMessage.status == "pending"
                    )
                )
            ).scalar_one_or_none()
        name = "jejak_outbox_messages"
        lines = [
            f"# HELP {name} Outbox rows by status (the whole database, same on every worker).",
            f"# TYPE {name} gauge",
        ]
        for status in (*OUTBOX_STATUSES, *sorted(set(by_status) - set(OUTBOX_STATUSES))):
            lines.append(f'{name}{{status="{_escape(status)}"}} {by_status.get(status, 0)}')
        late = 0.0
        if oldest is not None:
            if oldest.tzinfo is None:  # SQLite hands datetimes back naive (they are UTC)
                from datetime import UTC

                oldest = oldest.replace(tzinfo=UTC)
            late = max(0.0, (utcnow() - oldest).total_seconds())
        name = "jejak_outbox_oldest_pending_seconds"
        lines += [
            f"# HELP {name} Seconds since the most overdue pending outbox row was due (0: none).",
            f"# TYPE {name} gauge",
            f"{name} {_number(round(late, 3))}",
        ]
        return lines

    return collect


async def process_collector() -> list[str]:
    name = "jejak_process_start_time_seconds"
    return [
        f"# HELP {name} Start time of this process (Unix epoch seconds).",
        f"# TYPE {name} gauge",
        f"{name} {_number(round(STARTED, 3))}",
    ]


async def render(db: Any | None = None) -> str:
    """The whole exposition for this process (with the outbox gauges when `db` is given)."""
    collectors: list[Collector] = [process_collector]
    if db is not None:
        collectors.append(outbox_collector(db))
    return await REGISTRY.render(collectors)


# ---- reading the format back (tests, tools) -----------------------------------------------
def parse(text: str) -> dict[tuple[str, Labels], float]:
    """Samples of an exposition: {(name, sorted label pairs): value}. Small and strict enough
    for our own output (no timestamps, no escaped quotes inside label values besides \\")."""
    samples: dict[tuple[str, Labels], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if "{" in head:
            name, _, rest = head.partition("{")
            pairs = []
            for part in _split_labels(rest.rstrip("}")):
                key, _, raw = part.partition("=")
                pairs.append((key, raw[1:-1].replace('\\"', '"').replace("\\\\", "\\")))
            labels: Labels = tuple(sorted(pairs))
        else:
            name, labels = head, ()
        samples[(name, labels)] = float(value)
    return samples


def _split_labels(body: str) -> list[str]:
    parts, current, quoted, escaped = [], "", False, False
    for ch in body:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            current += ch
            escaped = True
        elif ch == '"':
            current += ch
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current:
        parts.append(current)
    return parts


def sample(samples: dict[tuple[str, Labels], float], name: str, **labels: str) -> float:
    """One value from `parse` output (0.0 when absent)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
