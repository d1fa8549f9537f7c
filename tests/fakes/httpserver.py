"""A small HTTP/1.1 server on asyncio, running in its own thread with its own event loop.

The fakes (`telegram_api.FakeBotApi`, `graph_api.FakeGraphApi`) are built on it. Because the
server owns its loop and thread, a test's event loop, a benchmark or a bot in a subprocess can all
talk to it over real HTTP on 127.0.0.1.

Public API
----------
`HttpServer(handler, host="127.0.0.1", port=0)`
    `handler` is `async def handler(request: Request) -> Response`, run on the server's loop.
    `.start() -> HttpServer` (returns once listening on an ephemeral port), `.stop()`,
    `.url` ("http://127.0.0.1:PORT"), `.port`, `.loop` (the server's loop), `.running`,
    `.call_soon(fn, *args)` (thread-safe, runs `fn` on the server loop), `.requests_served`.
    Usable as `with HttpServer(h) as srv:` (and `async with`).
    Keep-alive, Content-Length and chunked request bodies, TCP_NODELAY on every socket.

`Request`: `method`, `path` (no query), `query` (dict, first value wins), `headers` (lower-case
    keys), `body` (bytes), `form` (dict[str, str] from application/x-www-form-urlencoded or the
    non-file parts of multipart/form-data, plus the query string), `files`
    (dict[str, UploadedFile]), `json` (parsed body for application/json, else None), `header(name)`.
`UploadedFile(name, filename, content_type, data)`.
`Response(status=200, body=b"", content_type="application/json", headers={})`;
    `Response.json(obj, status=200)`, `Response.text(str, status=200)`.

`Recorder`: base class giving thread-safe waiting on state guarded by `self._lock`:
    `self._changed()` (call with the lock held after any change) wakes waiters;
    `wait_for(cond, timeout=5.0, what=None)` (sync, any thread) and
    `await await_for(cond, timeout=5.0, what=None)` (async, any event loop; never blocks the
    loop) return the first truthy value of `cond()`, or raise `WaitTimeout` (an AssertionError).
"""

# ruff: noqa: ASYNC109  (the waiters take a timeout on purpose, like the sync ones)

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

log = logging.getLogger(__name__)

_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

MAX_BODY = 64 * 1024 * 1024


@dataclass(slots=True)
class UploadedFile:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)
    json: Any = None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        data = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status, data, "application/json", headers or {})

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode(), "text/plain; charset=utf-8")


Handler = Callable[[Request], Awaitable[Response]]


def _parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    parts = value.split(";")
    main = parts[0].strip().lower()
    params: dict[str, str] = {}
    for p in parts[1:]:
        if "=" in p:
            k, v = p.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    return main, params


def parse_multipart(body: bytes, boundary: str) -> tuple[dict[str, str], dict[str, UploadedFile]]:
    """Split a multipart/form-data body into text fields and files."""
    form: dict[str, str] = {}
    files: dict[str, UploadedFile] = {}
    delim = b"--" + boundary.encode()
    for chunk in body.split(delim)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        _, disp = _parse_content_type(headers.get("content-disposition", ""))
        name = disp.get("name")
        if name is None:
            continue
        if "filename" in disp or "filename*" in disp:
            files[name] = UploadedFile(
                name, disp.get("filename"), headers.get("content-type"), bytes(data)
            )
        else:
            form[name] = data.decode("utf-8", "replace")
    return form, files


def build_request(method: str, target: str, headers: dict[str, str], body: bytes) -> Request:
    parts = urlsplit(target)
    query = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        query.setdefault(k, v)
    req = Request(method.upper(), unquote(parts.path) or "/", query, headers, body)
    req.form.update(query)
    ctype, params = _parse_content_type(headers.get("content-type", ""))
    if not body:
        return req
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            req.json = json.loads(body)
        except ValueError:
            req.json = None
    elif ctype == "application/x-www-form-urlencoded":
        for k, v in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            req.form[k] = v
    elif ctype == "multipart/form-data" and "boundary" in params:
        form, files = parse_multipart(body, params["boundary"])
        req.form.update(form)
        req.files.update(files)
    return req


