"""Async engine and sessions; SQLite (default) or PostgreSQL, picked by the URL.

SQLite runs in WAL mode with a busy timeout and foreign keys on. No session is meant to be
held across a network call: open one with `db.session()`, do the reads and writes, commit, leave.
On SQLite, hot write paths wrap their transaction in `db.writer()`: one writer at a time in the
process, queued on an asyncio lock instead of colliding in SQLite, whose busy handler sleeps for
up to 100 ms per retry (measured in bench/: 4-6x the throughput of colliding writers).

`db.immediate(session)` starts a write transaction that holds SQLite's write lock from its first
statement (BEGIN IMMEDIATE) and, while inside, runs that connection's statements on the event
loop's thread instead of aiosqlite's (about 20 thread round trips per inbound message saved; see
bench/README.md, "Inbound"). Holding the write lock, none of them can wait for another writer.
The BEGIN itself runs on the event loop's thread too when the lock is free at once (busy
timeout 0 for that one statement); only when another process holds it does it wait, on
aiosqlite's thread.

A DATABASE_URL that cannot be used (an unsupported database, a server that refuses or cannot be
found, a rejected login, a folder that cannot be written) raises `DatabaseUnavailable`: one line
naming DATABASE_URL (password masked) and the reason; `database_problem` turns the error of a
first connection into one.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def normalise_url(url: str) -> str:
    """Accept the usual spellings and pick the async driver for each backend."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite:///") or url == "sqlite://":
        url = "sqlite+aiosqlite" + url[len("sqlite") :]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalise_url(url)).get_backend_name() == "sqlite"


EXAMPLES = "sqlite:///data/jejak.db or postgresql://USER:PASSWORD@HOST:5432/NAME"


class DatabaseUnavailable(RuntimeError):
    """DATABASE_URL cannot be used. `str()` is one line: the setting, its value with the
    password masked, and the reason. `setting`: True when the setting itself is wrong (fix it
    and start again), False when the database may come back by itself (a server not answering,
    a host name not found yet)."""

    def __init__(self, url: str, reason: str, *, setting: bool = True) -> None:
        self.url = url
        self.reason = reason
        self.setting = setting
        super().__init__(f"DATABASE_URL {shown_url(url)}: {reason}")


