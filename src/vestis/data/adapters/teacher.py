"""``teacher``: the predictions ``vestis extract ... --out labels.jsonl`` wrote, as training labels.

Any backend's answers (an API model, a large VLM on a GPU, lite) label a user's unlabelled catalog
for a smaller student, as the complementary-item paper trains on CLIP zero-shot labels::

    vestis extract shop/ --backend openai --confidence --out labels.jsonl
    vestis train lora-sft --set datasets='["teacher:labels.jsonl?min_confidence=0.6"]'

Each line's ``attributes`` are validated against the dataset's schema (default ``vestis``: give
the one the labels were extracted with). A field becomes a label when its value is not null and
its confidence (written by ``--confidence``) is at least ``min_confidence`` (default 0: every
value); a value below it, and a null, are left *unknown*, not null: the teacher was unsure, and
saying null is not something to learn from it. Lines with an ``error`` are skipped and listed in
``problems``. The photos of one item (``item``) stay together: ``image`` is the first of them and
``meta["photos"]`` lists all. Relative paths are read against the JSONL's folder when the file is
there, else as written (the folder ``vestis extract`` ran in).

A dataset that labels some fields (the street garments: category, type, colour) gets both from
:func:`teacher_rows`: its own labels (confidence 1) and the teacher's answers for the fields it
leaves unknown, as lines of the same JSONL (``scripts/teacher_labels.py`` writes them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from vestis.data.adapters._common import resolve_schema
from vestis.data.adapters.table import read_table
from vestis.data.base import DATASETS, Dataset, DatasetError
from vestis.data.example import Example
from vestis.schema.model import Schema, is_null_word


class _Teacher(Protocol):  # an Extractor (vestis.extract), named structurally: data/ does not import extract/
    schema: Schema

    def extract(self, images: list[str]) -> list[Any]: ...

    def unreliable_on_worn(self) -> dict[str, str]: ...


def teacher_rows(examples: list[Example], teacher: _Teacher, worn: bool = False) -> list[dict[str, Any]]:
    """Lines of a teacher JSONL for ``examples``: each example's own labels (confidence 1) and, for
    the fields it leaves unknown, the teacher's answer and confidence; with ``worn``, not the fields
    the teacher declares unreliable on garments cropped from photos of people. A photo the teacher
    cannot read gives a line with its ``error`` (the adapter skips it and says so)."""
    schema = teacher.schema
    dropped = set(teacher.unreliable_on_worn()) if worn else set()
    rows = []
    for ex, res in zip(examples, teacher.extract([ex.image for ex in examples]), strict=True):
        if res.error:
            rows.append({"image": ex.image, "attributes": schema.empty(), "error": res.error})
            continue
        attrs, conf = schema.empty(), {}
        for name in schema.fields:
            if name not in dropped:
                attrs[name], conf[name] = res.attributes.get(name), res.confidence.get(name, 0.0)
        for name, value in ex.labels.items():
            if name in schema.fields and value != [] and not is_null_word(value):
                attrs[name], conf[name] = value, 1.0
        rows.append({"image": ex.image, "attributes": attrs, "confidence": conf})
    return rows


@DATASETS.register("teacher")
class TeacherDataset(Dataset):
    """Lines of a ``vestis extract --out`` JSONL (a file, or a folder holding ``labels.jsonl``).

    >>> from vestis.data import open_dataset
    >>> ds = open_dataset("teacher:labels.jsonl?min_confidence=0.6")  # doctest: +SKIP
    """

    kind = "teacher"

    def __init__(self, root: Any, schema: Any = None, **options: str) -> None:
        super().__init__(root, schema=resolve_schema(schema, default="vestis"), **options)
        unknown = set(options) - {"min_confidence"}
        if unknown:
            raise DatasetError(f"teacher dataset: unknown options {sorted(unknown)}; known: min_confidence")
        try:
            self.min_confidence = float(options.get("min_confidence", 0))
        except ValueError:
            raise DatasetError(
                f"teacher dataset: min_confidence must be a number, not {options['min_confidence']!r}"
            ) from None
        if not 0 <= self.min_confidence <= 1:
            raise DatasetError(
                f"teacher dataset: min_confidence must be in [0, 1], not {self.min_confidence}"
            )

    def _load(self) -> list[Example]:
        path = self.root if self.root.is_file() else self.root / "labels.jsonl"
        if not path.is_file():
            raise DatasetError(f"teacher dataset: {path} not found (write it with vestis extract ... --out)")
        examples = []
        for n, row in enumerate(read_table(path), start=1):
            photos = row.get("item") or ([row["image"]] if row.get("image") else [])
            if not photos or not isinstance(row.get("attributes"), dict):
                raise DatasetError(
                    f"{path}: line {n} has no image/item and attributes: not vestis extract output"
                )
            ex_id = "|".join(map(str, photos))
            if row.get("error"):
                self.problems.append(f"line {n} ({ex_id}): the teacher failed: {row['error']}")
                continue
            files = [self._photo(path, str(p)) for p in photos]
            if missing := [str(f) for f in files if not f.is_file()]:
                self.problems.append(f"line {n} ({ex_id}): image not found: {', '.join(missing)}")
                continue
            labels = self._labels(path, n, row)
            meta = {k: v for k, v in row.items() if k not in ("image", "item")}
            if len(files) > 1:
                meta["photos"] = [str(f) for f in files]
            examples.append(
                Example(id=ex_id, image=str(files[0]), labels=labels, meta=meta, source=self.name)
            )
        return examples

    def _labels(self, path: Path, n: int, row: dict[str, Any]) -> dict[str, Any]:
        result = self.schema.validate(row["attributes"])
        if not result.ok:
            self.problems.append(
                f"line {n}: {result.error_text()} (not the {self.schema.name} schema's labels?)"
            )
        confidence = row.get("confidence")
        if self.min_confidence > 0 and not isinstance(confidence, dict):
            raise DatasetError(
                f"{path}: line {n} has no confidence; write the labels with vestis extract --confidence "
                "or leave min_confidence out"
            )
        return {
            name: value
            for name, value in result.partial.items()
            if value != []
            and not is_null_word(value)
            and (self.min_confidence == 0 or confidence.get(name, 0.0) >= self.min_confidence)
        }

    @staticmethod
    def _photo(path: Path, written: str) -> Path:
        photo = Path(written)
        if photo.is_absolute() or not (path.parent / photo).is_file():
            return photo
        return path.parent / photo
