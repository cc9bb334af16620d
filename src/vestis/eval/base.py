"""The Evaluator contract: built with what it evaluates *on*, called on what it evaluates.

An evaluator is constructed with a dataset (a :class:`~vestis.data.Dataset` or a spec string;
None for evaluators given their data another way),
a split, a limit, an output directory and its own options, then called on the thing under test:
``ExtractEvaluator(ds)(extractor)``, ``RetrieveEvaluator(ds)(searcher)``,
``OutfitsEvaluator(ds, ...)(scorer)``. The call returns a **flat dict of metrics** whose keys are
``<prefix>/<path>/<metric>`` (the prefix is the evaluator's registered name unless ``name=`` is
given, e.g. ``retrieve/title/hybrid/product/R@10``, ``extract/colour/accuracy``); values are
numbers, or None where a metric cannot be computed. :attr:`Evaluator.primary_metric` names the
headline key, which is always in the dict. With ``out_dir`` the call also writes
``metrics.json``: the evaluator's detailed result (what its report is made from) plus
``evaluator``, ``primary_metric`` and ``metrics`` (the flat dict), beside whatever else the
evaluator writes (predictions, ``report.html``).

A subclass sets ``name`` (its registry name) and ``primary`` (unprefixed headline key), and
implements :meth:`Evaluator.evaluate` (target → nested, JSON-serialisable result). It may
override :meth:`Evaluator.flat_metrics` (which numbers of the result are metrics; the default
takes every numeric leaf, joining keys with ``/``) and :meth:`Evaluator.write_outputs` (files
beside ``metrics.json``). It may assume ``self.out_dir`` exists when it is not None.

>>> from vestis.eval import list_evaluators
>>> sorted(list_evaluators())
['extract', 'hygiene', 'outfits', 'retrieve']
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from vestis.data import Dataset, open_dataset
from vestis.errors import OptionsError
from vestis.registry import Registry

Metrics = dict[str, float | int | None]
METRICS_FILE = "metrics.json"


class Evaluator(ABC):
    """Base class of evaluators. Register with ``@EVALUATORS.register(name)`` and set ``name``."""

    name: ClassVar[str] = ""
    primary: ClassVar[str] = ""  # the headline metric, without the prefix

    def __init__(
        self,
        dataset: Dataset | str | None,
        split: str = "val",
        limit: int | None = None,
        out_dir: str | os.PathLike | None = None,
        name: str | None = None,
        schema: Any = None,
    ) -> None:
        if limit is not None and limit < 1:
            raise OptionsError("limit must be at least 1")
        if split not in ("train", "val", "all"):
            raise OptionsError(f"split must be train, val or all, not {split!r}")
        self.dataset = open_dataset(dataset, schema=schema) if isinstance(dataset, str) else dataset
        self.split = split
        self.limit = limit
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.prefix = name or self.name
        self.primary_metric = self.key(self.primary)
        self.result: dict[str, Any] = {}  # the last call's detailed result

    # ---- what a subclass implements ----------------------------------------------------------
    @abstractmethod
    def evaluate(self, target: Any) -> dict[str, Any]:
        """The detailed, JSON-serialisable result of evaluating ``target``."""

    def flat_metrics(self, result: dict[str, Any]) -> Metrics:
        """Unprefixed metrics of a result (default: every numeric leaf, keys joined with ``/``)."""
        return flatten(result)

    def write_outputs(self, result: dict[str, Any], out: Path) -> None:  # noqa: B027  (optional hook)
        """Files written beside ``metrics.json`` (reports, predictions); the default writes none."""

    def headline(self, metrics: Metrics) -> str:
        """The primary key for this result (a subclass may fall back when its first choice is absent)."""
        return self.primary

    # ---- what callers use --------------------------------------------------------------------
    def key(self, metric: str) -> str:
        """The prefixed key of an unprefixed metric name."""
        return f"{self.prefix}/{metric}"

    def examples(self) -> list:
        """The examples evaluated on: the split's first ``limit``."""
        return self.dataset.split(self.split)[: self.limit]

    def __call__(self, target: Any) -> Metrics:
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        result = self.evaluate(target)
        flat = self.flat_metrics(result)
        self.primary_metric = self.key(self.headline(flat))
        metrics = {self.key(k): v for k, v in flat.items()}
        if self.primary_metric not in metrics:
            metrics[self.primary_metric] = None
        self.result = result
        if self.out_dir is not None:
            document = {
                **result,
                "evaluator": self.name,
                "primary_metric": self.primary_metric,
                "metrics": metrics,
            }
            (self.out_dir / METRICS_FILE).write_text(json.dumps(document, indent=2), encoding="utf-8")
            self.write_outputs(result, self.out_dir)
        return metrics


def flatten(tree: Mapping[str, Any], skip: tuple[str, ...] = ()) -> Metrics:
    """Numeric and None leaves of a nested dict as ``a/b/c`` keys (strings, lists, ``skip`` keys dropped)."""
    out: Metrics = {}
    for k, v in tree.items():
        if k in skip:
            continue
        if isinstance(v, Mapping):
            out.update({f"{k}/{sub}": x for sub, x in flatten(v, skip).items()})
        elif v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)):
            out[k] = v
    return out


EVALUATORS: Registry[type[Evaluator]] = Registry(
    "evaluator",
    "vestis.evaluators",
    builtins=("vestis.eval.extract", "vestis.eval.hygiene", "vestis.eval.outfits", "vestis.eval.retrieve"),
)


def evaluator_class(name: str) -> type[Evaluator]:
    """The class registered under ``name`` (built-ins and entry points)."""
    return EVALUATORS.get(name)


def load_evaluator(kind: str, dataset: Dataset | str | None, /, **options: Any) -> Evaluator:
    """An evaluator by registered name (``kind``), on a dataset, with its options checked.

    >>> ev = load_evaluator("extract", "hm", limit=100)  # doctest: +SKIP
    >>> ev(load_extractor("majority"))[ev.primary_metric]  # doctest: +SKIP
    """
    from vestis.options import check_kwargs

    cls = evaluator_class(kind)
    return cls(dataset, **check_kwargs(cls.__init__, options, what=f"{kind} evaluator option"))


def list_evaluators() -> dict[str, str]:
    """Each registered evaluator with its one-line description."""
    return EVALUATORS.describe()


__all__ = [
    "EVALUATORS",
    "Evaluator",
    "Metrics",
    "evaluator_class",
    "flatten",
    "list_evaluators",
    "load_evaluator",
]
