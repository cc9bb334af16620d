"""The retrieval evaluator: the split's images become a catalog; every query goes through the Searcher.

A metric must measure what users run, so nothing here ranks by itself: the gallery (the split's
images) is ingested into a catalog (idempotent and resumable, so a second run reuses it), and
each query is a :meth:`Searcher.search` with the defaults users get: hybrid re-ranking of the
searcher's ``candidates`` nearest items for text queries, the embedder's ``compose`` for photo +
modification queries. Queries:

* **title**: an item's title (H&M ``prod_name``) must find that item. Colour variants share a
  title, so two relevance levels are reported: ``exact`` (that very item) and ``product`` (any
  item of the same group);
* **description**: the same with the free-text description;
* **image**: a photo must find the other colour variants of its product;
* **composed**: a variant's photo + "in <colour of the other variant>" must find that variant.

Text queries run twice, ``hybrid`` (the searcher's default) and ``embedding`` (``hybrid=False``).
Image and composed queries exclude the reference photo's own item from the results (a search
by photo finds the photo itself first). Each query asks for ``k = 50`` results, so ``MRR@50``
counts a target ranked below 50 as 0. Metrics per task: R@1/5/10/50, MRR@50 and nDCG@10 (binary
relevance). Keys: ``retrieve/<query>/<ranking>/<relevance>/<metric>``, e.g.
``retrieve/title/hybrid/product/R@10`` (the primary metric; without titles the first of
description, image, composed that was measured).

``exclude`` (task → example ids, e.g. the ``flagged`` lists of ``vestis eval hygiene``) adds
``<task>-clean/...`` metrics: the same rankings scored without those examples' queries (their
photos stay in the gallery), so a number can be read with and without queries whose ground
truth is ambiguous.

Items map back to gallery examples by file content: two examples with byte-identical photos are
one catalog item (ingest deduplicates), and finding it finds both.

>>> from vestis.catalog.catalog import CatalogConfig
>>> evaluator = RetrieveEvaluator("hm", out_dir="runs/retrieve-hm")  # doctest: +SKIP
>>> evaluator(CatalogConfig(schema="vestis", extractor="lite", embedder="lite"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
from collections import defaultdict
from collections.abc import Collection, Hashable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vestis.catalog.catalog import Catalog, CatalogConfig
from vestis.data.text import title
from vestis.embed.base import MAX_TEXT_CHARS
from vestis.errors import UserError
from vestis.eval.base import EVALUATORS, Evaluator, Metrics, flatten
from vestis.progress import progress_bar
from vestis.search.searcher import Query, Searcher

if TYPE_CHECKING:
    from vestis.data import Dataset, Example

log = logging.getLogger(__name__)
KS = (1, 5, 10, 50)
DEPTH = max(KS)
GALLERY_FILE = "gallery.jsonl"
REPORT_QUERIES = 6


def ranking_metrics(ranked: Sequence[Sequence[Hashable]], relevant: Sequence[set]) -> dict[str, float]:
    """R@k, MRR@50 and nDCG@10 of ranked result keys against each query's relevant keys.

    Queries without relevant keys are left out; a target not in a ranking counts as not found.
    """
    out = {f"R@{k}": 0.0 for k in KS} | {f"MRR@{DEPTH}": 0.0, "nDCG@10": 0.0}
    n = 0
    for ranking, rel in zip(ranked, relevant, strict=True):
        if not rel:
            continue
        n += 1
        ranks = [r for r, key in enumerate(ranking) if key in rel]
        first = ranks[0] if ranks else math.inf
        for k in KS:
            out[f"R@{k}"] += first < k
        out[f"MRR@{DEPTH}"] += 1.0 / (first + 1) if first < DEPTH else 0.0
        dcg = sum(1.0 / math.log2(r + 2) for r in ranks if r < 10)
        ideal = sum(1.0 / math.log2(r + 2) for r in range(min(len(rel), 10)))
        out["nDCG@10"] += dcg / ideal
    return {k: v / n for k, v in out.items()} | {"queries": n} if n else {"queries": 0}


@EVALUATORS.register("retrieve")
class RetrieveEvaluator(Evaluator):
    """Search through Searcher: title/description → image, image → colour variants, composed; R@k, MRR, nDCG.

    Called on a :class:`Searcher`, a :class:`Catalog` (searched with the default searcher) or a
    :class:`CatalogConfig` (a catalog is made in ``catalog_dir``, default ``<out_dir>/catalog``, or
    a temporary folder). The gallery is ingested into that catalog first; a catalog holding items
    that are not in the gallery is refused (they would be distractors no other run has).
    """

    name = "retrieve"
    primary = "title/hybrid/product/R@10"
    FALLBACKS = (
        "description/hybrid/product/R@10",
        "image/embedding/variants/R@10",
        "composed/embedding/target/R@10",
    )

    def __init__(
        self,
        dataset: Dataset | str,
        split: str = "val",
        limit: int | None = None,
        out_dir: str | os.PathLike | None = None,
        name: str | None = None,
        schema: Any = None,
        catalog_dir: str | os.PathLike | None = None,
        batch: int = 256,
        progress: bool = True,
        exclude: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        super().__init__(dataset, split, limit, out_dir, name, schema)
        self.exclude = {task: set(ids) for task, ids in (exclude or {}).items()}
        if catalog_dir is None and self.out_dir is not None:
            catalog_dir = self.out_dir / "catalog"
        self.catalog_dir = Path(catalog_dir) if catalog_dir is not None else None
        self.batch = max(1, batch)
        self.progress = progress
        self._grids: dict[str, list[tuple[str, list[int], int]]] = {}
        self._examples: list[Example] = []
        self._item_key: dict[int, str] = {}  # catalog item id → content hash
        self._first_example: dict[str, int] = {}  # content hash → first gallery example with it

    # ---- the contract ------------------------------------------------------------------------
    def evaluate(self, target: Searcher | Catalog | CatalogConfig) -> dict[str, Any]:
        if isinstance(target, Searcher):
            return self._evaluate(target)
        if isinstance(target, Catalog):
            return self._evaluate(Searcher(target))
        if not isinstance(target, CatalogConfig):
            raise TypeError(
                f"retrieve evaluates a Searcher, Catalog or CatalogConfig, not {type(target).__name__}"
            )
        if self.catalog_dir is not None:
            return self._on_new_catalog(target, self.catalog_dir)
        with tempfile.TemporaryDirectory(prefix="vestis-retrieve-") as tmp:
            return self._on_new_catalog(target, Path(tmp) / "catalog")

    def flat_metrics(self, result: dict[str, Any]) -> Metrics:
        return {"gallery": result["gallery"], **flatten(result["tasks"])}

    def headline(self, metrics: Metrics) -> str:
        return next((k for k in (self.primary, *self.FALLBACKS) if k in metrics), self.primary)

    def write_outputs(self, result: dict[str, Any], out: Path) -> None:
        from vestis.eval.retrieve_report import write_retrieve_report

        write_retrieve_report(result, self._examples, self._grids, out / "report.html")

    # ---- the work ----------------------------------------------------------------------------
    def _on_new_catalog(self, config: CatalogConfig, directory: Path) -> dict[str, Any]:
        catalog = Catalog.create(directory, config)
        try:
            return self._evaluate(Searcher(catalog))
        finally:
            catalog.close()

    def _evaluate(self, searcher: Searcher) -> dict[str, Any]:
        catalog = searcher.catalog
        examples = self.examples()
        keys = self._ingest(catalog, examples)
        ok = [key is not None for key in keys]
        self._examples, self._grids = examples, {}
        members: dict[str, set[int]] = defaultdict(set)
        for i, ex in enumerate(examples):
            if ok[i]:
                members[ex.group or ex.id].add(i)
        group = [members[ex.group or ex.id] for ex in examples]

        tasks: dict[str, dict[str, Any]] = {}
        texts = text_queries(examples)
        for task in ("title", "description"):
            queries = [(i, t) for i, t in texts[task] if ok[i]]
            if not queries:
                continue
            exact = [{keys[i]} for i, _ in queries]
            product = [{keys[j] for j in group[i]} for i, _ in queries]
            dropped = self.exclude.get(task)
            keep = [examples[i].id not in dropped for i, _ in queries] if dropped is not None else None
            for ranking, hybrid in (("hybrid", True), ("embedding", False)):
                ranked = self._search(
                    searcher, [Query(text=t) for _, t in queries], f"{task}, {ranking}", hybrid
                )
                tasks[f"{task}/{ranking}/exact"] = ranking_metrics(ranked, exact)
                tasks[f"{task}/{ranking}/product"] = ranking_metrics(ranked, product)
                if keep is not None:
                    for relevance, rel in (("exact", exact), ("product", product)):
                        tasks[f"{task}-clean/{ranking}/{relevance}"] = ranking_metrics(
                            *_kept(ranked, rel, keep)
                        )
                if hybrid:
                    self._grids[task] = [
                        (t, [self._first_example[key] for key in ranked[n][:5]], i)
                        for n, (i, t) in enumerate(queries[:REPORT_QUERIES])
                    ]

        variants = [i for i in range(len(examples)) if ok[i] and len(group[i]) > 1]
        if variants:
            ranked = self._search(
                searcher,
                [Query(image=examples[i].image) for i in variants],
                "image",
                exclude=[keys[i] for i in variants],
            )
            relevant = [{keys[j] for j in group[i] - {i}} - {keys[i]} for i in variants]
            tasks["image/embedding/variants"] = ranking_metrics(ranked, relevant)
        triplets = [
            (a, text, b)
            for a in variants
            for b in sorted(group[a] - {a})
            if (text := _modification(examples[a].labels, examples[b].labels, catalog.schema))
        ]
        if triplets:
            queries = [Query(image=examples[a].image, modify=text) for a, text, _ in triplets]
            ranked = self._search(searcher, queries, "composed", exclude=[keys[a] for a, _, _ in triplets])
            tasks["composed/embedding/target"] = ranking_metrics(ranked, [{keys[b]} for _, _, b in triplets])
        return {
            "dataset": self.dataset.name,
            "split": self.split,
            "gallery": len(set(filter(None, keys))),
            "examples": len(examples),
            "k": DEPTH,
            "searcher": {
                "catalog": str(catalog.directory),
                "extractor": catalog.config.extractor,
                "embedder": catalog.config.embedder,
                "embedding_model": catalog.embedding_model_id(),
                "index": catalog.config.index,
                "hybrid_weight": searcher.hybrid_weight,
                "candidates": searcher.candidates,
            },
            "tasks": tasks,
        }

    def _ingest(self, catalog: Catalog, examples: list[Example]) -> list[str | None]:
        """Ingest the gallery (new files only); return each example's item key (its content hash) or None."""
        from vestis.catalog.ingest import ingest

        with tempfile.TemporaryDirectory(prefix="vestis-gallery-") as tmp:
            manifest = Path(tmp) / GALLERY_FILE
            with manifest.open("w", encoding="utf-8") as fh:
                for ex in examples:
                    fh.write(json.dumps({"image": str(Path(ex.image).resolve()), "id": ex.id}) + "\n")
            summary = ingest(catalog, f"table:{manifest}", progress=self.progress)
        log.info("gallery: %s", summary.to_dict())
        items = catalog.store.get(catalog.store.ids())
        hashes = {item.content_hash for item in items}
        keys = [h if (h := _file_hash(ex.image)) in hashes else None for ex in examples]
        strangers = hashes - set(keys)
        if strangers:
            raise UserError(
                f"{catalog.directory} holds {len(strangers)} items that are not in this gallery "
                f"({self.dataset.name}, {self.split}, limit {self.limit}); "
                "evaluate into an empty catalog directory"
            )
        self._item_key = {item.id: item.content_hash for item in items}
        self._first_example = {}
        for i, key in enumerate(keys):
            if key is not None:
                self._first_example.setdefault(key, i)
        return keys

    def _search(
        self,
        searcher: Searcher,
        queries: list[Query],
        label: str,
        hybrid: bool = True,
        exclude: list[str | None] | None = None,
    ) -> list[list[str]]:
        """Each query's ranked item keys (top 50, the reference's own item dropped when excluded)."""
        k = DEPTH + (exclude is not None)
        ranked: list[list[str]] = []
        with progress_bar(disable=not self.progress) as bar:
            task = bar.add_task(f"queries: {label}", total=len(queries))
            for start in range(0, len(queries), self.batch):
                chunk = queries[start : start + self.batch]
                for hits in searcher.search_many(chunk, k=k, hybrid=hybrid):
                    ranked.append([self._item_key[h.id] for h in hits])
                bar.advance(task, len(chunk))
        if exclude is not None:
            ranked = [
                [key for key in r if key != own][:DEPTH] for r, own in zip(ranked, exclude, strict=True)
            ]
        return ranked


