"""Train the composed-retrieval combiner in two stages on triplets mined from catalog labels.

Triplets (:mod:`vestis.train.composer_triplets`): colour variants of one product ("in navy") and
relative captions between near neighbours ("with long sleeves instead of short sleeves").

* **stage 1**: the combiner alone on cached image and text embeddings; every training image
  except the reference is a negative of each query (the whole gallery, not only the batch);
* **stage 2** (``stage2_epochs`` > 0): the same loss with MiniLM's upper layers trained with the
  combiner (image embeddings stay cached: the image tower is frozen).

Validation keeps one protocol: variant triplets of the held-out groups, searching all validation
images of the same dataset minus the reference, for each stage and the baselines (image only,
text only, normalised sum), R@k and MRR; ``val_edits`` scores the same on neighbour-edit triplets
of the validation split (informative only). ``out_dir/composer`` is stage 1's combiner: the one
search serves, since queries embed their modification text with the model's own MiniLM; the
report marks it ``shippable`` only when it beats the sum
(:func:`vestis.models.composer_runtime.beats_sum`). A stage-2 combiner needs its own MiniLM and is
written beside it with that encoder (``out_dir/composer-stage2/``, ``text_encoder/``) to be
compared, not served. The run checkpoints every epoch to ``out_dir/checkpoint.pt`` and resumes
from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from vestis.data import DatasetError, Example, open_dataset
from vestis.errors import OptionsError
from vestis.models.composer import Composer, ComposerConfig
from vestis.models.composer_runtime import beats_sum, validation_score
from vestis.progress import progress_bar
from vestis.schema import load_schema
from vestis.train.composer_config import ComposerTrainConfig
from vestis.train.composer_triplets import mine_triplets
from vestis.train.config import load_checkpoint, save_checkpoint, seed_everything
from vestis.train.contrastive_loss import MAX_LOG_SCALE

log = logging.getLogger(__name__)
# report key → triplet kind it validates on (the variant protocol alone decides shipping)
VAL_PROTOCOLS = (("val", "variant"), ("val_edits", "edit"))


def recall_at(scores: torch.Tensor, targets: torch.Tensor, ks=(1, 5, 10, 50)) -> dict[str, float]:
    """R@k and MRR of ``targets`` under ``scores`` (one row per query, ties counted in its favour)."""
    rank = (scores > scores.gather(1, targets[:, None])).sum(1)
    return {f"R@{k}": float((rank < k).float().mean()) for k in ks} | {
        "MRR": float((1.0 / (rank + 1).float()).mean())
    }


def evaluate_composed(
    composer: Composer | None,
    image: torch.Tensor,
    text: torch.Tensor,
    triplets: list[tuple[int, int, int]],
    mode: str = "composer",
) -> dict[str, float]:
    """R@k of targets among all images except each query's reference. ``mode`` picks a baseline."""
    if not triplets:
        return {}
    ref = torch.tensor([t[0] for t in triplets])
    txt = text[torch.tensor([t[1] for t in triplets])]
    tgt = torch.tensor([t[2] for t in triplets])
    with torch.no_grad():
        if mode == "composer":
            q = composer(image[ref], txt)
        elif mode == "image":
            q = image[ref]
        elif mode == "text":
            q = txt
        else:
            q = F.normalize(image[ref] + txt, dim=-1)
        scores = q @ image.T
    scores[torch.arange(len(ref)), ref] = -1e9  # the reference itself is not an answer
    return recall_at(scores, tgt) | {"queries": len(triplets)}


