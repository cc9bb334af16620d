"""Per field: the distribution of predicted values beside the labels' — constant guesses flagged.

    .venv/bin/python benchmarks/field_distributions.py                     # lite, all sets
    .venv/bin/python benchmarks/field_distributions.py --sets catalog street --limit 200

Sets: the validation splits of hm, mango and clothing (labelled; ``../shared/data``), the CC0
example catalog (``examples/catalog``) and a seeded sample of the street photos
(``../shared/data/street/images``), both unlabelled. A field is flagged when one value answers
≥ ``--constant`` of the photos while the labels' most common value covers ≤ ``--varied`` of
them (labelled), or when one value answers ≥ ``--constant`` of the photos (unlabelled).
Writes benchmarks/results/field_distributions.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
from collections import Counter
from pathlib import Path
from typing import Any

from vestis.data import open_dataset
from vestis.extract.base import create_extractor
from vestis.progress import progress_bar
from vestis.schema import Schema, load_schema

HERE = Path(__file__).parent
ROOT = HERE.parent
STREET = ROOT.parent / "shared" / "data" / "street" / "images"
LABELLED = ("hm", "mango", "clothing")
log = logging.getLogger("field_distributions")


def _values(answer: Any) -> list[str]:
    if answer is None:
        return []
    return [str(v) for v in answer] if isinstance(answer, list) else [str(answer)]


def distribution(answers: list[Any]) -> dict[str, Any]:
    """Top values with shares of the photos, the null (or empty) share, the most common value's
    share and the entropy (bits) of the answers, null counted as a value."""
    n = len(answers)
    counts = Counter(v for a in answers for v in _values(a))
    nulls = sum(1 for a in answers if not _values(a))
    whole = Counter(tuple(_values(a)) or ("∅",) for a in answers)
    entropy = -sum(c / n * math.log2(c / n) for c in whole.values()) if n else 0.0
    top = counts.most_common(1)[0] if counts else (None, 0)
    return {
        "n": n,
        "top": [[v, round(c / n, 3)] for v, c in counts.most_common(5)],
        "null_share": round(nulls / n, 3) if n else 0.0,
        "top_value": top[0],
        "top_share": round(top[1] / n, 3) if n else 0.0,
        "entropy_bits": round(entropy, 3),
    }


def photo_sets(names: list[str], schema: Schema, limit: int | None, seed: int) -> dict[str, tuple]:
    """name → (image paths, labels per photo or None)."""
    sets: dict[str, tuple] = {}
    for name in names:
        if name in LABELLED:
            val = open_dataset(name, schema=schema).split("val")
            val = val[:limit] if limit else val
            sets[name] = ([ex.image for ex in val], [ex.labels for ex in val])
        elif name == "catalog":
            sets[name] = (sorted(str(p) for p in (ROOT / "examples" / "catalog").glob("*.jpg")), None)
        elif name == "street":
            if not STREET.is_dir():
                raise SystemExit(f"street photos not found at {STREET} (../shared/data/street)")
            paths = sorted(str(p) for p in STREET.glob("*.jpg"))
            random.Random(seed).shuffle(paths)
            sets[name] = (paths[: limit or 300], None)
        else:
            raise SystemExit(f"unknown set {name!r}")
    return sets


def measure(extractor, schema: Schema, paths: list[str], labels, args) -> dict[str, Any]:
    answers: list[dict[str, Any]] = []
    with progress_bar() as bar:
        task = bar.add_task("extract", total=len(paths))
        for start in range(0, len(paths), 64):
            batch = paths[start : start + 64]
            answers += [e.attributes for e in extractor.extract(batch)]
            bar.advance(task, len(batch))
    fields: dict[str, Any] = {}
    second, first = schema.by_role("secondary_colour"), schema.by_role("primary_colour")
    for name in schema.fields:
        row: dict[str, Any] = {"predicted": distribution([a.get(name) for a in answers])}
        truth = [lab.get(name) for lab in labels] if labels else []
        if any(_values(t) for t in truth):
            labelled = [t for t in truth if _values(t)]
            row["labels"] = distribution(labelled)
            # labels on under half the photos (positives only, as H&M's style) do not show the truth varies
            varied = row["labels"]["top_share"] <= args.varied or len(labelled) < len(answers) / 2
            flagged = row["predicted"]["top_share"] >= args.constant and varied
        else:
            flagged = row["predicted"]["top_share"] >= args.constant
        if second is not None and first is not None and name == second.name:
            same = sum(1 for a in answers if a.get(name) is not None and a.get(name) == a.get(first.name))
            row["equals_colour_share"] = round(same / len(answers), 3) if answers else 0.0
            flagged = flagged or row["equals_colour_share"] >= 0.5
        row["flag"] = flagged
        fields[name] = row
    return fields


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="lite")
    ap.add_argument("--schema", default="vestis")
    ap.add_argument("--sets", nargs="*", default=[*LABELLED, "catalog", "street"])
    ap.add_argument("--limit", type=int, default=None, help="at most N photos per set (street: 300)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--constant", type=float, default=0.9, help="share of one value that is a constant")
    ap.add_argument("--varied", type=float, default=0.8, help="labels' top share at most this: truth varies")
    ap.add_argument("--out", default=str(HERE / "results" / "field_distributions.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    schema = load_schema(args.schema)
    extractor = create_extractor(args.backend, schema)
    results = {}
    for name, (paths, labels) in photo_sets(args.sets, schema, args.limit, args.seed).items():
        results[name] = measure(extractor, schema, paths, labels, args)
    print(f"{'set':<10}{'field':<18}{'predicted (top values, share of photos)':<62}{'labels':<46}flag")
    for name, fields in results.items():
        for field, row in fields.items():
            pred = ", ".join(f"{v} {s:.2f}" for v, s in row["predicted"]["top"][:3])
            pred += f" · null {row['predicted']['null_share']:.2f}"
            lab = ", ".join(f"{v} {s:.2f}" for v, s in row["labels"]["top"][:3]) if "labels" in row else "—"
            print(f"{name:<10}{field:<18}{pred[:60]:<62}{lab[:44]:<46}{'CONSTANT' if row['flag'] else ''}")
    summary = {"backend": args.backend, "schema": args.schema, "limit": args.limit, "sets": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
