"""Evaluators: a dataset + a capability + metrics → a flat, prefixed metrics dict, metrics.json, a report.

>>> from vestis.eval import load_evaluator
>>> ev = load_evaluator("extract", "hm", limit=200, out_dir="runs/hm-majority")  # doctest: +SKIP
>>> ev(load_extractor("majority", "vestis"))["extract/weighted_score"]  # doctest: +SKIP
"""

from __future__ import annotations

from vestis.eval.base import EVALUATORS, Evaluator, evaluator_class, list_evaluators, load_evaluator

__all__ = ["EVALUATORS", "Evaluator", "evaluator_class", "list_evaluators", "load_evaluator"]
