"""``vestis eval``: run an evaluator of :mod:`vestis.eval` and print its table (the logic is there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from vestis.cli.common import console

app = typer.Typer(
    help="Benchmarks: score extractors, search, outfit scorers on datasets.", no_args_is_help=True
)

DATASET = typer.Option(..., "--dataset", "-d", help="Dataset spec, e.g. hm or hm:../shared/data/hm.")
SCHEMA = typer.Option("vestis", "--schema", "-s", help="Schema preset or file.")
MODEL = typer.Option(None, "--model", "-m", help="The extractor's model (lite: a vestis-lite directory).")
EMBEDDER = typer.Option("lite", "--embedder", "-e", help="Embedder backend (lite, hf-clip, ...).")
EMBEDDER_MODEL = typer.Option(
    None,
    "--embedder-model",
    help="The embedder's model (default: --model when embedder and extractor are one backend, e.g. lite).",
)
LIMIT = typer.Option(None, "--limit", "-n", help="Evaluate at most N examples of the split.")
SPLIT = typer.Option("val", "--split", help="Split to evaluate: val, train or all.")


def _fmt(value) -> str:
    if value is None:
        return "—"
    return str(value) if isinstance(value, int) else f"{value:.3f}"


def _options(model: str | None) -> dict[str, Any]:
    return {"model": model} if model else {}


def _embedder_options(embedder: str, model: str | None, backend: str, extractor_model: str | None):
    return _options(model or (extractor_model if embedder == backend else None))


def _models(schema: str, backend: str, model: str | None, embedder: str, embedder_model: str | None):
    """The schema, extractor and embedder the flags name."""
    from vestis.embed import load_embedder
    from vestis.extract.base import load_extractor
    from vestis.schema import load_schema

    s = load_schema(schema)
    return (
        s,
        load_extractor(backend, s, **_options(model)),
        load_embedder(embedder, **_embedder_options(embedder, embedder_model, backend, model)),
    )


@app.command("list")
def list_cmd() -> None:
    """The registered evaluators."""
    from vestis.eval import list_evaluators

    for name, doc in list_evaluators().items():
        console.print(f"[bold]{name}[/bold]  {doc}")


@app.command("extract")
def extract_cmd(
    dataset: str = DATASET,
    backend: list[str] = typer.Option(
        ...,
        "--backend",
        "-b",
        help="Extractor backend name (majority, pixel-colour, lite, ...); repeat it to compare backends.",
    ),
    model: str = MODEL,
    schema: str = SCHEMA,
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Output directory (metrics.json, predictions.jsonl, report.html); with several backends "
        "one sub-directory per backend and the side-by-side report.html + compare.json here.",
    ),
    limit: int = LIMIT,
    split: str = SPLIT,
    fresh: bool = typer.Option(
        False, "--fresh", help="Ignore predictions already in --out instead of resuming."
    ),
    embeddings: bool = typer.Option(
        True,
        "--embeddings/--no-embeddings",
        help="MiniLM similarity, which the Denali composite needs (offline; a few seconds to load).",
    ),
    repeats: int = typer.Option(
        1, "--repeats", help="Extract the first --consistency-limit examples N times: consistency."
    ),
    consistency_limit: int = typer.Option(
        50, "--consistency-limit", help="How many examples the repeated runs use."
    ),
) -> None:
    """Run extractors over a dataset split and write metrics, predictions and an HTML report.

    Reports accuracy/F1 and the Denali measures (structured match, composite, weighted score, valid
    JSON, consistency, throughput). Interrupted runs resume from predictions.jsonl: run the same
    command again.
    """
    from vestis.errors import UserError
    from vestis.eval.extract import ExtractEvaluator
    from vestis.extract.base import load_extractor
    from vestis.schema import load_schema

    if len(backend) > 1 and model:
        raise UserError(
            "--model names one backend's model: run that backend alone, then `vestis eval compare`"
        )
    s = load_schema(schema)
    runs = [out] if len(backend) == 1 else [out / name for name in backend]
    for name, run_dir in zip(backend, runs, strict=True):
        evaluator = ExtractEvaluator(
            dataset,
            split,
            limit,
            run_dir,
            schema=s,
            resume=not fresh,
            embeddings=embeddings,
            repeats=repeats,
            consistency_limit=consistency_limit,
        )
        evaluator(load_extractor(name, s, **_options(model)))
        _print_run(evaluator.result, name, split)
        console.print(f"wrote {run_dir}/metrics.json, predictions.jsonl, report.html")
    if len(runs) > 1:
        _compare(runs, out)


def _print_run(r: dict[str, Any], backend: str, split: str) -> None:
    table = Table(
        "field",
        "accuracy",
        "macro-F1",
        "support",
        "composite",
        title=f"{backend} on {r['dataset']} ({split})",
    )
    for name, m in r["fields"].items():
        table.add_row(
            name,
            _fmt(m.get("accuracy")),
            _fmt(m.get("macro_f1", m.get("f1"))),
            str(m.get("support", "")),
            _fmt(m.get("denali", {}).get("composite")) if m.get("support") else "—",
        )
    console.print(table)
    consistency = r.get("consistency")
    console.print(
        f"weighted field score {_fmt(r.get('weighted_score'))} · "
        f"Denali weighted score {_fmt(r['denali'].get('weighted_score'))} · "
        f"valid JSON {_fmt(r.get('valid_json', {}).get('strict'))} · "
        f"{_fmt(r.get('throughput', {}).get('images_per_s'))} images/s"
        + (f" · consistency {_fmt(consistency['all_fields'])}" if consistency else "")
    )


def _compare(runs: list[Path], out: Path) -> None:
    from vestis.eval.compare import SUMMARY, compare_runs, write_compare_report

    comparison = compare_runs(runs)
    labels = [r["label"] for r in comparison["runs"]]
    table = Table("measure", *labels, title="backends side by side")
    for key, title, _ in SUMMARY:
        table.add_row(title, *[_fmt(comparison["summary"][key][label]) for label in labels])
    console.print(table)
    for warning in comparison["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}")
    report = write_compare_report(comparison, out)
    console.print(f"wrote {report} and {out / 'compare.json'}")


@app.command("compare")
def compare_cmd(
    runs: list[Path] = typer.Argument(..., help="Run directories of `vestis eval extract` (metrics.json)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (report.html, compare.json)."),
) -> None:
    """Put extraction runs side by side: per-field measures per backend, Denali scores, valid JSON, speed."""
    _compare(runs, out)


@app.command("retrieve")
def retrieve_cmd(
    dataset: str = DATASET,
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (metrics.json, report.html)."),
    schema: str = SCHEMA,
    backend: str = typer.Option("lite", "--backend", "-b", help="Extractor of the catalog's attributes."),
    model: str = MODEL,
    embedder: str = EMBEDDER,
    embedder_model: str = EMBEDDER_MODEL,
    catalog: Path = typer.Option(
        None, "--catalog", help="Catalog of the gallery (made or reused; default OUT/catalog)."
    ),
    limit: int = typer.Option(
        None, "--limit", "-n", help="Use at most N examples of the split as the gallery."
    ),
    split: str = SPLIT,
    exclude: Path = typer.Option(
        None,
        "--exclude",
        help="metrics.json of `vestis eval hygiene` (same dataset, split, limit): also report "
        "<task>-clean metrics without its flagged queries.",
    ),
) -> None:
    """Search through the Searcher: titles/descriptions → image, image → colour variants, composed.

    The split is ingested into a catalog (reused by later runs), then every query is a search with
    the defaults users get. Reports R@1/5/10/50, MRR@50 and nDCG@10 per task, and an HTML report.
    """
    from vestis.catalog.catalog import CatalogConfig
    from vestis.eval.retrieve import RetrieveEvaluator
    from vestis.schema import load_schema

    config = CatalogConfig(
        schema=schema,
        extractor=backend,
        extractor_options=_options(model),
        embedder=embedder,
        embedder_options=_embedder_options(embedder, embedder_model, backend, model),
    )
    evaluator = RetrieveEvaluator(
        dataset,
        split,
        limit,
        out,
        schema=load_schema(schema),
        catalog_dir=catalog,
        exclude=_flagged(exclude) if exclude is not None else None,
    )
    evaluator(config)
    r = evaluator.result
    metric_names = ("R@1", "R@5", "R@10", "R@50", "MRR@50", "nDCG@10")
    table = Table(title=f"retrieval on {r['dataset']} ({split}, {r['gallery']} images)")
    for column in ("task", *metric_names, "queries"):
        table.add_column(column, no_wrap=column == "task")
    for task, m in r["tasks"].items():
        table.add_row(task, *[_fmt(m.get(k)) for k in metric_names], str(m.get("queries", 0)))
    console.print(table)
    console.print(f"primary {evaluator.primary_metric}; wrote {out}/metrics.json and report.html")


def _flagged(path: Path) -> dict[str, list[str]]:
    """The ``flagged`` query ids of a hygiene run's metrics.json (a clear error when it has none)."""
    import json

    from vestis.errors import UserError

    try:
        flagged = json.loads(path.read_text(encoding="utf-8"))["flagged"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path}: not the metrics.json of a `vestis eval hygiene` run ({e})") from None
    return flagged


