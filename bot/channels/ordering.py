"""One person's work strictly in arrival order, different people's work concurrently.

Both channels use it: Telegram's update processor and the WhatsApp webhook's background tasks.
A caller must enter `run` in arrival order (the registration happens before its first await).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Hashable
from typing import TypeVar

T = TypeVar("T")


class KeyedSequencer:
    def __init__(self) -> None:
        self._tails: dict[Hashable, asyncio.Future] = {}

    async def run(self, key: Hashable, work: Awaitable[T]) -> T:
        """Await `work` after every earlier `run` with the same key has finished."""
        done = asyncio.get_running_loop().create_future()
        previous = self._tails.get(key)
        self._tails[key] = done
        try:
            if previous is not None:
                await asyncio.shield(previous)
            return await work
        finally:
            done.set_result(None)
            if self._tails.get(key) is done:
                del self._tails[key]

    def __len__(self) -> int:
        """Keys with work queued or running."""
        return len(self._tails)