def text_queries(examples: Sequence[Example]) -> dict[str, list[tuple[int, str]]]:
    """The text queries per task: (example index, text) for ``title`` and ``description``.

    A description is a query only when it differs from the title and fits the text tower
    (:data:`MAX_TEXT_CHARS`); the hygiene evaluator checks these very texts for ambiguity.
    """
    titles = [title(ex) for ex in examples]
    return {
        "title": [(i, t) for i, t in enumerate(titles) if t],
        "description": [
            (i, ex.text)
            for i, ex in enumerate(examples)
            if ex.text and ex.text != titles[i] and len(ex.text) <= MAX_TEXT_CHARS
        ],
    }


def _kept(ranked: list, relevant: list, keep: list[bool]) -> tuple[list, list]:
    """The rankings and relevant sets of the kept queries."""
    return [r for r, k in zip(ranked, keep, strict=True) if k], [
        r for r, k in zip(relevant, keep, strict=True) if k
    ]


def _modification(ref: dict[str, Any], target: dict[str, Any], schema) -> str | None:
    """The variant's change in words ("in navy"), or None (also for a schema without the edit fields)."""
    from vestis.data.text import modification

    try:
        return modification(ref, target, schema)
    except KeyError:
        return None


def _file_hash(path: str) -> str | None:
    """SHA-256 of a file's bytes (what ingest keys items by), or None when it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
