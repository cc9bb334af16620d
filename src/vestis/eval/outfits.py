"""The outfits evaluator: compatibility AUC, fill-in-the-blank accuracy, complete-the-look recall@k.

The protocol (item-disjoint split, type-consistent negatives, FITB candidates, chance levels) is
:func:`vestis.outfits.evaluation.outfit_metrics`; this evaluator runs it on a dataset's outfits for a
scorer and writes ``metrics.json``, ``questions.jsonl`` and ``report.html``.

>>> evaluator = OutfitsEvaluator("mango", extractor=extractor, embedder=embedder)  # doctest: +SKIP
>>> evaluator(load_scorer("cooccurrence"))["outfits/auc"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vestis.data import Dataset
from vestis.errors import OptionsError
from vestis.eval.base import EVALUATORS, Evaluator, Metrics, flatten
from vestis.outfits.base import OutfitScorer
from vestis.outfits.data import OutfitData
from vestis.outfits.evaluation import outfit_metrics, split_outfits


@EVALUATORS.register("outfits")
class OutfitsEvaluator(Evaluator):
    """Outfit compatibility AUC, fill-in-the-blank accuracy and complete-the-look recall@k of a scorer.

    Built on a dataset with outfits and the ``extractor`` + ``embedder`` that make the item
    features (cached in ``cache``), or directly on an :class:`OutfitData`; called on an
    :class:`~vestis.outfits.base.OutfitScorer`. ``split``: ``val`` or ``train`` of the
    item-disjoint split, or ``all``. ``limit`` keeps the split's first N outfits (by id): negatives,
    candidates and recall pools then come from their items only, so the task is smaller and
    easier, not just a sample. ``recall=False`` skips complete-the-look recall (which scores every
    item of the hidden item's category per question: slow for the LLM scorer). Keys:
    ``outfits/auc`` (primary), ``outfits/fitb``, ``outfits/recall@10``, ``outfits/chance/<metric>``,
    ``outfits/fitb_by_category/<category>/accuracy``.
    """

    name = "outfits"
    primary = "auc"

    def __init__(
        self,
        dataset: Dataset | OutfitData | str,
        split: str = "val",
        limit: int | None = None,
        out_dir: str | os.PathLike | None = None,
        name: str | None = None,
        schema: Any = None,
        extractor: Any = None,
        embedder: Any = None,
        cache: str | os.PathLike | None = None,
        seed: int = 0,
        k: int = 10,
        val_fraction: float = 0.15,
        recall: bool = True,
        progress: bool = True,
    ) -> None:
        self.data = dataset if isinstance(dataset, OutfitData) else None
        super().__init__(None if self.data is not None else dataset, split, limit, out_dir, name, schema)
        if self.data is None and (extractor is None or embedder is None):
            raise OptionsError("the outfits evaluator needs an extractor and an embedder, or OutfitData")
        self.extractor = extractor
        self.embedder = embedder
        self.cache = cache
        self.seed = seed
        self.k = k
        self.val_fraction = val_fraction
        self.recall = recall
        self.progress = progress
        self._shown: tuple[list[dict[str, Any]], OutfitData | None] = ([], None)

    @property
    def dataset_name(self) -> str:
        return "" if self.dataset is None else self.dataset.name

    def outfit_data(self) -> OutfitData:
        """The items and outfits of the whole dataset, with their features (built once)."""
        if self.data is None:
            from vestis.outfits.features import outfit_data

            self.data = outfit_data(self.dataset, self.extractor, self.embedder, self.cache)
        return self.data

    def evaluate(self, target: OutfitScorer) -> dict[str, Any]:
        if self.embedder is not None:
            target.check_embeddings(self.embedder.model_id)
        data = self.outfit_data()
        subset = split_outfits(data, self.split, self.val_fraction)
        if self.limit is not None:
            subset = subset.subset(sorted(subset.outfits)[: self.limit])
        metrics, records = outfit_metrics(
            target, subset, seed=self.seed, k=self.k, recall=self.recall, progress=self.progress
        )
        self._shown = (records, subset)
        info = {"dataset": self.dataset_name, "split": self.split, "scorer": target.name, "seed": self.seed}
        return {**info, **metrics}

    def flat_metrics(self, result: dict[str, Any]) -> Metrics:
        return flatten(result, skip=("seed",))

    def write_outputs(self, result: dict[str, Any], out: Path) -> None:
        from vestis.eval.outfits_report import write_outfits_report

        records, subset = self._shown
        with open(out / "questions.jsonl", "w", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(_named(r, subset)) + "\n")
        write_outfits_report(result, records, subset, out / "report.html")


def _named(record: dict[str, Any], data: OutfitData) -> dict[str, Any]:
    """A FITB record with item ids instead of row indices."""
    return {
        **record,
        "given": [data.ids[i] for i in record["given"]],
        "candidates": [data.ids[i] for i in record["candidates"]],
    }
