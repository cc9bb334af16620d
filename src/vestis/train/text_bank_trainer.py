"""``vestis train text-bank``: build a reference bank for text search queries (:mod:`vestis.embed.text_bank`).

No weights train. The embedder embeds the training photos of ``datasets`` and every distinct
caption of them (title, description, attribute phrases: :func:`vestis.data.text.captions_for`);
each caption's prototype is the mean vector of the photos it describes. The validation split of
each dataset then scores text → image retrieval (titles and descriptions as queries, the split's
photos as the gallery, product-level relevance: any photo of the query's group) ranked as the
searcher ranks (its ``candidates`` nearest, re-ranked by ``hybrid_weight`` × agreement with the
attributes the query names, as ``extractor`` reads them from the photos, plus the item side) with
the direct query vectors and with every setting of ``ks`` × ``taus`` × ``weights`` (the query
side), each with every setting of ``item_ks`` × ``item_taus`` × ``item_weights`` (the item side: the gallery
photos' caption vectors matched against the direct query, :meth:`TextBank.item_scores`) and with
the item side off. The setting with the best mean R@10 over the tasks is written with the bank
(ties: the smaller weights, then k, then tau), among those that cost no task more than
``item_tolerance`` R@10 against the best setting without the item side.

That choice is made on the very queries it is scored on, so the report also gives an honest
estimate: the validation groups split in two halves by a hash, each half scored with the setting
chosen on the other (``cross_fitted``). The bank ``beats_direct`` when that estimate's mean R@10
is above the direct vectors'; an embedder only uses its own bank when it does.

    vestis train text-bank                                  # vestis-lite, H&M + Mango → runs/text-bank
    vestis train text-bank --set datasets='[shop]' --set embedder=hf-clip --set model=DIR

Writes ``out_dir/text_bank/`` (the bank: ``bank.safetensors``, ``bank.json`` with the settings and
the report) and ``out_dir/report.json``; ``cp -r runs/text-bank/text_bank MODEL_DIR/`` makes a
vestis-lite model directory use it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from vestis.data import Dataset, DatasetError, Example, open_dataset
from vestis.data.text import captions_for
from vestis.embed import load_embedder
from vestis.embed.base import MAX_TEXT_CHARS, Embedder
from vestis.embed.text_bank import TextBank
from vestis.eval.retrieve import DEPTH, text_queries
from vestis.schema import load_schema
from vestis.search.query import agreement_matrix, attribute_mentions
from vestis.train.text_bank_config import TextBankConfig

log = logging.getLogger(__name__)
REPORT = "report.json"
TOP = 10


def train_text_bank(cfg: TextBankConfig, datasets: list[Dataset] | None = None) -> Path:
    """Build, validate and write the bank; returns its directory (``out_dir/text_bank``)."""
    t0 = time.perf_counter()
    schema = load_schema(cfg.schema)
    embedder = _embedder(cfg)
    extractor = _extractor(cfg, schema)  # before any work: a mistyped name fails at once
    train: list[Example] = []
    val: dict[str, list[Example]] = {}
    for spec, ds in zip(
        cfg.datasets, datasets or [open_dataset(s, schema=schema) for s in cfg.datasets], strict=True
    ):
        tr, va = ds.split("train", cfg.val_fraction), ds.split("val", cfg.val_fraction)
        if cfg.limit:
            tr, va = tr[: cfg.limit], va[: cfg.limit]
        train += tr
        val[spec] = va
    if not train:
        raise DatasetError(f"no training examples in {', '.join(cfg.datasets)}")

    bank, stats = build_bank(embedder, train, schema)
    tasks = validation_tasks(embedder, val, extractor)
    if not tasks:
        raise DatasetError(
            f"no validation example of {', '.join(cfg.datasets)} has a title or description to search with"
        )
    report = choose(bank, tasks, cfg)
    report |= {"bank": stats, "config": asdict(cfg), "model_id": embedder.model_id}
    report["seconds"] = round(time.perf_counter() - t0, 1)
    for key, value in report["chosen"].items():  # weight, k, tau and the item side's three
        if value or key.endswith("weight"):  # nothing swept on a side: its k and tau stay
            setattr(bank, key, value)
    bank.report = {key: report[key] for key in ("beats_direct", "chosen", "direct", "cross_fitted", "tasks")}
    out = Path(cfg.out_dir)
    bank.save(out / "text_bank")
    (out / REPORT).write_text(json.dumps(report, indent=1) + "\n")
    log.info("text bank → %s (beats direct: %s)", out / "text_bank", report["beats_direct"])
    return out / "text_bank"


def _embedder(cfg: TextBankConfig) -> Embedder:
    options = dict(cfg.embedder_options)
    if cfg.model:
        options["model"] = cfg.model
    if cfg.threads is not None and cfg.embedder == "lite":
        options.setdefault("threads", cfg.threads)
    if cfg.embedder == "lite":
        options["text_bank"] = False  # the bank is built from the direct vectors
    embedder = load_embedder(cfg.embedder, **options)
    embedder.use_text_bank(None)
    return embedder


def _extractor(cfg: TextBankConfig, schema):
    """The extractor whose attributes the validation's hybrid re-ranking reads (None: no hybrid)."""
    if cfg.extractor is None or cfg.hybrid_weight == 0:
        return None
    from vestis.extract.base import load_extractor

    options = dict(cfg.extractor_options)
    if cfg.extractor == cfg.embedder == "lite":
        if cfg.model:
            options.setdefault("model", cfg.model)
        if cfg.threads is not None:
            options.setdefault("threads", cfg.threads)
    return load_extractor(cfg.extractor, schema, **options)


