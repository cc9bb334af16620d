"""Does mixing the pixel-statistics colour into vestis-lite's colour head help? Measured, not assumed.

For each validation image: the head's calibrated colour distribution p, and the palette colour
c found by the pixel-colour extractor. Fused: (1 - a) * p + a * onehot(c). Prints accuracy per
mixing weight a and dataset; writes benchmarks/results/colour_fusion.json.

    .venv/bin/python benchmarks/colour_fusion.py --limit 800
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vestis.data import open_dataset
from vestis.extract.base import create_extractor
from vestis.images import load_image
from vestis.schema import load_schema

ALPHAS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="*", default=["hm", "mango"])
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/results/colour_fusion.json")
    args = ap.parse_args()
    schema = load_schema("vestis")
    lite = create_extractor("lite", schema)
    pixel = create_extractor("pixel-colour", schema)
    vocab = list(schema.fields["colour"].values)
    head_vocab = lite.config.heads["colour"]
    assert head_vocab == vocab, "the colour head must use the schema's palette"
    result: dict[str, dict[str, float]] = {}
    for spec in args.datasets:
        examples = [
            ex
            for ex in open_dataset(spec, schema=schema).split("val")[: args.limit]
            if ex.labels.get("colour")
        ]
        gold = np.array([vocab.index(ex.labels["colour"]) for ex in examples])
        probs, pix = [], []
        for start in range(0, len(examples), 64):
            images = [load_image(ex.image) for ex in examples[start : start + 64]]
            _, logits = lite._forward(images)
            probs.append(lite._calibrated("colour", logits["colour"]))
            for r in pixel._extract_batch(images):
                c = r.attributes["colour"]
                pix.append(vocab.index(c) if c else -1)
        p = np.concatenate(probs)
        onehot = np.zeros_like(p)
        pix_arr = np.array(pix)
        onehot[np.arange(len(pix_arr))[pix_arr >= 0], pix_arr[pix_arr >= 0]] = 1.0
        result[spec] = {
            f"{a:.1f}": float(((1 - a) * p + a * onehot).argmax(1).__eq__(gold).mean()) for a in ALPHAS
        }
        result[spec]["n"] = len(examples)
    print(f"{'mixing weight a':<18}" + "".join(f"{d:>10}" for d in result))
    for a in ALPHAS:
        print(f"{a:<18.1f}" + "".join(f"{result[d][f'{a:.1f}']:>10.3f}" for d in result))
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
