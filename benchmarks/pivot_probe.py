"""Probe: text → image through a reference catalog's own pairs (issue 13).

The text tower is good at text ↔ text (MiniLM is a paraphrase model) and the image tower at
image ↔ image (colour variants R@10 0.78), while the learned text → image bridge is the weak link
(H&M titles R@10 0.40). A reference catalog with titles and photos (here: the H&M training split)
offers a second bridge: a query's nearest training captions under frozen MiniLM, their photos'
embeddings averaged (softmax over the caption similarities, temperature ``tau``, top ``k``), that
"pivot" vector scored against the gallery. The pivot score is added to the direct one with weight
``lam`` (``inf``: the pivot alone).

Evaluation follows text_towers.py (the gallery and relevance of ``vestis eval retrieve``, embedding
ranking, product level, shipped vestis-lite). The weight and bank settings are chosen on one half
of the validation products and reported on the other, both ways (2-fold by product group), so no
number is tuned on the queries it reports.

    export OMP_NUM_THREADS=1 VESTIS_DATA=../shared/data PYTHONPATH=src
    .venv/bin/python benchmarks/pivot_probe.py --bank hm,mango --eval hm,mango  # see docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from text_towers import cached_images, encode_cached, gallery, relevance, scores

from vestis.data import open_dataset
from vestis.models.lite import VestisLite
from vestis.models.lite_runtime import TextProjection
from vestis.models.registry import lite_model_id, resolve_lite
from vestis.schema import load_schema
from vestis.train.contrastive_config import ContrastiveTrainConfig
from vestis.train.contrastive_trainer import pairs

REPO = Path(__file__).resolve().parents[1]


def pivot(q: np.ndarray, bank_text: np.ndarray, bank_img: np.ndarray, k: int, tau: float) -> np.ndarray:
    """Unit pivot vectors: each query's top-``k`` bank captions' photos, softmax-weighted."""
    sim = q @ bank_text.T
    top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(sim, top, 1) / tau
    w = np.exp(s - s.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    v = np.einsum("qk,qkd->qd", w, bank_img[top])
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def int8(x: np.ndarray) -> np.ndarray:
    """``x`` after a round trip through int8 with one scale per row."""
    scale = np.abs(x).max(1, keepdims=True) / 127
    return (np.round(x / scale).clip(-127, 127) * scale).astype(np.float32)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="runs/text-towers")
    p.add_argument("--cache-dir", default="runs/cache")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bank", default="hm", help="datasets whose training split is the reference bank")
    p.add_argument("--eval", default="hm", help="datasets whose validation split is searched")
    p.add_argument("--ks", default="5,20,50")
    p.add_argument("--taus", default="0.02,0.05")
    p.add_argument("--lams", default="0,0.25,0.5,1,2,inf")
    p.add_argument("--variants", action="store_true", help="prototypes: float vs int8, MiniLM vs joint space")
    p.add_argument("--results", default=str(REPO / "benchmarks/results/pivot_probe.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    bank_sets = args.bank.split(",")
    cfg = ContrastiveTrainConfig(datasets=bank_sets, cache_dir=args.cache_dir, threads=args.threads)
    train_ex, _, captions_text, train_caps, _ = pairs(cfg, None)
    schema = load_schema("vestis")
    evalsets = {}
    for name in args.eval.split(","):
        val = open_dataset(name, schema=schema).split("val")
        keys, gkeys, first = gallery(val)
        evalsets[name] = (val, gkeys, first, relevance(val, keys))
    query_texts = sorted({t for ev in evalsets.values() for qs in ev[3].values() for t, _ in qs})
    all_texts = list(dict.fromkeys(captions_text + query_texts))
    row = {t: i for i, t in enumerate(all_texts)}
    feats = encode_cached("minilm", all_texts, out, "")
    base = resolve_lite(None)
    model = VestisLite.load(base).eval()
    model_id, cache = lite_model_id(base), Path(args.cache_dir)
    tr_img, tr_bad = cached_images(model, model_id, train_ex, cache, out, "-".join(bank_sets) + "-train")
    shipped = TextProjection.load(base / "model.safetensors")

    # the bank, two ways: every (caption, photo) pair; or each distinct caption once, with the mean
    # embedding of the photos it describes (a prototype)
    pair_t, pair_i, members = [], [], {}
    for i, caps in enumerate(train_caps):
        if tr_bad[i]:
            continue
        for c in caps:
            pair_t.append(row[captions_text[c]])
            pair_i.append(i)
            members.setdefault(c, []).append(i)
    protos = np.stack([tr_img[m].mean(0) for m in members.values()])
    proto_text = feats[[row[captions_text[c]] for c in members]]
    banks = {
        "pairs": (feats[pair_t], tr_img[pair_i], False),
        "prototypes": (proto_text, protos, False),
    }
    if args.variants:  # where the bank's texts live (MiniLM's space or the shared one), int8 storage
        joint = shipped(proto_text)
        banks = {
            "prototypes": banks["prototypes"],
            "prototypes-int8": (int8(proto_text), int8(protos), False),
            "prototypes-joint": (joint, protos, True),
            "prototypes-joint-int8": (int8(joint), int8(protos), True),
        }
    print(
        f"bank ({'+'.join(bank_sets)}): {len(pair_t)} pairs, {len(members)} distinct captions of "
        f"{len(set(pair_i))} training photos; {time.perf_counter() - t0:.0f}s"
    )

    # 2-fold split of the validation products
    def fold_of(text_rel: set[str]) -> int:
        return int(hashlib.sha1(min(text_rel).encode()).hexdigest(), 16) % 2

    results: dict = {"bank": bank_sets, "tasks": {}}
    lams = [float(x) for x in args.lams.split(",")]
    for ds, (val, gkeys, first, rel) in evalsets.items():
        va_img = cached_images(model, model_id, val, cache, out, f"{ds}-val")[0]
        gal = va_img[[first[k] for k in gkeys]]
        for task, qs in rel.items():
            if not qs:
                continue
            f = feats[[row[t] for t, _ in qs]]
            direct = shipped(f)
            folds = np.array([fold_of(r) for _, r in qs])
            _, base_pq = scores(direct, gal, gkeys, qs)
            grid = {}
            for bank, (bank_text, bank_img, in_joint) in banks.items():
                for k in (int(x) for x in args.ks.split(",")):
                    for tau in (float(x) for x in args.taus.split(",")):
                        pv = pivot(direct if in_joint else f, bank_text, bank_img, k, tau)
                        for lam in lams:
                            q = pv if lam == float("inf") else direct + lam * pv
                            q = q / np.linalg.norm(q, axis=1, keepdims=True)
                            grid[(bank, k, tau, lam)] = scores(q, gal, gkeys, qs)[1]
            cross, both = [], np.zeros(len(qs))
            for held in (0, 1):
                tune = folds != held
                best = max(grid, key=lambda c, tune=tune: grid[c][tune, 0].mean())
                both[~tune] = grid[best][~tune, 0]
                cross.append(
                    {
                        "held_out_fold": held,
                        "chosen": list(best),
                        "queries": int((~tune).sum()),
                        "R@10": float(grid[best][~tune, 0].mean()),
                        "R@10_direct": float(base_pq[~tune, 0].mean()),
                    }
                )
            cell = f"{ds}/{task}"
            results["tasks"][cell] = {
                "queries": len(qs),
                "direct_R@10": float(base_pq[:, 0].mean()),
                "direct_MRR": float(base_pq[:, 1].mean()),
                "cross_fitted_R@10": float(both.mean()),
                "folds": cross,
                "grid": {
                    " ".join(map(str, c)): [float(v[:, 0].mean()), float(v[:, 1].mean())]
                    for c, v in grid.items()
                },
            }
            print(
                f"{cell} ({len(qs)} queries): direct R@10 {base_pq[:, 0].mean():.3f}, "
                f"cross-fitted {both.mean():.3f}, choices {[c['chosen'] for c in cross]}"
            )
            top = sorted(results["tasks"][cell]["grid"].items(), key=lambda kv: -kv[1][0])[:6]
            for name, (r10, mrr) in top:
                print(f"   {name}: R@10 {r10:.3f} MRR {mrr:.3f}")
    results["seconds"] = time.perf_counter() - t0
    Path(args.results).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
