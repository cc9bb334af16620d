"""What one server process holds: the catalog, its models (loaded once), and the pool that runs them.

Every model or catalog call runs on a small thread pool (``inference_threads``) so the event loop
keeps answering; at most ``max_queue`` calls wait for it, beyond which requests get 503 with
``Retry-After`` instead of piling up. Readers share the catalog, a writer (ingest, delete, catching
up with items another worker wrote) has it alone, so a search never sees an index being changed.
Concurrent extract requests are micro-batched (:mod:`vestis.serve.batching`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from PIL import Image

from vestis.errors import OptionsError
from vestis.serve.batching import MicroBatcher
from vestis.serve.metrics import Metrics
from vestis.serve.settings import ServeSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


class Busy(Exception):
    """Too many model calls are waiting: the client should retry later (503)."""


class RWLock:
    """Many readers or one writer (writers are not starved: a waiting writer holds new readers back)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


@dataclass(frozen=True)
class SearchJob:
    """One search request: a query (text, photo, catalog item, with a modification) and its options."""

    query: Any  # vestis.search.searcher.Query
    where: str | None
    k: int
    hybrid: bool = True


@dataclass
class ExtractJob:
    """One extract request: one photo (parsed into items) or several photos of one item."""

    photos: list[Image.Image]
    parser: str