def gallery_loss(
    query: torch.Tensor, gallery: torch.Tensor, ref: torch.Tensor, tgt: torch.Tensor, log_scale: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of each target among the whole gallery, its reference left out (as in validation)."""
    logits = log_scale.clamp(max=MAX_LOG_SCALE).exp() * (query @ gallery.T)
    logits = logits.index_put((torch.arange(len(ref)), ref), torch.tensor(float("-inf")))
    return F.cross_entropy(logits, tgt)


class TextSide(torch.nn.Module):
    """Texts → unit vectors in the shared space: MiniLM (upper layers trainable), frozen ``text_proj``."""

    def __init__(self, model_dir: Path, cfg: ComposerTrainConfig) -> None:
        super().__init__()
        from vestis.models.backbones import load_text_encoder
        from vestis.models.lite import VestisLite
        from vestis.models.text_tower import text_encoder_dir
        from vestis.train.contrastive_trainer import TextTower

        self.source = text_encoder_dir(model_dir)  # None: the packaged MiniLM
        self.tower = TextTower(load_text_encoder(directory=self.source), cfg.max_text_tokens)
        self.tower.freeze(cfg.text_frozen_layers)
        self.proj = VestisLite.load(model_dir).text_proj.requires_grad_(False)

    def forward(self, texts: list[str]) -> torch.Tensor:
        return F.normalize(self.proj(self.tower(texts)), dim=-1)

    @torch.no_grad()
    def embed(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        return F.normalize(self.proj(self.tower.features(texts, batch_size)), dim=-1)


def _image_embeddings(embedder, examples: list[Example], out_dir: Path, name: str) -> torch.Tensor:
    """The embedder's image vectors of ``examples``, cached in ``out_dir`` under the model id and paths."""
    h = hashlib.sha1(str(embedder.model_id).encode())
    for ex in examples:
        h.update(ex.image.encode() + b"\0")
    path = out_dir / f"embeddings-{name}-{h.hexdigest()[:16]}.pt"
    if path.is_file():
        return torch.load(path)
    emb = torch.from_numpy(embedder.embed_many([e.image for e in examples])[0]).float()
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(emb, path)
    return emb


def _prepare(cfg, datasets, embedder, paraphrase) -> dict[str, Any]:
    """Examples, cached image embeddings and triplets of both splits, per dataset."""
    schema = load_schema("vestis")
    opened = datasets if datasets is not None else [open_dataset(s, schema=schema) for s in cfg.datasets]
    rng = random.Random(cfg.seed)  # training edits, drawn across datasets in turn
    splits: dict[str, dict[str, Any]] = {
        n: {"emb": [], "trip": [], "dataset_of": []} for n in ("train", "val")
    }
    for ds in opened:
        for name, split in splits.items():
            exs = ds.split(name, cfg.val_fraction)
            emb = _image_embeddings(embedder, exs, Path(cfg.out_dir), f"{ds.name}-{name}".replace("/", "_"))
            offset = len(split["dataset_of"])
            if name == "train":
                edits, draw, more = cfg.max_edits, rng, paraphrase
            else:  # validation edits: their own generator per dataset, so training draws stay the same
                edits, draw, more = cfg.val_edits, random.Random(cfg.seed + 1), None
            trips = mine_triplets(exs, schema, edits, draw, emb, cfg.neighbours, cfg.max_differences, more)
            split["trip"] += [(a + offset, t, b + offset, k) for a, t, b, k in trips]
            split["emb"].append(emb)
            split["dataset_of"] += [ds.name] * len(exs)
    for split in splits.values():
        split["emb"] = torch.cat(split["emb"]) if split["emb"] else torch.zeros(0, 1)
    return {"splits": splits, "names": [ds.name for ds in opened]}


def train_composer(
    cfg: ComposerTrainConfig,
    datasets: list | None = None,
    embedder=None,
    paraphrase: Callable[[str], list[str]] | None = None,
    fresh: bool = False,
) -> Path:
    """Train both stages; returns ``out_dir/composer``. ``paraphrase(text)`` (optional, e.g. a
    generative backend) adds rewordings of each edit caption to the training triplets."""
    from vestis.embed import load_embedder

    seed_everything(cfg.seed, cfg.threads)
    out = Path(cfg.out_dir)
    if embedder is None:
        options = {"model": cfg.model, "threads": cfg.threads}
        embedder = load_embedder("lite", **{k: v for k, v in options.items() if v})
    model_dir = getattr(getattr(embedder, "runtime", None), "model_dir", None)
    if cfg.stage2_epochs and model_dir is None:  # said before stage 1, not after it
        raise OptionsError(
            "stage 2 fine-tunes the vestis-lite model directory's text encoder; this embedder has "
            "none: pass stage2_epochs=0"
        )
    data = _prepare(cfg, datasets, embedder, paraphrase)
    splits, names = data["splits"], data["names"]
    train = splits["train"]
    texts = sorted({t for s in splits.values() for _, t, _, _ in s["trip"]})
    tindex = {t: i for i, t in enumerate(texts)}
    text_emb = torch.from_numpy(embedder.embed_texts(texts)).float()
    triples = torch.tensor([(a, tindex[t], b) for a, t, b, _ in train["trip"]], dtype=torch.long)
    kinds = [k for _, _, _, k in train["trip"]]
    log.info(
        "%d training triplets (%d variants, %d edits), %d validation triplets, %d phrases",
        len(triples),
        kinds.count("variant"),
        len(kinds) - kinds.count("variant"),
        len(splits["val"]["trip"]),
        len(texts),
    )
    if not len(triples):
        raise DatasetError("no triplets could be mined: the datasets need group ids and labels")

    def validate(composer: Composer | None, text: torch.Tensor, modes: tuple[str, ...], kind: str) -> dict:
        val, result = splits["val"], {}
        for spec in names:
            idx = [i for i, d in enumerate(val["dataset_of"]) if d == spec]
            local = {g: j for j, g in enumerate(idx)}
            trips = [
                (local[a], tindex[t], local[b]) for a, t, b, k in val["trip"] if k == kind and a in local
            ]
            if trips:
                gallery = val["emb"][torch.tensor(idx)]
                result[spec] = {m: evaluate_composed(composer, gallery, text, trips, m) for m in modes}
        return result

    torch.manual_seed(cfg.seed)  # loading the towers above may or may not have drawn numbers
    composer = Composer(ComposerConfig(dim=train["emb"].shape[1], hidden=cfg.hidden))
    optim = torch.optim.AdamW(composer.parameters(), lr=cfg.lr, weight_decay=1e-4)
    ckpt_path = out / "checkpoint.pt"
    # where the run lives and how long stage 2 goes on do not change what was trained so far
    ckpt = load_checkpoint(ckpt_path, cfg, fresh, ignore=("threads", "out_dir", "stage2_epochs"))
    state: dict[str, Any] = {"stage": 1, "epoch": 0, "history": [], "stage1": None}
    state |= {"val": {}, "val_edits": {}}  # dataset → mode → metrics, per validation protocol
    if ckpt is not None:
        state = {k: ckpt[k] for k in state}
        log.info("resuming from stage %d, epoch %d", state["stage"], state["epoch"])
        if state["stage"] == 1:
            composer.load_state_dict(ckpt["composer"])
            optim.load_state_dict(ckpt["optim"])

    def save(stage: int, epoch: int, text_side: TextSide | None = None) -> None:
        state.update(stage=stage, epoch=epoch)
        save_checkpoint(
            ckpt_path,
            {
                **state,
                "composer": composer.state_dict(),
                "text": text_side.tower.state_dict() if text_side is not None else None,
                "optim": optim.state_dict(),
                "config": cfg.to_dict(),
            },
        )

    def run_epoch(stage: int, epoch: int, text_of: Callable[[torch.Tensor], torch.Tensor]) -> float:
        order = torch.randperm(len(triples), generator=torch.Generator().manual_seed(cfg.seed * 1000 + epoch))
        if stage == 2 and cfg.stage2_triplets:
            order = order[: cfg.stage2_triplets]  # MiniLM makes a stage-2 step costly on CPU
        torch.manual_seed(cfg.seed * 1000 + 100 * stage + epoch)  # dropout: a resumed epoch draws the same
        composer.train()
        total = 0.0
        starts = range(0, len(order), cfg.batch_size)
        with progress_bar(transient=True) as bar:
            task = bar.add_task(f"stage {stage}, epoch {epoch + 1}", total=len(starts))
            for start in starts:
                batch = triples[order[start : start + cfg.batch_size]]
                q = composer(train["emb"][batch[:, 0]], text_of(batch[:, 1]))
                loss = gallery_loss(q, train["emb"], batch[:, 0], batch[:, 2], composer.logit_scale)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                total += float(loss.detach()) * len(batch)
                bar.advance(task)
        composer.eval()
        state["history"].append({"stage": stage, "epoch": epoch + 1, "loss": total / len(order)})
        log.info("composer stage %d epoch %d: loss %.4f", stage, epoch + 1, state["history"][-1]["loss"])
        return total / len(order)

    if state["stage"] == 1:
        for epoch in range(state["epoch"], cfg.epochs):
            run_epoch(1, epoch, lambda ids: text_emb[ids])
            save(1, epoch + 1)
        composer.eval()
        state["stage1"] = {k: v.clone() for k, v in composer.state_dict().items()}
        for key, kind in VAL_PROTOCOLS:
            state[key] = validate(composer, text_emb, ("composer", "image", "text", "sum"), kind)
            for modes in state[key].values():
                modes["stage1"] = modes.pop("composer")
    text_side = None
    if cfg.stage2_epochs:
        text_side = TextSide(model_dir, cfg)
        composer.load_state_dict(state["stage1"])
        optim = torch.optim.AdamW(
            [
                {"params": list(composer.parameters()), "lr": cfg.stage2_lr},
                {"params": [p for p in text_side.parameters() if p.requires_grad], "lr": cfg.text_lr},
            ],
            weight_decay=1e-4,
        )
        if ckpt is not None and ckpt["stage"] == 2:
            composer.load_state_dict(ckpt["composer"])
            text_side.tower.load_state_dict(ckpt["text"])
            optim.load_state_dict(ckpt["optim"])
        start = state["epoch"] if state["stage"] == 2 else 0
        if start == 0:
            save(2, 0, text_side)

        def tuned_text(ids: torch.Tensor) -> torch.Tensor:
            unique, inverse = torch.unique(ids, return_inverse=True)
            return text_side([texts[i] for i in unique.tolist()])[inverse]

        for epoch in range(start, cfg.stage2_epochs):
            text_side.train()
            run_epoch(2, epoch, tuned_text)
            save(2, epoch + 1, text_side)
        text_side.eval()
        rows = sorted({tindex[t] for _, t, _, _ in splits["val"]["trip"]})
        tuned = text_emb.clone()  # validation reads only its own texts' rows
        if rows:
            tuned[rows] = text_side.embed([texts[i] for i in rows])
        for key, kind in VAL_PROTOCOLS:
            for spec, modes in validate(composer, tuned, ("composer",), kind).items():
                state[key][spec]["stage2"] = modes["composer"]
    return _write(cfg, out, state, composer, text_side, len(triples), kinds)


def _write(cfg, out: Path, state: dict, stage2: Composer, text_side, n_triplets: int, kinds) -> Path:
    """Stage 1's combiner as ``out/composer``, stage 2's (if trained) with its text encoder as
    ``out/composer-stage2``, and the report."""
    import shutil

    from vestis.models.text_tower import TEXT_ENCODER_DIR, save_text_encoder

    val = state["val"]
    for modes in [*val.values(), *state["val_edits"].values()]:
        modes["composer"] = modes["stage1"]
    composer = Composer(stage2.config)
    composer.load_state_dict(state["stage1"])
    directory = out / "composer"
    for path in (directory, out / "composer-stage2"):
        if path.exists():
            shutil.rmtree(path)
    composer.save(directory)
    if text_side is not None:
        stage2.save(out / "composer-stage2")
        save_text_encoder(
            text_side.tower.bert.state_dict(), out / "composer-stage2" / TEXT_ENCODER_DIR, text_side.source
        )
    report = {
        "config": cfg.to_dict(),
        "train_triplets": n_triplets,
        "triplet_kinds": {k: kinds.count(k) for k in sorted(set(kinds))},
        "history": state["history"],
        "selected": "stage1",
        "stage2_better": (
            None if text_side is None else validation_score(val, "stage2") > validation_score(val, "stage1")
        ),
        "shippable": beats_sum(val),
        "val": val,
        "val_edits": state["val_edits"],
    }
    (out / "composer_report.json").write_text(json.dumps(report, indent=1))
    shutil.copy2(out / "composer_report.json", directory / "composer_report.json")
    for spec, modes in val.items():
        log.info("%s R@10: %s", spec, {m: round(r.get("R@10", 0), 4) for m, r in modes.items()})
    log.info("stage 1 %s the sum", "beats" if report["shippable"] else "does not beat")
    return directory
