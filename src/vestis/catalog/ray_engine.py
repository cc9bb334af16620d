"""``vestis ingest --engine ray``: extraction and embedding as Ray Data batch inference.

The driver reads and hashes files (so duplicates cost nothing), Ray actors each load the
model once and process batches in parallel, and the driver commits their results batch by
batch into the same catalog format as the local engine (SQLite allows one writer; the
database and the index stay exactly as a local ingest leaves them, resumable the same way).

On a cluster: start Ray (``ray start --head`` / ``ray start --address=...``) and set
``RAY_ADDRESS``; give the catalog a Qdrant server (``--index qdrant --qdrant-url http://...``)
so every machine can search it. Actor count and CPUs per actor come from ``VESTIS_RAY_ACTORS``
and ``VESTIS_RAY_ACTOR_CPUS`` (defaults: 2 actors × 0.5 CPU, right for a 2-core machine).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from typing import Any

import numpy as np

from vestis.catalog.catalog import Catalog
from vestis.catalog.ingest import (
    IngestSummary,
    _skip,
    batches,
    commit_batch,
    hash_new_files,
    open_source,
)
from vestis.errors import OptionsError
from vestis.extract.embed import extract_and_embed
from vestis.images import ImageLoadError
from vestis.progress import progress_bar


class _ExtractActor:
    """Loads the extractor once; turns a batch of image paths into attributes, embeddings, thumbnails."""

    def __init__(self, config: dict[str, Any]) -> None:
        from vestis.catalog.catalog import CatalogConfig
        from vestis.embed import load_embedder
        from vestis.extract.base import load_extractor

        _one_thread()  # actors share the machine's cores
        cfg = CatalogConfig.from_dict(config)
        self.extractor = load_extractor(cfg.extractor, cfg.schema, **cfg.extractor_options)
        self.embedder = load_embedder(cfg.embedder, **cfg.embedder_options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from vestis.catalog.ingest import DECODE_MAX_SIDE, thumbnail
        from vestis.images import load_image

        attributes, confidence, embeddings, thumbs, errors = [], [], [], [], []
        images, positions = [], []
        for i, path in enumerate(batch["path"]):
            try:
                images.append(load_image(str(path), max_side=DECODE_MAX_SIDE))
                positions.append(i)
            except ImageLoadError as exc:
                errors.append(f"{exc.reason}\t{exc.detail}")
                continue
            errors.append("")
        results, vectors = extract_and_embed(self.extractor, self.embedder, images) if images else ([], [])
        dim = self.embedder.dim
        by_pos = dict(zip(positions, zip(results, images, vectors, strict=True), strict=True))
        for i in range(len(batch["path"])):
            res_img = by_pos.get(i)
            res = res_img[0] if res_img else None
            attributes.append(json.dumps(res.attributes) if res else "{}")
            confidence.append(json.dumps(res.confidence) if res else "{}")
            embeddings.append(res_img[2] if res_img else np.zeros(dim, np.float32))
            thumbs.append(thumbnail(res_img[1]) if res_img else b"")
        return {
            "row": batch["row"],
            "attributes": np.array(attributes, dtype=object),
            "confidence": np.array(confidence, dtype=object),
            "embedding": np.stack(embeddings),
            "thumbnail": np.array(thumbs, dtype=object),
            "error": np.array(errors, dtype=object),
        }


def _one_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


class _Result:
    def __init__(
        self, attributes: dict[str, Any], confidence: dict[str, float], embedding: np.ndarray
    ) -> None:
        self.attributes, self.confidence, self.embedding = attributes, confidence, embedding


def ingest_ray(catalog: Catalog, source: str, batch_size: int = 64, progress: bool = True) -> IngestSummary:
    if catalog.config.parser != "whole":
        raise OptionsError(
            f"the ray engine ingests every photo whole; this catalog's parser is {catalog.config.parser!r}: "
            "use the local engine"
        )
    import ray

    if not ray.is_initialized():
        ray.init(
            ignore_reinit_error=True,
            include_dashboard=False,
            log_to_driver=False,
            num_cpus=None if os.environ.get("RAY_ADDRESS") else os.cpu_count(),
        )
    actors = int(os.environ.get("VESTIS_RAY_ACTORS", "2"))
    actor_cpus = float(os.environ.get("VESTIS_RAY_ACTOR_CPUS", "0.5"))
    dataset = open_source(source, catalog.schema)
    examples = dataset.examples()
    summary = IngestSummary(seen=len(examples) + len(dataset.skipped))
    with catalog.writing():
        _ingest(catalog, source, dataset, summary, batch_size, progress, actors, actor_cpus)
    return summary


def _ingest(catalog, source, dataset, summary, batch_size, progress, actors, actor_cpus) -> None:
    import ray

    store = catalog.store
    catalog.index  # noqa: B018  (repairs the index if a previous run was killed)
    run_id = store.begin_ingest(source)
    start = time.perf_counter()
    for path, reason, detail in dataset.skipped:
        _skip(store, summary, path, ImageLoadError(path, reason, detail), run_id)
    seen: set[str] = set()
    todo = [
        pair
        for batch in batches(dataset.examples(), 512)
        for pair in hash_new_files(store, batch, seen, summary, run_id)
    ]
    if todo:
        items = [{"path": ex.image, "row": i} for i, (ex, _) in enumerate(todo)]
        ds = ray.data.from_items(items).map_batches(
            _ExtractActor,
            fn_constructor_kwargs={"config": asdict(catalog.config)},
            batch_size=batch_size,
            concurrency=actors,
            num_cpus=actor_cpus,
            batch_format="numpy",
        )
        with progress_bar(disable=not progress) as bar:
            task = bar.add_task("ingesting (ray)", total=len(todo))
            for out in ds.iter_batches(batch_size=batch_size, batch_format="numpy"):
                ok_rows, results, thumbs = [], [], []
                for j, row in enumerate(out["row"]):
                    ex, _ = todo[int(row)]
                    if out["error"][j]:
                        reason, _, detail = str(out["error"][j]).partition("\t")
                        _skip(store, summary, ex.image, ImageLoadError(ex.image, reason, detail), run_id)
                        continue
                    ok_rows.append(int(row))
                    results.append(
                        _Result(
                            json.loads(out["attributes"][j]),
                            json.loads(out["confidence"][j]),
                            np.asarray(out["embedding"][j], dtype=np.float32),
                        )
                    )
                    thumbs.append(out["thumbnail"][j])
                if ok_rows:
                    added = commit_batch(
                        catalog,
                        source,
                        [todo[r][0] for r in ok_rows],
                        [todo[r][1] for r in ok_rows],
                        results,
                        np.stack([r.embedding for r in results]),
                        thumbs,
                        run_id,
                    )
                    summary.added += added
                    summary.duplicates += len(ok_rows) - added
                bar.update(task, advance=len(out["row"]))
    catalog.save_index()
    summary.seconds = time.perf_counter() - start
    store.finish_ingest(
        run_id, added=summary.added, skipped=len(summary.skipped), duplicates=summary.duplicates
    )