def shown_url(url: str) -> str:
    """The URL as written, with its password (if any) replaced by ***."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "(not a URL)" if "@" in url else url
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def checked_url(url: str) -> URL:
    """The parsed, normalised URL; DatabaseUnavailable when it is not a SQLite or PostgreSQL
    URL Jejak can open (the driver is Jejak's choice: aiosqlite, asyncpg)."""
    try:
        parsed = make_url(normalise_url(url.strip()))
    except (ArgumentError, ValueError, NoSuchModuleError):
        raise DatabaseUnavailable(url, f"not a database URL; write {EXAMPLES}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseUnavailable(
            url,
            f"unsupported database {backend!r}: Jejak runs on SQLite or PostgreSQL ({EXAMPLES})",
        )
    wanted = "aiosqlite" if backend == "sqlite" else "asyncpg"
    if parsed.get_driver_name() != wanted:
        raise DatabaseUnavailable(
            url,
            f"unsupported driver {parsed.get_driver_name()!r}: write {backend}://... without a "
            f"driver (Jejak uses {wanted})",
        )
    return parsed


def database_problem(exc: BaseException, url: str) -> DatabaseUnavailable | None:
    """A DatabaseUnavailable that says why opening the database at `url` failed with `exc`
    (looked up along its chain of causes); None when `exc` is not about reaching the database
    (a bug or a failing statement: those keep their own error)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _problem_of(current, url)
        if found is not None:
            return found
        current = current.__cause__ or current.__context__
    return None


def _problem_of(exc: BaseException, url: str) -> DatabaseUnavailable | None:
    if isinstance(exc, DatabaseUnavailable):
        return exc
    sqlite = url.startswith("sqlite")
    where = "" if sqlite else f" ({_server_of(url)})"
    name = type(exc).__name__
    module = type(exc).__module__
    if module.startswith("asyncpg"):
        if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
            return DatabaseUnavailable(url, f"authentication failed: {exc}")
        if name == "InvalidCatalogNameError":
            return DatabaseUnavailable(url, f"{exc} (create it, or fix the name in the URL)")
        if name in ("TooManyConnectionsError", "CannotConnectNowError"):
            return DatabaseUnavailable(
                url, f"the server refuses connections now: {exc}", setting=False
            )
        return None
    if isinstance(exc, socket.gaierror):
        return DatabaseUnavailable(
            url, f"host unknown{where}: check the host name in the URL", setting=False
        )
    if isinstance(exc, ConnectionRefusedError):
        return DatabaseUnavailable(
            url,
            f"connection refused{where}: is PostgreSQL running there, on that port?",
            setting=False,
        )
    if isinstance(exc, TimeoutError) and not sqlite:
        return DatabaseUnavailable(url, f"no answer from the server{where}", setting=False)
    if (
        isinstance(exc, OSError)
        and not sqlite
        and exc.errno
        in (
            errno.EHOSTUNREACH,
            errno.ENETUNREACH,
            errno.ECONNRESET,
        )
    ):
        return DatabaseUnavailable(
            url, f"server not reachable{where}: {exc.strerror}", setting=False
        )
    if sqlite and isinstance(exc, OSError | sqlite3.OperationalError):
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and "unable to open" not in text:
            return None  # a statement failed: not about the file
        folder = _sqlite_folder(url)
        return DatabaseUnavailable(
            url,
            f"the folder {folder} is not writable or does not exist"
            + (f" ({exc.strerror})" if isinstance(exc, OSError) and exc.strerror else "")
            + ": use a folder the bot's user can write (e.g. /var/lib/jejak)",
        )
    if isinstance(exc, ModuleNotFoundError | NoSuchModuleError | ArgumentError):
        try:
            checked_url(url)
        except DatabaseUnavailable as problem:
            return problem
    return None


def _server_of(url: str) -> str:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "?"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}"


def _sqlite_folder(url: str) -> str:
    try:
        database = make_url(normalise_url(url)).database or ""
    except (ArgumentError, ValueError):
        return "?"
    return str(Path(database).parent) if database else "?"


class Database:
    """One async engine plus a session factory."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10) -> None:
        parsed = checked_url(url)  # DatabaseUnavailable: not SQLite or PostgreSQL
        self.given_url = url  # as the setting has it, for messages (see `DatabaseUnavailable`)
        self.url = normalise_url(url.strip())
        # hide_parameters: a database error's text (logged with its traceback) never carries
        # the statement's values -- names, birth dates, answers the log filter cannot recognise
        kwargs: dict = {"echo": echo, "hide_parameters": True}
        if parsed.get_backend_name() == "sqlite":
            db_path = parsed.database
            if db_path and db_path != ":memory:":
                try:
                    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise database_problem(exc, url) or exc from None
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def writer(self) -> AsyncIterator[None]:
        """Serialise write transactions within this process on SQLite; a no-op on PostgreSQL
        (its row locks and the per-person advisory lock order writers there)."""
        if not self.is_sqlite:
            yield
            return
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer[0] is not loop:
            self._writer = (loop, asyncio.Lock())
        async with self._writer[1]:
            yield

    @asynccontextmanager
    async def immediate(self, session: AsyncSession) -> AsyncIterator[None]:
        """SQLite: begin the session's transaction with BEGIN IMMEDIATE (pysqlite would begin
        only at the first write, and a SAVEPOINT opened outside a transaction commits when it is
        released) and run its statements inline until the block ends; commit inside the block.
        PostgreSQL: nothing."""
        if not self.is_sqlite:
            yield
            return
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        inline = isinstance(driver, InlineSqliteConnection) and self.sqlite_inline
        if not (inline and driver.begin_immediate_now()):  # another process writes: wait
            await connection.exec_driver_sql("BEGIN IMMEDIATE")  # on aiosqlite's thread
        if inline:
            driver.inline = True
        try:
            yield
        finally:
            if inline:
                driver.inline = False

    sqlite_inline = True  # False: `immediate` keeps every statement on aiosqlite's thread

    async def dispose(self) -> None:
        await self.engine.dispose()


BUSY_TIMEOUT_MS = 30000  # how long a SQLite statement waits for another writer


class InlineSqliteConnection(aiosqlite.Connection):
    """An aiosqlite connection that runs its calls directly (on the caller's thread) while
    `inline` is set. Only for a connection whose transaction holds the write lock, with no call
    of its own queued on its thread; every SQLite connection of a Database is one of these."""

    inline = False

    def begin_immediate_now(self) -> bool:
        """BEGIN IMMEDIATE on the caller's thread if the write lock is free at once; False
        (nothing begun) when another process holds it: the caller then waits for it on
        aiosqlite's thread, never on the event loop."""
        conn = self._connection
        if conn is None:
            return False
        conn.execute("PRAGMA busy_timeout=0")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return False
            raise
        finally:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return True

    async def _execute(self, fn, *args, **kwargs):
        if self.inline and self._connection is not None:
            return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    driver = getattr(dbapi_connection, "_connection", None)
    if type(driver) is aiosqlite.Connection:
        driver.__class__ = InlineSqliteConnection
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