def build_bank(embedder: Embedder, train: list[Example], schema) -> tuple[TextBank, dict[str, Any]]:
    """Each distinct caption of the readable training photos, with its prototype."""
    vectors, ok = embedder.embed_many([ex.image for ex in train], description="training photos")
    members: dict[str, list[int]] = {}
    for i, ex in enumerate(train):
        if ok[i]:
            for caption in captions_for(ex, schema):
                if caption.strip() and len(caption) <= MAX_TEXT_CHARS:
                    members.setdefault(caption, []).append(i)
    if not members:
        raise DatasetError("no readable training photo has a caption (title, description or attributes)")
    texts = list(members)
    text = embedder.embed_texts(texts)
    image = np.stack([vectors[rows].mean(0) for rows in members.values()])
    stats = {"photos": int(ok.sum()), "unreadable": int((~ok).sum()), "captions": len(texts)}
    return TextBank(text, image, embedder.model_id), stats


def validation_tasks(
    embedder: Embedder, val: dict[str, list[Example]], extractor: Any = None
) -> dict[str, dict[str, Any]]:
    """Per ``dataset/title`` and ``dataset/description``: query vectors, the gallery's vectors, each
    query's relevant gallery rows (its group's photos), its group (for the two folds) and, with an
    ``extractor``, the agreement of each gallery photo's attributes with what each query names."""
    tasks = {}
    for name, examples in val.items():
        vectors, ok = embedder.embed_many([ex.image for ex in examples], description=f"{name} validation")
        rows = np.flatnonzero(ok)
        attributes = None
        if extractor is not None:
            found = extractor.extract([examples[i].image for i in rows])
            attributes = [{} if r.error else r.attributes for r in found]
        groups = [examples[i].group or examples[i].id for i in rows]
        by_group: dict[str, set[int]] = {}
        for row, group in enumerate(groups):
            by_group.setdefault(group, set()).add(row)
        for task, queries in text_queries(examples).items():
            queries = [(i, t) for i, t in queries if ok[i]]
            if not queries:
                continue
            qgroups = [examples[i].group or examples[i].id for i, _ in queries]
            tasks[f"{name}/{task}"] = {
                "queries": embedder.embed_texts([t for _, t in queries]),
                "gallery": vectors[rows],
                "relevant": [by_group[g] for g in qgroups],
                "fold": np.array([int(hashlib.sha1(g.encode()).hexdigest(), 16) % 2 for g in qgroups]),
                "agreement": None
                if attributes is None
                else agreement_matrix(
                    [attribute_mentions(t, extractor.schema) for _, t in queries], attributes
                ),
            }
    return tasks