@app.command("hygiene")
def hygiene_cmd(
    dataset: str = DATASET,
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (metrics.json, report.html)."),
    schema: str = SCHEMA,
    backend: str = typer.Option("lite", "--backend", "-b", help="Extractor that judges the labels."),
    model: str = MODEL,
    embedder: str = EMBEDDER,
    embedder_model: str = EMBEDDER_MODEL,
    min_similarity: float = typer.Option(
        0.96, "--min-similarity", help="Cosine similarity that counts as a near-duplicate."
    ),
    limit: int = typer.Option(None, "--limit", "-n", help="At most N examples per split."),
) -> None:
    """Flag near-duplicates across train/val (leaks) and labels the model strongly contradicts."""
    from vestis.eval.hygiene import HygieneEvaluator

    s, extractor, emb = _models(schema, backend, model, embedder, embedder_model)
    evaluator = HygieneEvaluator(
        dataset, limit=limit, out_dir=out, schema=s, extractor=extractor, threshold=min_similarity
    )
    evaluator(emb)
    r = evaluator.result
    console.print(
        f"{r['val_with_train_near_duplicate']} of {r['val']} validation images have a near-duplicate "
        f"in train ({100 * r['leak_rate']:.1f}%); {r['val_near_duplicate_pairs']} pairs within val; "
        f"{r['likely_label_noise']} likely label errors {r['noise_by_field']}"
    )
    d = r["duplicates_across_products"]
    console.print(
        f"{d['pairs']} near-duplicate pairs under different products ({d['examples']} examples); "
        + "; ".join(
            f"{a['queries']} of {a['of']} {task} queries ambiguous "
            f"({a['texts']} texts, {a['products']} products)"
            for task, a in r["ambiguous"].items()
        )
    )
    console.print(f"wrote {out}/metrics.json and report.html")


