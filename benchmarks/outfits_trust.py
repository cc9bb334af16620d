"""Outfit scores users can trust: calibration, structure, and worn outfits as training data.

On Mango's item-disjoint validation looks (the same 523 as benchmarks/outfits.py; items never
seen in training), for the ``type-aware`` recipe trained on each source of looks and for the
calibrated ``cooccurrence`` baseline:

* **shipped**: the recipe's defaults (calibration fitted on held-out looks with the model trained
  without them, then the model retrained on every training look); **shipped+street**: the same
  with the street looks added;
* **sources**: Mango stylist looks (training side, calibration looks held out, no refit), street
  photos of people (``street/``, train split by photo; garments found by ``lite-parser``, kept
  where the photo's tags name their class, their category means aligned onto Mango's), and both;
* **metrics**: compatibility AUC and FITB (uniform protocol), and, from the calibrated
  probabilities on the same real and random looks weighted equally, accuracy and F1 at 0.5 and
  the expected calibration error (ECE; platt, the recipe's default, and isotonic refitted on the
  same calibration looks);
* **complete** (shipped and cooccurrence rows): every validation look with one item hidden is
  completed over the validation items: the slots the look needs and the top 10 of each, with the
  structure (what ``vestis outfits complete`` does) and without (the fixed main slots); counted:
  suggestions that break a structure rule the look did not already break.

Prints a table and writes ``benchmarks/results/outfits_trust.json``::

    nice .venv/bin/python benchmarks/outfits_trust.py --threads 2 \\
        [--trained shipped=runs/ta-ship mango=runs/ta-mango ...]   # reuse `vestis train outfits` runs
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from vestis.data import open_dataset
from vestis.data.base import DatasetError, default_data_root
from vestis.embed import load_embedder
from vestis.extract.base import load_extractor
from vestis.outfits import load_scorer
from vestis.outfits.complete import MAIN_SLOTS, missing_slots, rank_candidates
from vestis.outfits.data import calibrated_split, fitb_questions
from vestis.outfits.evaluation import fit_scorer_calibration, outfit_metrics
from vestis.outfits.features import outfit_data
from vestis.outfits.structure import Structure
from vestis.schema import load_schema
from vestis.train.outfits_config import OutfitsTrainConfig
from vestis.train.outfits_trainer import load_photo_looks, train_outfits

# row → (scorer, config overrides). The source rows keep the model trained without the
# calibration looks (no refit), so that the three differ only in their training looks.
ROWS = {
    "shipped": ("type-aware", {}),
    "shipped+street": ("type-aware", {"photo_looks": "street"}),
    "mango": ("type-aware", {"calibration_refit": False}),
    "street": ("type-aware", {"photo_looks": "street", "dataset_looks": False, "calibration_refit": False}),
    "mango+street": ("type-aware", {"photo_looks": "street", "calibration_refit": False}),
    "cooccurrence": ("cooccurrence", {}),
}
TARGETS = {"auc": 0.85, "fitb": 0.55, "ece": 0.05}
COMPLETE_ROWS = ("shipped", "shipped+street", "cooccurrence")  # one structure for every row


def completion_check(scorer, val, structure: Structure | None, seed: int, k: int = 10) -> dict:
    """Complete each validation look with one item hidden over the validation items; count the
    completed looks among each slot's top ``k`` in which the suggestion breaks a rule of the
    reference structure (a rule the look already broke without it is not counted)."""
    reference = scorer.structure
    items = sorted({i for o in val.outfits.values() for i in o})
    pool = val.items(items)
    by_category: dict = {}
    for it in pool:
        by_category.setdefault(it.category, []).append(it)
    scorer.adapt(pool)
    shown = invalid = slots_named = 0
    for q in fitb_questions(val, seed=seed):
        given = val.items(q.given)
        have = [it.category for it in given]
        slots = structure.needs(have, order=MAIN_SLOTS) if structure is not None else missing_slots(have)
        slots_named += len(slots)
        for slot in slots:
            candidates = [c for c in by_category.get(slot, []) if c.id not in {g.id for g in given}]
            if not candidates:
                continue
            ranked = rank_candidates(scorer, given, candidates, structure, slot, k, 0.3, 0.0)
            for c in ranked.items:
                shown += 1
                invalid += reference.blocked(have, c.category) is not None
    return {
        "looks_shown": shown,
        "invalid": invalid,
        "slots_per_look": slots_named / max(1, len(val.outfits)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mango")
    ap.add_argument("--street", default=None, help="street/ folder (default $VESTIS_DATA/street)")
    ap.add_argument("--trained", nargs="*", default=[], metavar="ROW=DIR", help="reuse these runs")
    ap.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--runs", default="runs/bench/outfits-trust")
    ap.add_argument("--cache", default=".vestis-cache")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/outfits_trust.json")
    ap.add_argument("--add", action="store_true", help="keep the other rows already in --out")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    street = args.street or str(default_data_root() / "street")
    schema = load_schema("vestis")
    try:
        dataset = open_dataset(args.dataset, schema=schema)
    except DatasetError as exc:
        raise SystemExit(
            f"{exc}\nThis benchmark reads the shared development data (../shared/data)."
        ) from None
    embedder = load_embedder("lite")
    data = outfit_data(dataset, load_extractor("lite", schema), embedder, args.cache)
    trained = dict(pair.split("=", 1) for pair in args.trained)
    photos = None
    results: dict[str, dict] = {}
    if args.add and Path(args.out).is_file():
        results = {
            k: v for k, v in json.loads(Path(args.out).read_text())["results"].items() if k not in args.rows
        }
    for row in args.rows:
        name, overrides = ROWS[row]
        overrides = {k: (street if v == "street" else v) for k, v in overrides.items()}
        cfg = OutfitsTrainConfig(
            dataset=args.dataset, scorer=name, seed=args.seed, threads=args.threads,
            out_dir=f"{args.runs}/{row}", cache_dir=args.cache, **overrides,
        )  # fmt: skip
        t0 = time.perf_counter()
        if row in trained:
            run = Path(trained[row])
        else:
            if cfg.photo_looks and photos is None:
                photos = load_photo_looks(cfg)
            train_outfits(cfg, data=data, model_id=embedder.model_id, photos=photos)
            run = Path(cfg.out_dir)
        report = json.loads((run / "report.json").read_text())
        scorer = load_scorer(run / "model")
        _, calib, val = calibrated_split(data, cfg.val_fraction, cfg.calibration_fraction, cfg.keep_partial)
        val_metrics, _ = outfit_metrics(scorer, val, seed=args.seed)
        iso = None
        if not report.get("calibration_refit"):  # a refit model trained on the calibration looks
            platt = scorer.calibration
            fit_scorer_calibration(scorer, calib, "isotonic", seed=args.seed)
            iso, _ = outfit_metrics(scorer, val, seed=args.seed, recall=False)
            scorer.calibration = platt
        results[row] = {
            "scorer": name,
            "train_outfits": report["train_outfits"],
            "photo_outfits": report.get("photo_outfits", 0),
            "calibration_outfits": report["calibration_outfits"],
            **{k: val_metrics[k] for k in ("auc", "fitb", "recall@10", "accuracy", "f1", "ece", "brier")},
            "ece_with_structure": val_metrics["ece_with_structure"],
            "real_with_problems": val_metrics["real_with_problems"],
            "reliability": val_metrics["reliability"],
            "calibration_refit": report.get("calibration_refit", False),
            "isotonic": None if iso is None else {k: iso[k] for k in ("ece", "accuracy", "f1")},
            "complete": None
            if row not in COMPLETE_ROWS
            else {
                "with structure": completion_check(scorer, val, scorer.structure, args.seed),
                "fixed main slots, no structure": completion_check(scorer, val, None, args.seed),
            },
            "seconds": round(time.perf_counter() - t0, 1),
        }
    print(f"\n{args.dataset} item-disjoint val looks: {len(val.outfits)}; embeddings {embedder.model_id}")
    header = f"{'trained on':<16}{'AUC':>7}{'FITB':>7}{'acc':>7}{'F1':>7}{'ECE':>7}{'ECE iso':>9}"
    header += f"{'invalid in top 10':>20}"
    print(header + "\n" + "─" * len(header))
    for row, r in results.items():
        c = r["complete"]
        iso = "—" if r["isotonic"] is None else format(r["isotonic"]["ece"], ".3f")
        shown = ""
        if c is not None:
            done, fixed = c["with structure"], c["fixed main slots, no structure"]
            shown = f"{done['invalid']:>9}/{done['looks_shown']}"
            shown += f" (no structure: {fixed['invalid']}/{fixed['looks_shown']})"
        print(
            f"{row:<16}{r['auc']:>7.3f}{r['fitb']:>7.3f}{r['accuracy']:>7.3f}{r['f1']:>7.3f}{r['ece']:>7.3f}"
            f"{iso:>9}{shown}"
        )
    print(f"targets: AUC ≥ {TARGETS['auc']}, FITB ≥ {TARGETS['fitb']}, ECE ≤ {TARGETS['ece']}")
    out = {
        "dataset": args.dataset,
        "val_outfits": len(val.outfits),
        "embedding_model": embedder.model_id,
        "seed": args.seed,
        "targets": TARGETS,
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
