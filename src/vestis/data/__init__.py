"""Datasets and their adapters."""

from __future__ import annotations

from vestis.data.base import DATASETS, Dataset, DatasetError, open_dataset, split_of
from vestis.data.example import Example

__all__ = ["DATASETS", "Dataset", "DatasetError", "Example", "open_dataset", "split_of"]