class HttpServer:
    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self._handler = handler
        self.host = host
        self.port = port
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.requests_served = 0

    # lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> HttpServer:
        if self.running:
            return self
        ready = threading.Event()
        error: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self.loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._listen())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                error.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"fake-http-{id(self):x}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake HTTP server did not start")
        if error:
            raise error[0]
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self.port, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if not self.running or self.loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop)
        with contextlib.suppress(Exception):
            fut.result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        self._thread = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.close()
        for t in list(self._conns):
            t.cancel()
        if self._conns:
            await asyncio.wait(list(self._conns), timeout=2)
        await self.on_shutdown()

    async def on_shutdown(self) -> None:
        """Hook for subclasses/owners: runs on the server loop while stopping."""

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the server loop (thread-safe; ignored once stopped)."""
        if self.loop is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(fn, *args)

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> HttpServer:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # connection handling -------------------------------------------------------------------
    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self._writers.add(writer)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                except asyncio.LimitOverrunError:
                    await self._write(writer, Response.text("headers too large", 431), False)
                    break
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    await self._write(writer, Response.text("bad request line", 400), False)
                    break
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                conn_hdr = headers.get("connection", "").lower()
                keep_alive = (
                    conn_hdr != "close" if version == "HTTP/1.1" else conn_hdr == "keep-alive"
                )
                try:
                    body = await self._read_body(reader, headers)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                except ValueError as exc:
                    await self._write(writer, Response.text(str(exc), 400), False)
                    break
                request = build_request(method, target, headers, body)
                try:
                    response = await self._handler(request)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("fake server handler failed for %s %s", method, target)
                    response = Response.json({"error": "handler crashed"}, 500)
                self.requests_served += 1
                if not await self._write(writer, response, keep_alive):
                    break
                if not keep_alive:
                    break
        except asyncio.CancelledError:
            pass
        finally:
            self._conns.discard(task)
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            total = 0
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until an empty line
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
        length = int(headers.get("content-length", "0") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad content-length")
        return await reader.readexactly(length) if length else b""

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, response: Response, keep_alive: bool) -> bool:
        reason = _REASONS.get(response.status, "Unknown")
        head = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Content-Length: {len(response.body)}",
            f"Content-Type: {response.content_type}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        head.extend(f"{k}: {v}" for k, v in response.headers.items())
        try:
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
            await writer.drain()
        except (ConnectionError, RuntimeError):
            return False
        return True


class LazyText:
    """Formats a description (e.g. for a timeout message) only when it is shown."""

    def __init__(self, fn: Callable[..., str], *args: Any) -> None:
        self.fn, self.args = fn, args

    def __str__(self) -> str:
        return self.fn(*self.args)


class WaitTimeout(AssertionError):
    """Raised by `Recorder.wait_for` / `await_for` when the condition did not hold in time."""


class Recorder:
    """Thread-safe state with sync and async waiters (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def _changed(self) -> None:
        """Wake every waiter. Call with `self._lock` held."""
        self._cond.notify_all()
        for loop, event in list(self._async_waiters):
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # loop closed
                self._async_waiters.discard((loop, event))

    def wait_for(
        self, cond: Callable[[], Any], timeout: float = 5.0, what: str | None = None
    ) -> Any:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = cond()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WaitTimeout(self._timeout_message(what, timeout))
                self._cond.wait(remaining)

    async def await_for(
        self,
        cond: Callable[[], Any],
        timeout: float = 5.0,
        what: str | None = None,
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = asyncio.Event()
            key = (loop, event)
            with self._lock:
                value = cond()
                if value:
                    return value
                self._async_waiters.add(key)
            try:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise WaitTimeout(self._timeout_message(what, timeout))
                try:
                    await asyncio.wait_for(event.wait(), remaining)
                except TimeoutError:
                    with self._lock:
                        value = cond()
                    if value:
                        return value
                    raise WaitTimeout(self._timeout_message(what, timeout)) from None
            finally:
                with self._lock:
                    self._async_waiters.discard(key)

    def _timeout_message(self, what: str | None, timeout: float) -> str:
        return f"timed out after {timeout}s waiting for {what or 'condition'}"
