"""``vestis eval extract``: score an extractor on a labelled dataset."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vestis.cli.common import console
from vestis.data import open_dataset
from vestis.extract.base import create_extractor
from vestis.schema import load_schema

app = typer.Typer(help="Benchmarks: score extractors on labelled datasets.", no_args_is_help=True)


@app.command("extract")
def extract_cmd(
    dataset: str = typer.Option(
        ..., "--dataset", "-d", help="Dataset spec, e.g. hm or hm:../shared/data/hm."
    ),
    backend: str = typer.Option(
        ..., "--backend", "-b", help="Extractor backend name (majority, pixel-colour, ...)."
    ),
    schema: str = typer.Option("vestis", "--schema", "-s", help="Schema preset or file."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Output directory (metrics.json, predictions.jsonl, report.html)."
    ),
    limit: int = typer.Option(None, "--limit", "-n", help="Evaluate at most N examples."),
    split: str = typer.Option("val", "--split", help="Split to evaluate: val, train or all."),
    fresh: bool = typer.Option(
        False, "--fresh", help="Ignore predictions already in --out instead of resuming."
    ),
) -> None:
    """Run a backend over a dataset split and write metrics, predictions and an HTML report.

    Interrupted runs resume from predictions.jsonl: run the same command again.
    """
    from vestis.eval.extract_task import run_extract_eval

    s = load_schema(schema)
    ds = open_dataset(dataset, schema=s)
    extractor = create_extractor(backend, s)
    metrics = run_extract_eval(ds, extractor, s, out, limit=limit, split=split, resume=not fresh)
    table = Table(
        "field", "accuracy", "macro-F1", "coverage", "support", title=f"{backend} on {ds.name} ({split})"
    )
    for name, m in metrics["fields"].items():
        table.add_row(
            name, _fmt(m.get("accuracy")), _fmt(m.get("macro_f1", m.get("f1"))), str(m.get("support", ""))
        )
    console.print(table)
    console.print(
        f"weighted field score {_fmt(metrics.get('weighted_score'))} · "
        f"valid JSON {_fmt(metrics.get('valid_json', {}).get('strict'))} · "
        f"{_fmt(metrics.get('throughput', {}).get('images_per_s'))} images/s"
    )
    console.print(f"wrote {out}/metrics.json, predictions.jsonl, report.html")


def _lite_on(dataset: str, model: str | None):
    """The dataset (vestis schema) and the lite extractor and embedder of ``model`` (default: shipped)."""
    from vestis.embed import load_embedder

    s = load_schema("vestis")
    options = {"model": model} if model else {}
    return (
        open_dataset(dataset, schema=s),
        create_extractor("lite", s, **options),
        load_embedder("lite", **options),
    )


def _fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


@app.command("retrieve")
def retrieve_cmd(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset spec, e.g. hm."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (metrics.json, report.html)."),
    model: str = typer.Option(None, "--model", "-m", help="vestis-lite directory (default: shipped)."),
    limit: int = typer.Option(
        None, "--limit", "-n", help="Use at most N examples of the split as the gallery."
    ),
    split: str = typer.Option("val", "--split", help="Split: val, train or all."),
) -> None:
    """Text→image (titles, descriptions), image→image (colour variants) and composed retrieval.

    Reports R@1/5/10/50, MRR and nDCG@10 per task, and an HTML report with result grids.
    """
    from vestis.eval.retrieve_task import run_retrieve_eval

    ds, extractor, embedder = _lite_on(dataset, model)
    result = run_retrieve_eval(ds, extractor, embedder, out, split=split, limit=limit)
    table = Table(
        "task",
        "R@1",
        "R@5",
        "R@10",
        "R@50",
        "MRR",
        "nDCG@10",
        "queries",
        title=f"retrieval on {ds.name} ({split}, {result['gallery']} images)",
    )
    for task, m in result["tasks"].items():
        table.add_row(
            task,
            *[_fmt(m.get(k)) for k in ("R@1", "R@5", "R@10", "R@50", "MRR", "nDCG@10")],
            str(m.get("queries", 0)),
        )
    console.print(table)
    console.print(f"wrote {out}/metrics.json and report.html")


@app.command("hygiene")
def hygiene_cmd(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset spec, e.g. hm."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (hygiene.json, report.html)."),
    model: str = typer.Option(None, "--model", "-m", help="vestis-lite directory (default: shipped)."),
    threshold: float = typer.Option(
        0.96, "--threshold", help="Cosine similarity that counts as a near-duplicate."
    ),
    limit: int = typer.Option(None, "--limit", "-n", help="At most N examples per split."),
) -> None:
    """Flag near-duplicates across train/val (leaks) and labels the model strongly contradicts."""
    from vestis.eval.hygiene import run_hygiene

    ds, extractor, embedder = _lite_on(dataset, model)
    r = run_hygiene(ds, extractor, embedder, out, threshold=threshold, limit=limit)
    console.print(
        f"{r['val_with_train_near_duplicate']} of {r['val']} validation images have a near-duplicate "
        f"in train ({100 * r['leak_rate']:.1f}%); {r['val_near_duplicate_pairs']} pairs within val; "
        f"{r['likely_label_noise']} likely label errors {r['noise_by_field']}"
    )
    console.print(f"wrote {out}/hygiene.json and report.html")


@app.command("outfits")
def outfits_cmd(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset spec with outfits, e.g. mango."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory (metrics.json, report.html)."),
    scorer: str = typer.Option(
        None, "--scorer", help="Scorer name or trained model directory (default: shipped, else cooccurrence)."
    ),
    model: str = typer.Option(None, "--model", "-m", help="vestis-lite directory (default: shipped)."),
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
    from vestis.eval.outfits_task import run_outfits_eval
    from vestis.outfits import load_scorer
    from vestis.outfits.features import outfit_data

    outfit_scorer = load_scorer(scorer)
    ds, extractor, embedder = _lite_on(dataset, model)
    outfit_scorer.check_embeddings(embedder.model_id)
    data = outfit_data(ds, extractor, embedder, cache)
    m = run_outfits_eval(
        data, outfit_scorer, out, split=split, seed=seed, dataset_name=ds.name, limit=limit, recall=recall
    )
    table = Table("metric", "value", "chance", title=f"{outfit_scorer.name} on {ds.name} ({split})")
    for key in ("auc", "fitb", "recall@10"):
        table.add_row(key, _fmt(m.get(key)), _fmt(m["chance"].get(key)))
    console.print(table)
    console.print(
        f"{m['outfits']} outfits, {m['fitb_questions']} questions; wrote {out}/metrics.json and report.html"
    )
