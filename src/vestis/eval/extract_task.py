"""The extraction task: run an extractor over a dataset split and score it.

Predictions are appended to ``predictions.jsonl`` as they are made, so a killed run
resumes where it stopped; metrics are always recomputed from that file, then written
to ``metrics.json`` together with a human ``report.html``.

>>> from vestis.data.base import open_dataset
>>> from vestis.extract.base import create_extractor
>>> from vestis.schema import load_schema
>>> schema = load_schema("vestis")
>>> ds = open_dataset("hm", schema)  # doctest: +SKIP
>>> majority = create_extractor("majority", schema)
>>> m = run_extract_eval(ds, majority, schema, "runs/hm-majority")  # doctest: +SKIP
>>> m["weighted_score"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vestis.eval import metrics as M
from vestis.images import ImageLoadError, load_image

if TYPE_CHECKING:
    from vestis.data.base import Dataset, Split
    from vestis.data.example import Example
    from vestis.extract.base import Extractor
    from vestis.schema import Schema

logger = logging.getLogger(__name__)
PREDICTIONS = "predictions.jsonl"
RUN_INFO = "run.json"


def run_extract_eval(
    dataset: Dataset,
    extractor: Extractor,
    schema: Schema,
    out_dir: str | os.PathLike,
    limit: int | None = None,
    split: Split = "val",
    train_split: Split | None = "train",
    resume: bool = True,
    progress: bool = True,
    embeddings: bool = False,
) -> dict[str, Any]:
    """Fit on ``train_split``, predict ``split`` (first ``limit`` examples), write and return metrics.

    ``embeddings`` adds MiniLM cosine similarity for text fields (slow on first use).
    Resuming needs the same dataset, backend, schema and split as the interrupted run.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    backend = extractor.name or type(extractor).__name__
    info = {"dataset": dataset.name, "backend": backend, "schema": schema.name, "split": split}
    pred_path = out / PREDICTIONS
    if not resume:
        pred_path.unlink(missing_ok=True)
    _check_same_run(out / RUN_INFO, info, pred_path)
    (out / RUN_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")

    examples = dataset.split(split)[:limit]
    done = {r["id"] for r in read_predictions(pred_path)}
    todo = [ex for ex in examples if ex.id not in done]
    logger.info(
        "%s on %s/%s: %d examples, %d already predicted",
        backend,
        dataset.name,
        split,
        len(examples),
        len(examples) - len(todo),
    )
    if todo and train_split is not None:
        extractor.fit(dataset.split(train_split))

    start = time.perf_counter()
    with pred_path.open("a", encoding="utf-8") as sink, _progress(progress, len(todo), backend) as advance:
        for batch in _batches(todo, extractor.batch_size):
            for record in predict_batch(extractor, schema, batch):
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            sink.flush()
            advance(len(batch))
    wall = time.perf_counter() - start

    wanted = {ex.id for ex in examples}
    records = [r for r in read_predictions(pred_path) if r["id"] in wanted]
    result = {**info, **score_records(schema, records, embeddings)}
    result["throughput"] = _throughput(records, len(todo), wall)
    result["peak_rss_mb"] = peak_rss_mb()
    result["timestamp"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result["vestis_version"] = _version()
    (out / "metrics.json").write_text(json.dumps(result, indent=2), encoding="utf-8")

    from vestis.eval.report import write_report

    write_report(result, records, schema, out / "report.html")
    logger.info("weighted score %s; wrote %s", result["weighted_score"], out)
    return result


def predict_batch(extractor: Extractor, schema: Schema, batch: Sequence[Example]) -> list[dict[str, Any]]:
    """One prediction record per example; unloadable images become error records.

    A record's ``seconds`` is its share of decoding plus extraction, so throughput
    computed from the records holds across resumed runs.
    """
    records: dict[int, dict[str, Any]] = {}
    images, positions = [], []
    start = time.perf_counter()
    for i, ex in enumerate(batch):
        try:
            images.append(load_image(ex.image))
            positions.append(i)
        except ImageLoadError as exc:
            records[i] = _record(ex, schema, schema.empty(), {}, False, [], str(exc), "image", 0.0)
        except Exception as exc:  # a decoder error load_image does not type yet: still one bad item
            message = f"{ex.image}: corrupt: {type(exc).__name__}: {exc}"
            records[i] = _record(ex, schema, schema.empty(), {}, False, [], message, "image", 0.0)
    load_share = (time.perf_counter() - start) / max(1, len(images))
    for i, res in zip(positions, extractor.extract(images) if images else [], strict=True):
        kind = "output" if res.error else None
        records[i] = _record(
            batch[i],
            schema,
            res.attributes,
            res.confidence,
            res.valid_raw,
            res.repairs,
            res.error,
            kind,
            res.seconds + load_share,
        )
    return [records[i] for i in range(len(batch))]


def score_records(
    schema: Schema, records: Sequence[dict[str, Any]], embeddings: bool = False
) -> dict[str, Any]:
    """Metrics over prediction records (image-load errors score as empty predictions)."""
    scored = M.evaluate(schema, [r["gold"] for r in records], [r["pred"] for r in records], embeddings)
    errors: dict[str, int] = {}
    for r in records:
        if r.get("error_kind"):
            errors[r["error_kind"]] = errors.get(r["error_kind"], 0) + 1
    return {
        "n": len(records),
        "errors": errors,
        "primary_metric": "weighted_score",
        **scored,
        "valid_json": M.valid_json_rates(records),
    }


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Records in ``path``; a partial or corrupt tail (from a killed run) is truncated away."""
    if not path.exists():
        return []
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    good_bytes = 0
    with path.open("rb") as fh:
        for line in fh:
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("partial line")
                record = json.loads(line)
            except ValueError:
                logger.warning("%s: dropping a partial record at byte %d", path, good_bytes)
                with path.open("r+b") as rw:
                    rw.truncate(good_bytes)
                break
            good_bytes += len(line)
            if record["id"] not in seen:
                seen.add(record["id"])
                records.append(record)
    return records


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _record(
    ex: Example,
    schema: Schema,
    pred: dict[str, Any],
    confidence: dict[str, float],
    valid_raw: bool,
    repairs: list[str],
    error: str | None,
    error_kind: str | None,
    seconds: float,
) -> dict[str, Any]:
    gold = {k: v for k, v in ex.labels.items() if k in schema.fields}
    return {
        "id": ex.id,
        "image": str(ex.image),
        "gold": gold,
        "pred": pred,
        "confidence": confidence,
        "valid_raw": valid_raw,
        "repairs": repairs,
        "error": error,
        "error_kind": error_kind,
        "seconds": round(seconds, 6),
    }


def _check_same_run(info_path: Path, info: dict[str, str], pred_path: Path) -> None:
    if not (pred_path.exists() and info_path.exists()):
        return
    previous = json.loads(info_path.read_text(encoding="utf-8"))
    changed = [k for k in info if previous.get(k) != info[k]]
    if changed:
        raise ValueError(
            f"{pred_path} holds predictions of another run (different {', '.join(changed)}); "
            "pass resume=False or use another out_dir"
        )


def _throughput(records: Sequence[dict[str, Any]], n_new: int, wall: float) -> dict[str, float | None]:
    seconds = sum(r.get("seconds") or 0.0 for r in records if r.get("error_kind") != "image")
    n = sum(r.get("error_kind") != "image" for r in records)
    return {
        "images_per_s": round(n / seconds, 2) if seconds else None,
        "wall_images_per_s": round(n_new / wall, 2) if n_new and wall else None,
        "seconds_per_image": round(seconds / n, 6) if n else None,
    }


def _batches(items: Sequence[Example], size: int) -> Iterator[Sequence[Example]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]


@contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator[Callable[[int], None]]:
    """The shared rich progress bar (or nothing); yields ``advance(n)``."""
    if not enabled or total == 0:
        yield lambda n: None
        return
    from vestis.progress import progress_bar

    with progress_bar() as bar:
        task = bar.add_task(f"extract ({label})", total=total)
        yield lambda n: bar.advance(task, n)


def _version() -> str:
    from vestis import __version__

    return __version__
