"""python-telegram-bot's Bot API transport on aiohttp (`TELEGRAM_HTTP=aiohttp`, the default).

PTB talks HTTP through a `telegram.request.BaseRequest`; its own is `HTTPXRequest`. Profiles of
the inbound benchmark (bench/README.md, "Inbound") put a third of the worker's CPU time in
httpx + httpcore + h11 + anyio, and most of the difference between Jejak and a bare echo bot in
httpcore's connection pool: with several updates in flight it checks every pooled connection
(a `poll()` system call each) on every request. aiohttp parses HTTP in C (llhttp) and keeps its
pool as a list of idle connections. This class only maps PTB's request (JSON parameters, files
as multipart, per-call timeouts) onto one `aiohttp.ClientSession`, and aiohttp's errors onto
PTB's `TimedOut` / `NetworkError`, which the channel already classifies.
"""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_DEFAULT = BaseRequest.DEFAULT_NONE


class AiohttpRequest(BaseRequest):
    """One aiohttp session with at most `pool_size` connections.

    Timeouts follow HTTPXRequest's defaults and meaning: connect (to get a connection,
    including waiting for a free one in the pool) and read (between bytes of the answer; PTB
    lengthens it for long polling) 5 s each unless a call passes its own; a request with files
    gets `media_timeout` as its total.
    """

    __slots__ = ("_connect", "_media_timeout", "_pool_size", "_read", "_session")

    def __init__(
        self,
        pool_size: int = 8,
        *,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        media_timeout: float | None = 60.0,
    ) -> None:
        self._pool_size = max(1, pool_size)
        self._read = read_timeout
        self._connect = connect_timeout
        self._media_timeout = media_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                timeout=aiohttp.ClientTimeout(total=None),
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | None = _DEFAULT,  # type: ignore[assignment]
        write_timeout: float | None = _DEFAULT,  # type: ignore[assignment]
        connect_timeout: float | None = _DEFAULT,  # type: ignore[assignment]
        pool_timeout: float | None = _DEFAULT,  # type: ignore[assignment]
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        connect = self._connect if connect_timeout is _DEFAULT else connect_timeout
        if pool_timeout is not _DEFAULT and pool_timeout is not None and connect is not None:
            connect += pool_timeout
        timeout = aiohttp.ClientTimeout(
            total=self._media_timeout if files else None,
            connect=connect,
            sock_read=self._read if read_timeout is _DEFAULT else read_timeout,
        )
        data: aiohttp.FormData | bytes | None = None
        headers: dict[str, str] | None = None
        if files:
            form = aiohttp.FormData()
            for name, value in (request_data.json_parameters or {}).items():
                form.add_field(name, value)
            for name, part in files.items():
                filename, content = part[0], part[1]
                mime = part[2] if len(part) > 2 else None
                form.add_field(name, content, filename=filename, content_type=mime)
            data = form
        elif request_data is not None and request_data.json_parameters:
            # as HTTPXRequest sends it: url-encoded, each value JSON-encoded
            data = urlencode(request_data.json_parameters).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
        try:
            async with session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err