def within_candidates(sim: np.ndarray, candidates: int | None) -> np.ndarray:
    """``sim`` [Q, G] with all but each row's ``candidates`` largest set to -inf: what the searcher,
    which ranks only its nearest candidates, never returns (None: the whole gallery)."""
    if candidates is None or candidates >= sim.shape[1]:
        return sim
    near = np.argpartition(-sim, candidates - 1, axis=1)[:, :candidates]
    kept = np.full_like(sim, -np.inf)
    np.put_along_axis(kept, near, 0.0, 1)
    return sim + kept


def ranked_hits(sim: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """[Q, 2] from scores ``sim`` [Q, G] and a relevance mask [Q, G]: the first relevant item found
    in the top 10 (0/1), and its reciprocal rank within the top 50 (-inf scores never count)."""
    depth = min(DEPTH, sim.shape[1])
    top = np.argpartition(-sim, depth - 1, axis=1)[:, :depth]
    order = np.take_along_axis(top, np.argsort(-np.take_along_axis(sim, top, 1), axis=1, kind="stable"), 1)
    hit = np.take_along_axis(relevant, order, 1) & np.isfinite(np.take_along_axis(sim, order, 1))
    first = np.where(hit.any(1), hit.argmax(1), DEPTH)  # not found: past both cut-offs
    return np.stack([first < TOP, np.where(first < depth, 1.0 / (first + 1), 0.0)], 1).astype(np.float64)


def per_query(
    queries: np.ndarray,
    gallery: np.ndarray,
    relevant: list[set[int]],
    extra: np.ndarray | float = 0.0,
    candidates: int | None = None,
) -> np.ndarray:
    """:func:`ranked_hits` of ranking ``gallery`` for ``queries`` as the searcher ranks: with
    ``candidates``, only the nearest that many by similarity, by similarity + ``extra`` ([Q, G]:
    hybrid agreement and the item side); ``relevant``: each query's relevant gallery rows."""
    sim = within_candidates(queries @ gallery.T, candidates) + extra
    mask = np.zeros(sim.shape, dtype=bool)
    for q, rows in enumerate(relevant):
        mask[q, list(rows)] = True
    return ranked_hits(sim, mask)


def choose(bank: TextBank, tasks: dict[str, dict[str, Any]], cfg: TextBankConfig) -> dict[str, Any]:
    """Score the direct vectors and every setting of both sides; the choice, its table and the
    cross-fitted estimate. A setting is (weight, k, tau, item_weight, item_k, item_tau)."""
    query_side = sorted((w, k, tau) for w in cfg.weights if w > 0 for k in cfg.ks for tau in cfg.taus)
    item_side = sorted(
        (w, k, tau) for w in cfg.item_weights if w > 0 for k in cfg.item_ks for tau in cfg.item_taus
    )
    off = (0.0, 0, 0.0)
    settings = [(*q, *i) for q in (off, *query_side) for i in (off, *item_side)]
    captions = {
        (name, k, tau): bank.captions(t["gallery"], k=k, tau=tau)
        for name, t in tasks.items()
        for _, k, tau in item_side
    }
    expanded: dict[tuple, np.ndarray] = {}
    scores: dict[tuple, dict[str, np.ndarray]] = {}
    for s in settings:
        scores[s] = {}
        for name, t in tasks.items():
            w, k, tau, iw, ik, itau = s
            if (name, w, k, tau) not in expanded:
                expanded[name, w, k, tau] = bank.expand(t["queries"], weight=w, k=k or None, tau=tau or None)
            extra = iw * (t["queries"] @ captions[name, ik, itau].T) if iw else 0.0
            if t.get("agreement") is not None:
                extra = extra + cfg.hybrid_weight * t["agreement"]
            scores[s][name] = per_query(
                expanded[name, w, k, tau], t["gallery"], t["relevant"], extra, cfg.candidates
            )

    def mean_r10(setting: tuple, mask: dict[str, np.ndarray] | None = None) -> float:
        cells = [(v[mask[name], 0] if mask else v[:, 0]).mean() for name, v in scores[setting].items()]
        return float(np.mean(cells))

    def task_r10(setting: tuple, mask: dict[str, np.ndarray] | None) -> list[float]:
        return [float((v[mask[name], 0] if mask else v[:, 0]).mean()) for name, v in scores[setting].items()]

    def rank(mask):  # the mean R@10; ties: the smaller weights, then k, then tau
        return lambda s: (round(mean_r10(s, mask), 12), *(-x for x in s))

    def best(mask=None) -> tuple:
        """The best setting whose every task keeps the R@10 of the best setting without the item
        side, less ``item_tolerance``: a gain on one catalog does not pay for a loss on another."""
        alone = max((s for s in settings if s[3] == 0), key=rank(mask))
        floor = [r - cfg.item_tolerance - 1e-12 for r in task_r10(alone, mask)]
        kept = (s for s in settings if all(a >= b for a, b in zip(task_r10(s, mask), floor, strict=True)))
        return max(kept, key=rank(mask))

    direct = settings[0]
    chosen = best()
    if chosen[0] == 0:  # the direct vectors win: keep the best pivot's k and tau for the record
        record = max((s for s in settings if s[0] > 0), key=mean_r10)
        chosen = (0.0, *record[1:3], *chosen[3:])
        scores[chosen] = scores[(0.0, 0, 0.0, *chosen[3:])]
    if chosen[3] == 0:  # likewise the item side
        same = [s for s in settings if s[:3] == chosen[:3] and s[3] > 0]
        record = max(same, key=mean_r10, default=None)
        if record is not None:
            scores[(*chosen[:4], *record[4:])] = scores[chosen]
            chosen = (*chosen[:4], *record[4:])
    query_only = (*chosen[:3], *off)
    scores.setdefault(query_only, scores[(0.0, 0, 0.0, *off)])  # chosen weight 0: the direct vectors
    cross: dict[str, float] = {}
    picks = []
    for held in (0, 1):
        pick = best({name: t["fold"] != held for name, t in tasks.items()})
        picks.append(_setting(pick))
        for name, t in tasks.items():
            mask = t["fold"] == held
            cross[name] = cross.get(name, 0.0) + float(scores[pick][name][mask, 0].sum())
    cross = {name: cross[name] / len(t["fold"]) for name, t in tasks.items()}
    plain = {name: float(v[:, 0].mean()) for name, v in scores[direct].items()}
    table = {
        name: {
            "queries": len(t["fold"]),
            "direct": {"R@10": plain[name], "MRR": float(scores[direct][name][:, 1].mean())},
            "query_side_only": {"R@10": float(scores[query_only][name][:, 0].mean())},
            "chosen": {
                "R@10": float(scores[chosen][name][:, 0].mean()),
                "MRR": float(scores[chosen][name][:, 1].mean()),
            },
            "cross_fitted_R@10": cross[name],
        }
        for name, t in tasks.items()
    }
    return {
        "chosen": _setting(chosen),
        "beats_direct": bool(np.mean(list(cross.values())) > np.mean(list(plain.values()))),
        "direct": float(np.mean(list(plain.values()))),
        "cross_fitted": float(np.mean(list(cross.values()))),
        "cross_fitted_choices": picks,
        "tasks": table,
        "grid": {
            " ".join(f"{key}={value}" for key, value in _setting(s).items()): mean_r10(s)
            for s in settings
            if s != direct
        },
    }


def _setting(s: tuple) -> dict[str, Any]:
    return dict(zip(("weight", "k", "tau", "item_weight", "item_k", "item_tau"), s, strict=True))


def summary(cfg: TextBankConfig):
    """What ``vestis train text-bank`` prints when done: R@10 per task, direct and with the bank."""
    from rich.table import Table

    report = json.loads((Path(cfg.out_dir) / REPORT).read_text())
    c = report["chosen"]
    table = Table(
        title=f"text bank: weight {c['weight']}, k {c['k']}, tau {c['tau']} "
        f"({report['bank']['captions']} captions; beats direct: {report['beats_direct']})"
    )
    for col in ("task", "queries", "R@10 direct", "R@10 bank", "R@10 cross-fitted", "MRR direct", "MRR bank"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for name, row in report["tasks"].items():
        table.add_row(
            name,
            str(row["queries"]),
            f"{row['direct']['R@10']:.3f}",
            f"{row['chosen']['R@10']:.3f}",
            f"{row['cross_fitted_R@10']:.3f}",
            f"{row['direct']['MRR']:.3f}",
            f"{row['chosen']['MRR']:.3f}",
        )
    return table


__all__ = ["build_bank", "choose", "summary", "train_text_bank"]
