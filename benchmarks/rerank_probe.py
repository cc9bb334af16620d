"""Probe: what the gallery's own photos add to a text query, on top of the text bank (issue 13).

The shipped text bank (``vestis.embed.text_bank``) carries a text query towards photos of its
wording. Two further bridges cost no training, and this probe measures both before either is built:

* **feedback** (pseudo-relevance feedback, "alpha query expansion"): the first ranking's top ``m``
  gallery photos, softmax-weighted at temperature ``tau_f``, are added to the query with weight
  ``beta`` and the gallery is ranked again. It leans on the image tower's strength, image ↔ image;
* **gallery captions**: each gallery photo gets a caption vector, its ``kc`` nearest bank
  prototypes' caption vectors (softmax at ``tau_c`` over the photo ↔ prototype similarity); the
  query's direct text vector is matched against it (text ↔ text, the text tower's strength) with
  weight ``gamma`` and added to the score.

Evaluation as pivot_probe.py: the gallery and relevance of ``vestis eval retrieve`` (product level,
embedding ranking), shipped vestis-lite and its shipped bank, settings chosen on one half of the
validation products and reported on the other, both ways, so no number is tuned on the queries it
reports.

    export OMP_NUM_THREADS=1 VESTIS_DATA=../shared/data PYTHONPATH=src
    .venv/bin/python benchmarks/rerank_probe.py --eval hm,mango
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from text_towers import cached_images, encode_cached, gallery, relevance

from vestis.data import open_dataset
from vestis.embed.base import unit_rows
from vestis.embed.text_bank import TextBank, softmax_mean
from vestis.models.lite import VestisLite
from vestis.models.lite_runtime import TextProjection
from vestis.models.registry import lite_model_id, resolve_lite
from vestis.schema import load_schema
from vestis.train.text_bank_trainer import ranked_hits

REPO = Path(__file__).resolve().parents[1]


def cross_fit(grid: dict[tuple, np.ndarray], folds: np.ndarray) -> tuple[np.ndarray, list[list]]:
    """Each query's R@10 under the setting chosen on the other fold, and the two choices."""
    both = np.zeros(len(folds))
    chosen = []
    for held in (0, 1):
        tune = folds != held
        best = max(grid, key=lambda c: grid[c][tune, 0].mean())
        both[~tune] = grid[best][~tune, 0]
        chosen.append(list(best))
    return both, chosen


