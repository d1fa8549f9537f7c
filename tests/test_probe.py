"""bot/channels/probe.py: the cached live check behind /healthz's per-channel `ok`."""

from __future__ import annotations

import asyncio

from bot.channels.probe import CachedProbe


async def test_answers_are_reused_within_the_ttl_and_shared_by_concurrent_callers():
    calls = 0

    async def check():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return {"ok": True, "n": calls}

    probe = CachedProbe(check, ttl=60)
    first = await asyncio.gather(*(probe() for _ in range(5)))
    assert calls == 1 and all(r == {"ok": True, "n": 1} for r in first)
    assert await probe() == {"ok": True, "n": 1}
    probe.ttl = 0
    assert await probe() == {"ok": True, "n": 2}


async def test_a_check_that_hangs_is_a_failure_after_the_timeout():
    async def check():
        await asyncio.sleep(10)
        return {"ok": True}

    probe = CachedProbe(check, timeout=0.1)
    result = await asyncio.wait_for(probe(), 2)
    assert result == {"ok": False, "error": "no answer within 0.1 s"}


async def test_a_caller_that_gives_up_does_not_cancel_the_shared_check():
    done = asyncio.Event()

    async def check():
        await asyncio.sleep(0.1)
        done.set()
        return {"ok": True}

    probe = CachedProbe(check)
    waiter = asyncio.ensure_future(probe())
    await asyncio.sleep(0.01)
    waiter.cancel()
    assert await probe() == {"ok": True} and done.is_set()
