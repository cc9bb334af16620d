"""The extraction evaluator: run an extractor over a dataset split and score it.

Predictions are appended to ``predictions.jsonl`` as they are made, so a killed run
resumes where it stopped; metrics are always recomputed from that file, then written
to ``metrics.json`` together with a human ``report.html``. Beside accuracy and F1 it
reports the Denali benchmark's measures (:mod:`vestis.eval.denali`) on the same
predictions, and with ``repeats`` > 1 their consistency across repeated runs.

>>> from vestis.extract.base import load_extractor
>>> evaluator = ExtractEvaluator("hm", out_dir="runs/hm-majority")  # doctest: +SKIP
>>> metrics = evaluator(load_extractor("majority", "vestis"))  # doctest: +SKIP
>>> metrics[evaluator.primary_metric]  # the key "extract/weighted_score"  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vestis.errors import OptionsError
from vestis.eval import denali as D
from vestis.eval import metrics as M
from vestis.eval.base import EVALUATORS, Evaluator, Metrics, flatten
from vestis.images import ImageLoadError, load_image

if TYPE_CHECKING:
    from vestis.data.base import Dataset
    from vestis.data.example import Example
    from vestis.extract.base import Extractor
    from vestis.schema import Schema

logger = logging.getLogger(__name__)
PREDICTIONS = "predictions.jsonl"
RUN_INFO = "run.json"


@EVALUATORS.register("extract")
class ExtractEvaluator(Evaluator):
    """Attribute extraction: per-field accuracy / F1 / coverage, weighted field score, the Denali
    measures, valid JSON, consistency, speed.

    Called on an :class:`~vestis.extract.base.Extractor` (its schema is the one scored). Keys:
    ``extract/weighted_score`` (primary: accuracy with the schema's field weights),
    ``extract/<field>/<metric>``, ``extract/<field>/denali/<measure>`` (presence_rate, null_rate,
    value_accuracy, embedding_similarity, token_set_ratio, rouge_l, composite),
    ``extract/denali/weighted_score`` and ``extract/denali/composite``,
    ``extract/valid_json/{strict,after_repair,parses,text_outputs}``, ``extract/throughput/images_per_s``
    (one image per example: samples/s), ``extract/peak_rss_mb``, ``extract/n``, and with
    ``repeats`` > 1 ``extract/consistency/{all_fields,<field>,n,repeats}``.

    ``train_split`` is what a learning baseline is fitted on; ``embeddings`` adds MiniLM cosine
    similarity (slow on first use), which the Denali composite needs (without it the composite and
    the Denali weighted score are None). ``repeats`` > 1 extracts the first ``consistency_limit``
    examples that many times again and reports the share whose values never change. Without
    ``out_dir`` predictions go to a temporary folder (no resume).
    """

    name = "extract"
    primary = "weighted_score"

    def __init__(
        self,
        dataset: Dataset | str,
        split: str = "val",
        limit: int | None = None,
        out_dir: str | os.PathLike | None = None,
        name: str | None = None,
        schema: Any = None,
        train_split: str | None = "train",
        resume: bool = True,
        progress: bool = True,
        embeddings: bool = False,
        repeats: int = 1,
        consistency_limit: int = 50,
    ) -> None:
        super().__init__(dataset, split, limit, out_dir, name, schema)
        if repeats < 1 or consistency_limit < 1:
            raise OptionsError("repeats and consistency_limit must be at least 1")
        self.train_split = train_split
        self.resume = resume
        self.progress = progress
        self.embeddings = embeddings
        self.repeats = repeats
        self.consistency_limit = consistency_limit
        self._records: list[dict[str, Any]] = []
        self._schema: Schema | None = None

    def evaluate(self, target: Extractor) -> dict[str, Any]:
        if self.out_dir is not None:
            return self._run(target, self.out_dir)
        with tempfile.TemporaryDirectory(prefix="vestis-extract-") as tmp:
            return self._run(target, Path(tmp))

    def flat_metrics(self, result: dict[str, Any]) -> Metrics:
        fields = {name: m for name, m in result["fields"].items() if m.get("support")}
        consistency = result.get("consistency")
        return {
            "weighted_score": result["weighted_score"],
            "n": result["n"],
            **flatten(fields, skip=("weight", "label_rate")),
            **flatten({"denali": result["denali"]}, skip=("weights",)),
            **flatten({"valid_json": result["valid_json"], "throughput": result["throughput"]}),
            "peak_rss_mb": result["peak_rss_mb"],
            **(_consistency_metrics(consistency) if consistency else {}),
        }

    def write_outputs(self, result: dict[str, Any], out: Path) -> None:
        from vestis.eval.report import write_report

        write_report(result, self._records, self._schema, out / "report.html")

    def _run(self, extractor: Extractor, out: Path) -> dict[str, Any]:
        """Fit on ``train_split``, predict the split (resuming from ``out``), score the records."""
        dataset, schema, split = self.dataset, extractor.schema, self.split
        backend = extractor.name or type(extractor).__name__
        info = {"dataset": dataset.name, "backend": backend, "schema": schema.name, "split": split}
        pred_path = out / PREDICTIONS
        if not self.resume:
            pred_path.unlink(missing_ok=True)
        _check_same_run(out / RUN_INFO, info, pred_path)
        (out / RUN_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")

        examples = self.examples()
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
        if (todo or self.repeats > 1) and self.train_split is not None:
            extractor.fit(dataset.split(self.train_split))

        start = time.perf_counter()
        with (
            pred_path.open("a", encoding="utf-8") as sink,
            _progress(self.progress, len(todo), backend) as advance,
        ):
            for batch in _batches(todo, extractor.batch_size):
                for record in predict_batch(extractor, schema, batch):
                    sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                sink.flush()
                advance(len(batch))
        wall = time.perf_counter() - start

        wanted = {ex.id for ex in examples}
        records = [r for r in read_predictions(pred_path) if r["id"] in wanted]
        result = {**info, **score_records(schema, records, self.embeddings)}
        result["throughput"] = _throughput(records, len(todo), wall)
        if self.repeats > 1:
            result["consistency"] = repeated_runs(extractor, examples[: self.consistency_limit], self.repeats)
        result["peak_rss_mb"] = peak_rss_mb()
        result["timestamp"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        result["vestis_version"] = _version()
        self._records, self._schema = records, schema
        logger.info(
            "weighted score %s, Denali weighted score %s; wrote %s",
            result["weighted_score"],
            result["denali"]["weighted_score"],
            out,
        )
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
            res.raw if isinstance(res.raw, str) else None,
        )
    return [records[i] for i in range(len(batch))]


def repeated_runs(extractor: Extractor, examples: Sequence[Example], repeats: int) -> dict[str, Any]:
    """Extract ``examples`` ``repeats`` times and measure how often each value stays the same.

    Unreadable images are left out. Deterministic backends score 1.0: a real result (the same
    photo always gets the same attributes); sampling backends score less.
    """
    images = []
    for ex in examples:
        try:
            images.append(load_image(ex.image))
        except Exception:  # an unreadable image: the main run reports it
            continue
    logger.info("consistency: %d examples, %d runs", len(images), repeats)
    runs = [[res.attributes for res in extractor.extract(images)] for _ in range(repeats)]
    return D.consistency(extractor.schema, runs)


def score_records(
    schema: Schema, records: Sequence[dict[str, Any]], embeddings: bool = False
) -> dict[str, Any]:
    """Metrics over prediction records (image-load errors score as empty predictions)."""
    golds, preds = [r["gold"] for r in records], [r["pred"] for r in records]
    scored = M.evaluate(schema, golds, preds, embeddings)
    for name, f in schema.fields.items():
        scored["fields"][name]["denali"] = D.field_measures(f, golds, preds, embeddings)
    errors: dict[str, int] = {}
    for r in records:
        if r.get("error_kind"):
            errors[r["error_kind"]] = errors.get(r["error_kind"], 0) + 1
    return {
        "n": len(records),
        "errors": errors,
        **scored,
        "denali": D.run_measures(schema, scored["fields"]),
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
    raw: str | None = None,
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
        "raw": raw,
    }


def _consistency_metrics(consistency: dict[str, Any]) -> Metrics:
    fields = {f"consistency/{name}": v for name, v in consistency["fields"].items()}
    return {**flatten({"consistency": consistency}, skip=("fields",)), **fields}


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