def probe_arguments(description: str, threads: int) -> argparse.ArgumentParser:
    """The options every text-search probe shares (feature caches, threads, evaluated datasets)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default="runs/text-towers")
    p.add_argument("--cache-dir", default="runs/cache")
    p.add_argument("--threads", type=int, default=threads)
    p.add_argument("--eval", default="hm,mango")
    return p


def shipped_lite(cache_dir: str):
    """The shipped vestis-lite: its directory, model, id, the feature cache, text projection, bank."""
    base = resolve_lite(None)
    model = VestisLite.load(base).eval()
    shipped = TextProjection.load(base / "model.safetensors")
    return base, model, lite_model_id(base), Path(cache_dir), shipped, TextBank.load(base / "text_bank")


def main() -> int:
    p = probe_arguments(__doc__.split("\n")[0], threads=1)
    p.add_argument("--ms", default="3,5,10")
    p.add_argument("--taus-f", default="0.05")
    p.add_argument("--betas", default="0,0.25,0.5,1")
    p.add_argument("--kcs", default="5,20")
    p.add_argument("--taus-c", default="0.02,0.05")
    p.add_argument("--gammas", default="0,0.25,0.5,1")
    p.add_argument(
        "--photos", default="", help="datasets whose training photos caption the gallery, photo by photo"
    )
    p.add_argument("--kps", default="5,20")
    p.add_argument("--taus-p", default="0.02,0.05")
    p.add_argument("--results", default=str(REPO / "benchmarks/results/rerank_probe.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    base, model, model_id, cache, shipped, bank = shipped_lite(args.cache_dir)
    proto = unit_rows(bank.image)
    schema = load_schema("vestis")

    def fold_of(text_rel: set[str]) -> int:
        return int(hashlib.sha1(min(text_rel).encode()).hexdigest(), 16) % 2

    ls = lambda s, f=float: [f(x) for x in s.split(",")]  # noqa: E731
    fb_grid = [(0, 0.05, 0.0)] + [
        (m, t, b) for m, t, b in itertools.product(ls(args.ms, int), ls(args.taus_f), ls(args.betas)) if b
    ]
    gc_grid = [(1, 0.05, 0.0)] + [
        (k, t, g) for k, t, g in itertools.product(ls(args.kcs, int), ls(args.taus_c), ls(args.gammas)) if g
    ]
    results: dict = {"bank": str(base / "text_bank"), "tasks": {}}
    photos = None
    if args.photos:  # every training photo, its image vector and its captions' joint text vectors
        from vestis.train.contrastive_config import ContrastiveTrainConfig
        from vestis.train.contrastive_trainer import pairs

        sets = args.photos.split(",")
        cfg = ContrastiveTrainConfig(datasets=sets, cache_dir=args.cache_dir, threads=args.threads)
        train_ex, _, captions_text, train_caps, _ = pairs(cfg, None)
        tr_img, tr_bad = cached_images(model, model_id, train_ex, cache, out, "-".join(sets) + "-train")
        keep = [i for i in range(len(train_ex)) if not tr_bad[i] and train_caps[i]]
        cap_vec = shipped(encode_cached("minilm", captions_text, out, ""))
        width = max(len(train_caps[i]) for i in keep)
        cap_idx = np.full((len(keep), width), -1)
        for r, i in enumerate(keep):
            cap_idx[r, : len(train_caps[i])] = train_caps[i]
        photos = (unit_rows(tr_img[keep]), cap_vec, cap_idx)
        print(f"photos: {len(keep)} training photos, {len(captions_text)} captions", flush=True)
    for ds in args.eval.split(","):
        val = open_dataset(ds, schema=schema).split("val")
        keys, gkeys, first = gallery(val)
        va_img = cached_images(model, model_id, val, cache, out, f"{ds}-val")[0]
        gal = va_img[[first[k] for k in gkeys]]
        col = {k: j for j, k in enumerate(gkeys)}
        captions = {
            (kc, tc): softmax_mean(gal @ proto.T, bank.text, kc, tc)
            for kc, tc in itertools.product(ls(args.kcs, int), ls(args.taus_c))
        }
        for task, qs in relevance(val, keys).items():
            if not qs:
                continue
            direct = shipped(encode_cached("minilm", [t for t, _ in qs], out, ""))
            q1 = bank.expand(direct)
            rel = np.zeros((len(qs), len(gkeys)), dtype=bool)
            for i, (_, r) in enumerate(qs):
                rel[i, [col[k] for k in r]] = True
            folds = np.array([fold_of(r) for _, r in qs])
            extras = {(kc, tc, g): g * (direct @ captions[(kc, tc)].T) if g else 0.0 for kc, tc, g in gc_grid}
            if photos is not None:  # score = Σ_i w(g, i) · max over photo i's captions of cos(query, caption)
                ph_img, cap_vec, cap_idx = photos
                qc = direct @ cap_vec.T
                qc = np.concatenate([qc, np.full((len(qc), 1), -1.0, dtype=np.float32)], 1)
                best_cap = qc[:, cap_idx].max(2)  # [Q, photos]
                gp = gal @ ph_img.T
                for kp, tp in itertools.product(ls(args.kps, int), ls(args.taus_p)):
                    k = min(kp, gp.shape[1])
                    top = np.argpartition(-gp, k - 1, axis=1)[:, :k]
                    w = np.take_along_axis(gp, top, 1) / tp
                    w = np.exp(w - w.max(1, keepdims=True))
                    w /= w.sum(1, keepdims=True)
                    wm = np.zeros_like(gp)
                    np.put_along_axis(wm, top, w, 1)
                    s_ph = best_cap @ wm.T  # [Q, G]
                    for g in ls(args.gammas):
                        if g:
                            extras[("photo", kp, tp, g)] = g * s_ph
            grid = {}
            for ekey, extra in extras.items():
                first_sim = q1 @ gal.T + extra
                for m, tf, b in fb_grid:
                    if b:
                        q2 = unit_rows(q1 + b * softmax_mean(first_sim, gal, m, tf))
                        sim = q2 @ gal.T + extra
                    else:
                        sim = first_sim
                    grid[(m, tf, b, *ekey)] = ranked_hits(sim, rel)
            bank_only = grid[(0, 0.05, 0.0, 1, 0.05, 0.0)]
            direct_pq = ranked_hits(direct @ gal.T, rel)
            both, chosen = cross_fit(grid, folds)
            cell = f"{ds}/{task}"
            fb_only = {c: v for c, v in grid.items() if c[-1] == 0}
            gc_only = {c: v for c, v in grid.items() if c[2] == 0 and c[3] != "photo"}
            ph_only = {c: v for c, v in grid.items() if c[2] == 0 and c[3] == "photo"}
            results["tasks"][cell] = {
                "queries": len(qs),
                "direct_R@10": float(direct_pq[:, 0].mean()),
                "bank_R@10": float(bank_only[:, 0].mean()),
                "bank_MRR": float(bank_only[:, 1].mean()),
                "best_feedback_only": max((float(v[:, 0].mean()), list(c)) for c, v in fb_only.items()),
                "best_captions_only": max((float(v[:, 0].mean()), list(c)) for c, v in gc_only.items()),
                "best_photos_only": max(
                    ((float(v[:, 0].mean()), list(c)) for c, v in ph_only.items()), default=None
                ),
                "cross_fitted_R@10": float(both.mean()),
                "chosen": chosen,
                "grid": {
                    " ".join(map(str, c)): [float(v[:, 0].mean()), float(v[:, 1].mean())]
                    for c, v in grid.items()
                },
            }
            r = results["tasks"][cell]
            print(
                f"{cell} ({len(qs)}): direct {r['direct_R@10']:.3f}, bank {r['bank_R@10']:.3f}, "
                f"feedback best {r['best_feedback_only'][0]:.3f} {r['best_feedback_only'][1]}, "
                f"captions best {r['best_captions_only'][0]:.3f} {r['best_captions_only'][1]}, "
                f"photos best {r['best_photos_only']}, "
                f"cross-fitted {both.mean():.3f} {chosen}  [{time.perf_counter() - t0:.0f}s]",
                flush=True,
            )
    results["seconds"] = time.perf_counter() - t0
    Path(args.results).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