class Service:
    """The catalog, searcher, extractor, parsers and scorer of one process, and how they are run."""

    def __init__(self, settings: ServeSettings, metrics: Metrics | None = None) -> None:
        from vestis.catalog.catalog import Catalog
        from vestis.search.searcher import Searcher

        self.settings = settings
        self.metrics = metrics or Metrics()
        self.catalog = Catalog.open(settings.catalog)
        self.schema = self.catalog.schema
        self.searcher = Searcher(self.catalog)
        self.lock = RWLock()
        self.ready = False
        self._pool = ThreadPoolExecutor(settings.inference_threads, thread_name_prefix="vestis-model")
        self._waiting = 0
        self._models_lock = threading.Lock()
        self._extractor = None
        self._item_extractors: dict[str, Any] = {}
        self._parser_objects: dict[str, Any] = {}
        self._scorer = None
        self._last_refresh = 0.0
        self._batchers: dict[str, MicroBatcher[ExtractJob, Any]] = {}
        self._search_batcher: MicroBatcher[SearchJob, Any] | None = None
        unknown = [p for p in settings.parsers if p not in _parser_names()]
        if unknown:
            raise OptionsError(f"unknown parser(s) {unknown} in settings; known: {_parser_names()}")

    # ---- models, loaded once ----------------------------------------------------------------
    def load(self) -> None:
        """Load what every request needs (the embedder, the extractor, the index); then ready.
        Run it through :meth:`call` with ``write=True``."""
        t0 = time.perf_counter()
        self.catalog.embedder  # noqa: B018
        self.catalog.index  # noqa: B018
        self.item_extractor("whole")
        self.ready = True
        log.info("models loaded in %.1f s", time.perf_counter() - t0)

    @property
    def extractor(self):
        with self._models_lock:
            if self._extractor is None:
                if self.settings.extractor:
                    from vestis.extract.base import load_extractor

                    self._extractor = load_extractor(self.settings.extractor, self.schema)
                else:
                    self._extractor = self.catalog.extractor
            return self._extractor

    @property
    def parsers(self) -> list[str]:
        """The parsers an extract request may name."""
        return list(dict.fromkeys([*self.settings.parsers, *self._parser_objects]))

    def use_parser(self, name: str, parser) -> None:
        """Offer a parser object under ``name`` (an application's own, or a test's stand-in)."""
        with self._models_lock:
            self._parser_objects[name] = parser
            self._item_extractors.pop(name, None)

    def item_extractor(self, parser: str):
        if parser not in self.parsers:
            raise OptionsError(f"unknown parser {parser!r}; this server offers {', '.join(self.parsers)}")
        extractor = self.extractor
        with self._models_lock:
            if parser not in self._item_extractors:
                from vestis.extract.items import ItemExtractor

                self._item_extractors[parser] = ItemExtractor(
                    extractor, self._parser_objects.get(parser, parser)
                )
            return self._item_extractors[parser]

    @property
    def scorer(self):
        with self._models_lock:
            if self._scorer is None:
                from vestis.outfits import load_scorer

                self._scorer = load_scorer(
                    self.settings.scorer, embedding_model=self.catalog.store.embedding_model()
                )
            return self._scorer

    # ---- running work off the event loop ----------------------------------------------------
    async def call(self, fn: Callable[..., T], *args: Any, write: bool = False, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the model pool, holding the catalog for reading (or writing)."""
        if self._waiting >= self.settings.max_queue:
            self.metrics.rejected_busy += 1
            raise Busy(f"{self._waiting} requests are waiting for the models; retry shortly")
        self._waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, partial(self._locked, fn, args, kwargs, write)
            )
        finally:
            self._waiting -= 1

    def _locked(self, fn, args, kwargs, write: bool):
        if not write:
            self._refresh()
        with self.lock.write() if write else self.lock.read():
            return fn(*args, **kwargs)

    def _refresh(self) -> None:
        """Catch up with items other processes wrote (at most every ``index_refresh_s``)."""
        now = time.monotonic()
        if now - self._last_refresh < self.settings.index_refresh_s:
            return
        self._last_refresh = now
        with self.lock.write():
            self.catalog.sync_index()

    @property
    def waiting(self) -> int:
        return self._waiting

    # ---- extraction (micro-batched) ---------------------------------------------------------
    async def extract(self, job: ExtractJob):
        """The Extraction of one request; single photos of concurrent requests share a batch."""
        if len(job.photos) > 1:
            return (await self.call(self._extract_items, [job]))[0]
        batcher = self._batchers.get(job.parser)
        if batcher is None:
            batcher = self._batchers[job.parser] = MicroBatcher(
                partial(self.call, self._extract_singles),
                max_batch=self.settings.batch_max,
                max_wait_s=self.settings.batch_wait_ms / 1000,
                on_batch=self.metrics.observe_batch,
            )
        return await batcher.submit(job)

    def _extract_singles(self, jobs: Sequence[ExtractJob]) -> list[Any]:
        per_item = self.item_extractor(jobs[0].parser)
        return per_item.extract([job.photos[0] for job in jobs])

    def _extract_items(self, jobs: Sequence[ExtractJob]) -> list[Any]:
        return self.extractor.extract_items([job.photos for job in jobs])

    # ---- search (micro-batched) -------------------------------------------------------------
    async def search(self, job: SearchJob) -> list[Any]:
        """The hits of one search; concurrent searches share their embedding and index calls."""
        if self._search_batcher is None:
            self._search_batcher = MicroBatcher(
                partial(self.call, self._search_many),
                max_batch=self.settings.search_batch_max,
                max_wait_s=self.settings.batch_wait_ms / 1000,
                on_batch=self.metrics.observe_search_batch,
            )
        result = await self._search_batcher.submit(job)
        if isinstance(result, BaseException):
            raise result
        return result

    def _search_many(self, jobs: Sequence[SearchJob]) -> list[Any]:
        """Hits per job, in order: jobs with the same filter, k and hybrid go through one
        :meth:`Searcher.search_many`; a group that fails gives each of its jobs its own answer."""
        groups: dict[tuple, list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault((job.where, job.k, job.hybrid), []).append(i)
        out: list[Any] = [None] * len(jobs)
        for (where, k, hybrid), members in groups.items():
            try:
                found = self.searcher.search_many(
                    [jobs[i].query for i in members], where=where, k=k, hybrid=hybrid
                )
            except Exception as exc:  # each job gets its own answer: one bad query fails alone
                found = [exc] if len(members) == 1 else [self._search_alone(jobs[i]) for i in members]
            for i, hits in zip(members, found, strict=True):
                out[i] = hits
        return out

    def _search_alone(self, job: SearchJob) -> Any:
        try:
            return self.searcher.search_many([job.query], where=job.where, k=job.k, hybrid=job.hybrid)[0]
        except Exception as exc:  # handed to its own request (a UserError is its 4xx)
            return exc

    async def close(self) -> None:
        if self._search_batcher is not None:
            await self._search_batcher.close()
        for batcher in self._batchers.values():
            await batcher.close()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.catalog.close()


def _parser_names() -> list[str]:
    from vestis.parse.base import list_parsers

    return list_parsers()


__all__ = ["Busy", "ExtractJob", "RWLock", "SearchJob", "Service"]
