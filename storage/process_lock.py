"""One `jejak run` per SQLite database.

SQLite allows one writer at a time, and the bot's guarantees that hold across processes on
PostgreSQL (the per-person advisory lock, `FOR UPDATE SKIP LOCKED` on the outbox, the shared
rate-limit schedule, the planner lock) have no SQLite counterpart: there they rely on everything
running in one process. So `jejak run` takes an exclusive `fcntl.flock` on a lock file next to
the database (`<database>.lock`) for as long as it runs; a second `jejak run` on the same file
stops at once with a message saying so. `jejak outreach tick` sends too (its rate limits are
per process as well), so it takes the same lock for as long as it runs and refuses next to a
`jejak run`. Short CLI commands (roster import, export, report) do not take the lock and may
run alongside.

The lock is the kernel's: it goes away with the process, even after `kill -9`; the file itself
stays (deleting lock files races with their users) and records the holder's pid and command
(`<pid> <command>`) for the message.
PostgreSQL and in-memory databases need no lock. Where `fcntl` does not exist (Windows), the
guard is skipped.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from storage.db import normalise_url

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]


RUN = "jejak run"
TICK = "jejak outreach tick"


class AlreadyRunning(RuntimeError):
    """Another process holds the database's run lock: `holder` is its command (`RUN`, `TICK`)."""

    def __init__(self, database: Path, lock_file: Path, pid: str | None, holder: str = RUN) -> None:
        self.database = database
        self.lock_file = lock_file
        self.pid = pid
        self.holder = holder
        which = f" (pid {pid})" if pid else ""
        super().__init__(
            f"another `{holder}`{which} is already using the SQLite database {database}. "
            "A SQLite deployment runs as one process: stop the other one first. To run several "
            "workers, use PostgreSQL (DATABASE_URL=postgresql://...; see docs/scaling.md). "
            f"Lock file: {lock_file}"
        )


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database)


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


@dataclass
class ProcessLock:
    path: Path
    fd: int | None

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


def _holder(record: str) -> tuple[str | None, str]:
    """`<pid> <command>` from the lock file -> (pid, command); a bare pid is `jejak run`'s."""
    pid, _, command = record.strip().partition(" ")
    return (pid or None), (command.strip() or RUN)


def acquire(url: str, holder: str = RUN) -> ProcessLock | None:
    """Take the single-process lock of the SQLite database at `url` for the command `holder`
    (None: nothing to lock). Raises AlreadyRunning when another process holds it."""
    database = sqlite_file(url)
    if database is None or fcntl is None:
        return None
    database = database.resolve()
    database.parent.mkdir(parents=True, exist_ok=True)
    path = lock_path(database)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            pid, command = _holder(os.pread(fd, 128, 0).decode(errors="replace"))
        except OSError:
            pid, command = None, RUN
        os.close(fd)
        raise AlreadyRunning(database, path, pid, command) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {holder}\n".encode(), 0)
    return ProcessLock(path, fd)
