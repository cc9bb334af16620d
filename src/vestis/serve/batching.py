"""Micro-batching: concurrent requests for the same model call share one batched call.

A request awaits :meth:`MicroBatcher.submit`; one consumer task takes what is queued (waiting at
most ``max_wait_s`` for more, up to ``max_batch`` inputs), runs the batch function once off the
event loop and hands each request its own result. While a batch runs, new requests queue up and
form the next one, so under load batches fill by themselves and an idle server adds at most
``max_wait_s`` of latency.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    """``await batcher.submit(x)`` → ``run([.., x, ..])[i]``, batched with concurrent submits.

    ``run`` is an async callable taking a list of inputs and returning one result per input, in
    order (usually: a synchronous batch function sent to a thread pool). ``on_batch(n)`` is called
    with each batch's size (metrics).
    """

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[Sequence[R]]],
        max_batch: int = 16,
        max_wait_s: float = 0.002,
        on_batch: Callable[[int], Any] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self.run = run
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.on_batch = on_batch
        self._queue: asyncio.Queue[tuple[T, asyncio.Future]] | None = None
        self._task: asyncio.Task | None = None

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._consume())
        future: asyncio.Future = loop.create_future()
        assert self._queue is not None
        await self._queue.put((item, future))
        return await future

    async def _consume(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            batch = [await queue.get()]
            deadline = asyncio.get_running_loop().time() + self.max_wait_s
            while len(batch) < self.max_batch:
                remaining = deadline - asyncio.get_running_loop().time()
                try:
                    more = (
                        queue.get_nowait()
                        if remaining <= 0
                        else await asyncio.wait_for(queue.get(), remaining)
                    )
                    batch.append(more)
                except (asyncio.QueueEmpty, asyncio.TimeoutError):
                    break
            batch = [(item, fut) for item, fut in batch if not fut.cancelled()]  # clients gone
            if not batch:
                continue
            if self.on_batch is not None:
                self.on_batch(len(batch))
            try:
                results = await self.run([item for item, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"batch function gave {len(results)} results for {len(batch)} inputs")
            except BaseException as exc:  # each waiting request gets the failure, the consumer lives on
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, fut), result in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(result)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await self._task
            self._task = None


__all__ = ["MicroBatcher"]
