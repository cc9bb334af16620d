"""What a dataset holds: counts, splits and the most common labels per schema field.

>>> from vestis.data import open_dataset
>>> from vestis.data.stats import dataset_stats
>>> stats = dataset_stats(open_dataset("hm"), load_schema("vestis"))  # doctest: +SKIP
>>> stats["fields"]["colour"]["top"][:2]  # doctest: +SKIP
[('black', 2301), ('white', 1402)]
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from vestis.data.base import Dataset


def dataset_stats(ds: Dataset, schema: Any, top: int = 6) -> dict[str, Any]:
    """Examples, split sizes, groups, skipped rows, and per field the labelled count and top values."""
    examples = ds.examples()
    out: dict[str, Any] = {
        "dataset": ds.name,
        "examples": len(examples),
        "train": len(ds.split("train")),
        "val": len(ds.split("val")),
        "groups": len({ex.group or ex.id for ex in examples}),
        "skipped": len(ds.problems),
        "fields": {},
    }
    for name, f in schema.fields.items():
        counts: Counter[str] = Counter()
        labelled = 0
        for ex in examples:
            value = ex.labels.get(name)
            if value in (None, [], ""):
                continue
            labelled += 1
            counts.update(value if f.kind == "multi" else [value])
        out["fields"][name] = {"labelled": labelled, "top": counts.most_common(top)}
    return out


def mapping_source(ds: Dataset, spec: str) -> str:
    """The source name a dataset's shipped mapping is filed under (hm, mango, clothing, ...).

    A ``mapping=`` option of the spec wins; folders and tables fall back to the spec itself.
    """
    if ds.options.get("mapping"):
        return ds.options["mapping"]
    return ds.kind if ds.kind not in ("folder", "table") else spec


__all__ = ["dataset_stats", "mapping_source"]
