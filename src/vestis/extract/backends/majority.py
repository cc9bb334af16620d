"""The ``majority`` baseline: every image gets the most frequent training value of each field.

It is the floor any real backend must clear. For a single field the value is the most
frequent non-null training label; for a multi field it is the most frequent non-empty
set, or the empty set when no example has one (an empty training set means "unknown",
as in :mod:`vestis.eval.metrics`). Confidence is that value's share of the labelled
training examples; fields never labelled, and text fields, stay null with confidence 0.

>>> from vestis.data.example import Example
>>> from vestis.schema import load_schema
>>> ex = MajorityExtractor(load_schema("vestis")).fit([Example("1", "a.jpg", {"colour": "black"})])
>>> ex.prediction["colour"], ex.confidence["colour"]
('black', 1.0)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

from PIL import Image

from vestis.extract.base import EXTRACTORS, Extraction, Extractor
from vestis.schema import Schema


@EXTRACTORS.register("majority")
class MajorityExtractor(Extractor):
    """Predicts the training majority of every closed field, whatever the image."""

    name: ClassVar[str] = "majority"
    batch_size = 256

    def __init__(self, schema: Schema) -> None:
        super().__init__(schema)
        self.prediction: dict[str, Any] = schema.empty()
        self.confidence: dict[str, float] = {name: 0.0 for name in schema.fields}

    def fit(self, examples: Sequence[Any]) -> MajorityExtractor:
        """Count labels per closed field; ``examples`` are :class:`~vestis.data.example.Example`."""
        prediction = self.schema.empty()
        confidence = {name: 0.0 for name in self.schema.fields}
        for name, f in self.schema.fields.items():
            if not f.closed:
                continue
            counts: Counter[Any] = Counter()
            for ex in examples:
                value = ex.labels.get(name)
                if value is None or value == []:
                    continue
                counts[tuple(sorted(value)) if f.kind == "multi" else value] += 1
            if counts:
                value, count = counts.most_common(1)[0]
                prediction[name] = list(value) if f.kind == "multi" else value
                confidence[name] = count / sum(counts.values())
        result = self.schema.validate(prediction)  # labels outside the vocabulary become null
        self.prediction = result.partial
        self.confidence = {
            k: (c if k not in {e.field for e in result.errors} else 0.0) for k, c in confidence.items()
        }
        return self

    def _extract_batch(self, images: list[Image.Image]) -> list[Extraction]:
        return [
            Extraction(
                {k: (list(v) if isinstance(v, list) else v) for k, v in self.prediction.items()},
                dict(self.confidence),
                raw=None,
                valid_raw=True,
            )
            for _ in images
        ]
