"""Datasets: adapters yield :class:`Example` objects; one registry, one spec syntax.

A dataset spec is ``KIND:PATH`` (``hm:../shared/data/hm``, ``folder:photos/``,
``table:items.csv``) or a bare path (a directory → ``folder``, a CSV/JSONL/Parquet
file → ``table``). For the shared development sets, ``hm``, ``mango``,
``clothing`` and ``street-garments`` (the garments of ``street/``) alone resolve under
``$VESTIS_DATA`` (default ``../shared/data``).
Options follow a ``?``: ``table:items.csv?image=path&mapping=my_map.yaml``.

Splits are deterministic and order-free: an example is in ``val`` when a hash of its
group id (or its id) falls below ``val_fraction``, so colour variants of a product
never straddle train and val, and adding rows never moves existing ones.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl

from vestis.data.example import Example
from vestis.errors import UserError
from vestis.registry import Registry

Split = Literal["train", "val", "all"]
SPLIT_SEED = "vestis-split-v1"
DEFAULT_VAL_FRACTION = 0.2


class DatasetError(UserError, ValueError):
    """A dataset cannot be opened: missing directory, missing columns, bad spec."""


def split_of(key: str, val_fraction: float = DEFAULT_VAL_FRACTION) -> Literal["train", "val"]:
    digest = hashlib.sha1(f"{SPLIT_SEED}:{key}".encode()).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < val_fraction else "train"


class Dataset(ABC):
    """Base class of dataset adapters.

    Subclasses implement :meth:`_load` (returning all examples) and declare ``kind``.
    They may assume ``self.root`` exists and ``self.options`` holds the spec's options.
    """

    kind: ClassVar[str] = ""
    #: the folder under ``$VESTIS_DATA`` that a bare ``KIND`` spec opens (default: ``kind``)
    folder: ClassVar[str | None] = None
    #: its images are garments as worn on people (a trainer leaves them out of worn-look augmentation)
    worn: ClassVar[bool] = False

    def __init__(self, root: str | os.PathLike, schema: Any = None, **options: str) -> None:
        self.root = Path(root)
        self.schema = schema
        self.options = options
        self._examples: list[Example] | None = None
        self.problems: list[str] = []  # rows skipped while loading, with reasons
        # files the source names or holds that are not usable images: (path, reason, detail), the
        # reason one of vestis.images.REASONS (adapters that walk files fill it; ingest records them)
        self.skipped: list[tuple[str, str, str]] = []

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.root}"

    @abstractmethod
    def _load(self) -> list[Example]:
        """Read the source and return every example."""

    def examples(self) -> list[Example]:
        if self._examples is None:
            self._examples = self._load()
        return self._examples

    def __iter__(self) -> Iterator[Example]:
        return iter(self.examples())

    def __len__(self) -> int:
        return len(self.examples())

    def split(self, which: Split = "all", val_fraction: float = DEFAULT_VAL_FRACTION) -> list[Example]:
        if which == "all":
            return self.examples()
        return [ex for ex in self.examples() if split_of(ex.group or ex.id, val_fraction) == which]


DATASETS: Registry[type[Dataset]] = Registry("dataset", "vestis.datasets", builtins="vestis.data.adapters")


def default_data_root() -> Path:
    return Path(os.environ.get("VESTIS_DATA", "../shared/data"))


def parse_spec(spec: str) -> tuple[str, Path, dict[str, str]]:
    """``KIND:PATH?opt=v`` → (kind, path, options); bare paths get a kind from what they are."""
    spec, _, query = spec.partition("?")
    options = dict(parse_qsl(query))
    kind, sep, path = spec.partition(":")
    if sep and kind in DATASETS:
        root = Path(path) if path else default_data_root() / (DATASETS.get(kind).folder or kind)
        return kind, root, options
    if not sep and spec in DATASETS and not Path(spec).exists():
        return spec, default_data_root() / (DATASETS.get(spec).folder or spec), options
    root = Path(spec)
    if root.is_dir():
        return "folder", root, options
    if root.suffix.lower() in (".csv", ".tsv", ".jsonl", ".json", ".parquet"):
        return "table", root, options
    if sep:
        raise DatasetError(f"unknown dataset kind {kind!r} in {spec!r}; known: {', '.join(DATASETS.names())}")
    raise DatasetError(f"dataset {spec!r} not found (expected KIND:PATH, a directory, or a table file)")


def open_dataset(spec: str, schema: Any = None) -> Dataset:
    """Open a dataset from a spec string; see the module docstring.

    >>> ds = open_dataset("folder:tests/fixtures/images")  # doctest: +SKIP
    """
    kind, root, options = parse_spec(spec)
    if not root.exists():
        shared = ("hm", "mango", "clothing", "street-garments")
        hint = " (set VESTIS_DATA or pass KIND:PATH)" if kind in shared else ""
        raise DatasetError(f"{kind} dataset not found at {root}{hint}")
    return DATASETS.get(kind)(root, schema=schema, **options)
