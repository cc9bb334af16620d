"""Micro-batching of concurrent requests, the bounded model queue, and the readers-writer lock."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from PIL import Image

from tests.serve.conftest import TOKEN, person_photo
from vestis.serve.batching import MicroBatcher
from vestis.serve.runtime import Busy, ExtractJob, RWLock, Service
from vestis.serve.settings import ServeSettings


def run(coro):
    return asyncio.run(coro)


def test_concurrent_submits_share_batches_and_each_gets_its_own_result():
    seen: list[list[int]] = []

    async def double(batch):
        seen.append(list(batch))
        await asyncio.sleep(0.01)
        return [2 * x for x in batch]

    async def main():
        batcher = MicroBatcher(double, max_batch=4, max_wait_s=0.05)
        results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
        await batcher.close()
        return results

    assert run(main()) == [2 * i for i in range(10)]
    assert sorted(x for batch in seen for x in batch) == list(range(10))
    assert max(len(b) for b in seen) == 4 and len(seen) == 3  # 4 + 4 + 2


def test_a_lone_request_waits_at_most_the_wait_time():
    async def main():
        batcher = MicroBatcher(
            lambda batch: asyncio.sleep(0, [x + 1 for x in batch]), max_batch=64, max_wait_s=0.02
        )
        t0 = time.perf_counter()
        result = await batcher.submit(1)
        await batcher.close()
        return result, time.perf_counter() - t0

    result, seconds = run(main())
    assert result == 2 and seconds < 0.5


def test_a_failing_batch_fails_its_requests_and_the_next_batch_runs():
    calls = []

    async def flaky(batch):
        calls.append(batch)
        if len(calls) == 1:
            raise RuntimeError("model fell over")
        return batch

    async def main():
        batcher = MicroBatcher(flaky, max_batch=8, max_wait_s=0.01)
        first = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        second = await batcher.submit(3)
        await batcher.close()
        return first, second

    first, second = run(main())
    assert all(isinstance(e, RuntimeError) for e in first) and second == 3


@pytest.fixture
def service(catalog_dir):
    s = Service(
        ServeSettings(
            catalog=str(catalog_dir),
            token=TOKEN,
            parsers=["whole"],
            batch_max=8,
            search_batch_max=8,
            batch_wait_ms=30,
        )
    )
    yield s
    asyncio.run(s.close())


def test_concurrent_extract_requests_run_as_one_model_call(service):
    photos = [Image.new("RGB", (40, 60), colour) for colour in ("red", "navy", "green", "yellow", "black")]
    calls = []
    extract = service.extractor._extract_batch
    service.extractor._extract_batch = lambda images: calls.append(len(images)) or extract(images)

    async def main():
        return await asyncio.gather(*(service.extract(ExtractJob([p], "whole")) for p in photos))

    results = run(main())
    assert [r.attributes["colour"] for r in results] == ["red", "navy", "green", "yellow", "black"]
    assert calls == [5] and service.metrics.batches.count == 1 and service.metrics.batches.sum == 5


def test_a_photo_of_a_person_in_a_batch_keeps_its_garments(service):
    from tests.serve.conftest import Figure

    service.use_parser("test-figure", Figure())

    async def main():
        jobs = [
            ExtractJob([person_photo()], "test-figure"),
            ExtractJob([Image.new("RGB", (50, 50), "green")], "test-figure"),
        ]
        return await asyncio.gather(*(service.extract(j) for j in jobs))

    person, product = run(main())
    assert person.kind == "person" and [i.category for i in person.items] == ["top", "bottom"]
    assert product.kind == "product" and product.attributes["colour"] == "green"


def test_too_many_waiting_calls_get_busy(catalog_dir):
    service = Service(ServeSettings(catalog=str(catalog_dir), token=TOKEN, max_queue=2))
    gate = threading.Event()

    async def main():
        blocked = [asyncio.ensure_future(service.call(gate.wait)) for _ in range(2)]
        await asyncio.sleep(0.05)
        with pytest.raises(Busy, match="2 requests are waiting"):
            await service.call(lambda: None)
        gate.set()
        await asyncio.gather(*blocked)
        return await service.call(lambda: "free again")

    assert run(main()) == "free again" and service.metrics.rejected_busy == 1
    asyncio.run(service.close())


def test_a_writer_waits_for_readers_and_holds_new_ones_back():
    lock, order = RWLock(), []
    reading = threading.Event()

    def reader(name, hold):
        with lock.read():
            reading.set()
            order.append(f"{name} in")
            time.sleep(hold)
            order.append(f"{name} out")

    def writer():
        with lock.write():
            order.append("writer")

    first = threading.Thread(target=reader, args=("r1", 0.2))
    first.start()
    reading.wait()
    w = threading.Thread(target=writer)
    w.start()
    time.sleep(0.05)
    late = threading.Thread(target=reader, args=("r2", 0))
    late.start()
    for t in (first, w, late):
        t.join()
    assert order == ["r1 in", "r1 out", "writer", "r2 in", "r2 out"]


def test_concurrent_searches_share_one_call_and_a_bad_one_fails_alone(service):
    from vestis.schema.filters import FilterError
    from vestis.search.searcher import Query
    from vestis.serve.runtime import SearchJob

    calls = []
    search_many = service.searcher.search_many
    service.searcher.search_many = lambda queries, **kw: (
        calls.append(len(queries)) or search_many(queries, **kw)
    )
    jobs = [SearchJob(Query(text=t), "category = top", 3) for t in ("red", "navy", "green")]
    jobs.insert(1, SearchJob(Query(text="red"), "colour = = red", 3))

    async def main():
        return await asyncio.gather(*(service.search(j) for j in jobs), return_exceptions=True)

    red, bad, navy, green = run(main())
    assert isinstance(bad, FilterError)
    assert all(
        len(hits) == 3 and {h.attributes["category"] for h in hits} == {"top"} for hits in (red, navy, green)
    )
    assert calls[:2] == [3, 1]  # the three with one filter in one call; the bad filter on its own
    assert service.metrics.search_batches.count == 1 and service.metrics.search_batches.sum == 4


def test_searches_are_not_batched_by_default_while_extracts_are(catalog_dir):
    """By default (``search_batch_max`` 1) each search is its own call; extracts still share one."""
    from vestis.search.searcher import Query
    from vestis.serve.runtime import SearchJob

    settings = ServeSettings(catalog=str(catalog_dir), token=TOKEN, parsers=["whole"], batch_wait_ms=30)
    service = Service(settings)
    try:
        calls = []
        search_many = service.searcher.search_many
        service.searcher.search_many = lambda queries, **kw: (
            calls.append(len(queries)) or search_many(queries, **kw)
        )
        jobs = [SearchJob(Query(text=t), None, 3) for t in ("red", "navy", "green")]

        async def main():
            return await asyncio.gather(*(service.search(j) for j in jobs))

        assert all(len(hits) == 3 for hits in run(main()))
        assert calls == [1, 1, 1]
        assert service.settings.batch_max == 16
    finally:
        asyncio.run(service.close())
