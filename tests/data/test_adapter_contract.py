"""Every registered adapter opens its tiny fixture and keeps the Dataset contract."""

from __future__ import annotations

from pathlib import Path

import pytest

import vestis.data.adapters  # noqa: F401  (registers the built-in adapters)
from vestis.data import DATASETS, Dataset, Example, open_dataset


def test_every_adapter_has_a_fixture(builders) -> None:
    missing = set(DATASETS.names()) - set(builders)
    assert not missing, f"add a tiny fixture builder in tests/data/conftest.py for {sorted(missing)}"


@pytest.mark.parametrize("kind", DATASETS.names())
def test_adapter_contract(kind: str, build) -> None:
    ds = open_dataset(f"{kind}:{build(kind)}")
    assert isinstance(ds, Dataset) and ds.kind == kind
    examples = ds.examples()
    assert examples and all(isinstance(ex, Example) for ex in examples)
    assert len({ex.id for ex in examples}) == len(examples)
    assert all(Path(ex.image).is_file() for ex in examples)
    assert all(ex.source == ds.name for ex in examples)
    train, val = ds.split("train"), ds.split("val")
    assert len(train) + len(val) == len(ds)
