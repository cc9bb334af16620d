"""Label a partly labelled dataset's training split with a teacher backend, keeping its own labels.

A thin shell over :func:`vestis.data.adapters.teacher.teacher_rows`: the dataset's own labels where
it has them (confidence 1), the teacher's answers for the fields it leaves unknown; with ``--worn``,
not the fields the teacher declares unreliable on worn garments. The output is the JSONL
``vestis extract --confidence --out`` writes, so ``teacher:OUT?min_confidence=C`` reads it::

    VESTIS_DATA=../shared/data python scripts/teacher_labels.py street-garments runs/street-teacher.jsonl \
        --skip 480 --limit 600 --worn

``--skip``/``--limit`` pick a slice of the training split (the split of ``--val-fraction``, as
``vestis train lora-sft`` makes it), so no validation item is labelled.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from vestis.data import open_dataset
from vestis.data.adapters.teacher import teacher_rows
from vestis.extract.base import load_extractor
from vestis.schema import load_schema


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", help="dataset spec, e.g. street-garments")
    ap.add_argument("out", type=Path, help="JSONL to write")
    ap.add_argument("--backend", default="lite")
    ap.add_argument("--model", default=None, help="the backend's model (default: shipped)")
    ap.add_argument("--schema", default="vestis")
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--worn", action="store_true", help="drop fields the teacher is unreliable on when worn")
    args = ap.parse_args()

    schema = load_schema(args.schema)
    ds = open_dataset(args.dataset, schema=schema)
    train = ds.split("train", args.val_fraction)
    stop = None if args.limit is None else args.skip + args.limit
    examples = train[args.skip : stop]
    options = {"model": args.model} if args.model else {}
    teacher = load_extractor(args.backend, schema, **options)
    rows = teacher_rows(examples, teacher, worn=args.worn)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    own = Counter(n for ex in examples for n, v in ex.labels.items() if v not in (None, []))
    taught = Counter(
        n
        for ex, row in zip(examples, rows, strict=True)
        for n, v in row["attributes"].items()
        if v not in (None, []) and n not in ex.labels
    )
    print(f"{len(rows)} items → {args.out} ({sum('error' in r for r in rows)} unreadable)")
    print("own labels kept:", dict(own))
    print("teacher answers (before min_confidence):", dict(taught))
    if args.worn:
        print("left out (unreliable on worn garments):", ", ".join(sorted(teacher.unreliable_on_worn())))


if __name__ == "__main__":
    main()
