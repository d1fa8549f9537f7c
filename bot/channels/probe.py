"""A live check of a channel for /healthz: one cheap platform call, its answer kept a while.

A revoked token or a webhook that points elsewhere leaves the process running and answering
HTTP, so only asking the platform tells. /healthz is polled every 30 s by Docker (and by
monitoring), so the answer is reused for `ttl` seconds: at most one extra API call per
channel per `ttl`, whoever asks. A check that takes longer than `timeout` counts as failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

DEFAULT_TTL = 30.0
DEFAULT_TIMEOUT = 3.0

Check = Callable[[], Awaitable[dict[str, Any]]]


class CachedProbe:
    """`await probe()` -> {"ok": bool, "error"?: str, ...}; concurrent callers share one check."""

    def __init__(
        self, check: Check, *, ttl: float = DEFAULT_TTL, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.check = check
        self.ttl = ttl
        self.timeout = timeout
        self._result: dict[str, Any] | None = None
        self._at = 0.0
        self._running: asyncio.Task | None = None

    async def __call__(self) -> dict[str, Any]:
        if self._result is not None and time.monotonic() - self._at < self.ttl:
            return self._result
        if self._running is None or self._running.done():
            self._running = asyncio.ensure_future(self._run())
        return await asyncio.shield(self._running)

    async def _run(self) -> dict[str, Any]:
        try:
            result = await asyncio.wait_for(self.check(), self.timeout)
        except TimeoutError:
            result = {"ok": False, "error": f"no answer within {self.timeout:g} s"}
        self._result, self._at = result, time.monotonic()
        return result


__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_TTL", "CachedProbe"]
