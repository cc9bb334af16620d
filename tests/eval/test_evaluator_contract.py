"""Every registered evaluator on a tiny target: flat prefixed keys, its primary metric, metrics.json.

Adding an evaluator without a case here fails ``test_every_evaluator_has_a_case``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vestis.catalog.catalog import CatalogConfig
from vestis.embed import load_embedder
from vestis.eval import EVALUATORS, evaluator_class, list_evaluators, load_evaluator
from vestis.extract.base import load_extractor
from vestis.outfits.base import create_scorer


def _extract(ds, schema, out: Path):
    return load_evaluator("extract", ds, out_dir=out, progress=False), load_extractor("majority", schema)


def _retrieve(ds, schema, out: Path):
    config = CatalogConfig(schema="vestis", extractor="pixel-colour", embedder="test-random", index="exact")
    return load_evaluator("retrieve", ds, split="all", out_dir=out, progress=False), config


def _hygiene(ds, schema, out: Path):
    extractor = load_extractor("pixel-colour", schema)
    return load_evaluator("hygiene", ds, out_dir=out, extractor=extractor), load_embedder("test-random")


def _outfits(ds, schema, out: Path):
    from tests.outfits.conftest import synthetic_outfits

    evaluator = evaluator_class("outfits")(synthetic_outfits(40), out_dir=out, split="all", progress=False)
    return evaluator, create_scorer("cooccurrence")


CASES: dict[str, Callable[[Any, Any, Path], tuple[Any, Any]]] = {
    "extract": _extract,
    "retrieve": _retrieve,
    "hygiene": _hygiene,
    "outfits": _outfits,
}


def test_every_evaluator_has_a_case():
    assert set(list_evaluators()) == set(CASES)
    assert all(list_evaluators().values()), "every evaluator needs a one-line description"


@pytest.mark.parametrize("name", sorted(CASES))
def test_evaluator_contract(name, synthetic_dataset, variants, mini_schema, tmp_path):
    ds = variants if name == "retrieve" else synthetic_dataset
    out = tmp_path / "out"
    evaluator, target = CASES[name](ds, mini_schema, out)
    assert type(evaluator) is EVALUATORS.get(name) and evaluator.name == name
    metrics = evaluator(target)

    assert metrics and all(key.startswith(f"{name}/") for key in metrics)
    assert all(
        v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in metrics.values()
    )
    assert evaluator.primary_metric in metrics and metrics[evaluator.primary_metric] is not None
    document = json.loads((out / "metrics.json").read_text())
    assert document["evaluator"] == name
    assert document["primary_metric"] == evaluator.primary_metric
    assert document["metrics"] == metrics


def test_a_name_changes_the_prefix(synthetic_dataset, mini_schema):
    evaluator = load_evaluator("extract", synthetic_dataset, name="extract-synthetic", progress=False)
    metrics = evaluator(load_extractor("majority", mini_schema))
    assert evaluator.primary_metric == "extract-synthetic/weighted_score" in metrics


def test_options_are_checked(synthetic_dataset):
    from vestis.errors import OptionsError

    with pytest.raises(OptionsError):
        load_evaluator("extract", synthetic_dataset, no_such_option=1)
    with pytest.raises(OptionsError):
        load_evaluator("extract", synthetic_dataset, limit=0)