@app.command("outfits")
def outfits_cmd(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset spec with outfits, e.g. mango."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (metrics.json, report.html)."),
    scorer: str = typer.Option(
        None, "--scorer", help="Scorer name or trained model directory (default: shipped, else cooccurrence)."
    ),
    schema: str = SCHEMA,
    backend: str = typer.Option("lite", "--backend", "-b", help="Extractor of the items' attributes."),
    model: str = MODEL,
    embedder: str = EMBEDDER,
    embedder_model: str = EMBEDDER_MODEL,
    split: str = typer.Option("val", "--split", help="val or train (item-disjoint split), or all."),
    seed: int = typer.Option(0, "--seed", help="Seed of negatives and fill-in-the-blank candidates."),
    cache: Path = typer.Option(Path(".vestis-cache"), "--cache", help="Cache of item embeddings."),
    limit: int = typer.Option(
        None,
        "--limit",
        "-n",
        help="Only the split's first N outfits (by id); negatives come from their items.",
    ),
    recall: bool = typer.Option(
        True, "--recall/--no-recall", help="Complete-the-look recall (scores every item per question)."
    ),
) -> None:
    """Compatibility AUC, fill-in-the-blank accuracy and complete-the-look recall@10, with a report."""
    from vestis.eval.outfits import OutfitsEvaluator
    from vestis.outfits import load_scorer

    outfit_scorer = load_scorer(scorer)
    s, extractor, emb = _models(schema, backend, model, embedder, embedder_model)
    evaluator = OutfitsEvaluator(
        dataset,
        split,
        limit,
        out,
        schema=s,
        extractor=extractor,
        embedder=emb,
        cache=cache,
        seed=seed,
        recall=recall,
    )
    evaluator(outfit_scorer)
    m = evaluator.result
    table = Table("metric", "value", "chance", title=f"{outfit_scorer.name} on {m['dataset']} ({split})")
    for key in ("auc", "fitb", "recall@10"):
        table.add_row(key, _fmt(m.get(key)), _fmt(m["chance"].get(key)))
    for key in ("ece", "accuracy", "f1"):  # a calibrated scorer's probabilities
        if key in m:
            table.add_row(key, _fmt(m[key]), "0.5" if key == "accuracy" else "")
    console.print(table)
    console.print(
        f"{m['outfits']} outfits, {m['fitb_questions']} questions; wrote {out}/metrics.json and report.html"
    )
