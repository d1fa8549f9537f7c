import asyncio

from bot.channels.ordering import KeyedSequencer


async def test_same_key_in_order_other_keys_concurrently():
    seq = KeyedSequencer()
    log: list[str] = []
    gate = asyncio.Event()

    async def work(name: str, wait: bool) -> str:
        log.append(f"start {name}")
        if wait:
            await gate.wait()
        log.append(f"end {name}")
        return name

    a1 = asyncio.create_task(seq.run("a", work("a1", True)))
    a2 = asyncio.create_task(seq.run("a", work("a2", False)))
    b1 = asyncio.create_task(seq.run("b", work("b1", False)))
    assert await b1 == "b1"  # another person is not held up by a's slow first message
    assert "start a2" not in log  # a's second message waits for the first
    gate.set()
    assert [await a1, await a2] == ["a1", "a2"]
    assert log.index("end a1") < log.index("start a2")
    assert len(seq) == 0


async def test_a_failing_item_does_not_block_the_next():
    seq = KeyedSequencer()

    async def boom() -> None:
        raise RuntimeError("x")

    async def ok() -> str:
        return "ok"

    first = asyncio.create_task(seq.run("a", boom()))
    second = asyncio.create_task(seq.run("a", ok()))
    assert await second == "ok"
    assert isinstance(first.exception(), RuntimeError)
