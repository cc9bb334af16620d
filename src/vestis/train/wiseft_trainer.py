"""``vestis train wiseft``: sweep α between two vestis-lite models, choose one, write it.

Each α's blend is scored by :class:`LiteTasks`, the evaluators users run: per dataset, extraction
accuracy (:class:`~vestis.eval.extract.ExtractEvaluator`, mean over the main closed fields) and,
where the dataset has titles or descriptions, text→image R@10 through a catalog and the searcher
(:class:`~vestis.eval.retrieve.RetrieveEvaluator`). α is chosen by :func:`~vestis.train.wiseft.choose_alpha`
(best in-domain mean, no out-of-domain task more than ``ood_tolerance`` below the base model).
Writes ``out_dir/model`` (the chosen blend), ``report.json`` (rows, chosen α, rule) and
``alpha_curve.png``. Transformers checkpoints are blended and swept from Python with an
evaluation of one's own (:func:`vestis.train.wiseft.sweep`).

>>> from vestis.train.recipes import RECIPES
>>> cfg = RECIPES.get("wiseft").load_config(overrides={"tuned": "runs/lite-worn", "limit": 200})
>>> train_wiseft(cfg)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vestis.errors import OptionsError
from vestis.train.wiseft import blend, check_replaceable, choose_alpha, sweep
from vestis.train.wiseft_checkpoints import LiteCheckpoint, open_pair, provenance
from vestis.train.wiseft_config import WiseFTConfig

if TYPE_CHECKING:
    from rich.table import Table

    from vestis.data import Dataset

log = logging.getLogger(__name__)
REPORT = "report.json"
PLOT = "alpha_curve.png"
TEXT_QUERIES = ("title", "description")  # the retrieval evaluator's text→image query kinds


class LiteTasks:
    """Evaluation of a vestis-lite model directory on in-domain and out-of-domain datasets.

    Called on a model directory, it returns ``{"<dataset>/extract": mean accuracy over fields,
    "<dataset>/retrieve": text→image R@10 (hybrid ranking, product level)}``; a dataset without
    titles or descriptions has no retrieve task. :attr:`domains` says which tasks are in-domain
    (``"in"``) and which out of domain (``"ood"``), :attr:`metrics` what each one measures.
    Datasets are specs (``hm``) or :class:`~vestis.data.Dataset` objects.
    """

    def __init__(
        self,
        in_domain: Sequence[str | Dataset],
        out_of_domain: Sequence[str | Dataset] = (),
        tasks: Sequence[str] = ("extract", "retrieve"),
        fields: Sequence[str] | None = None,
        schema: str = "vestis",
        split: str = "val",
        limit: int | None = None,
        runtime: str = "torch",
        threads: int | None = None,
    ) -> None:
        from vestis.data import open_dataset
        from vestis.data.text import title
        from vestis.schema import load_schema

        if unknown := sorted(set(tasks) - {"extract", "retrieve"}):
            raise OptionsError(f"unknown task {unknown[0]!r}; known: extract, retrieve")
        self.schema = load_schema(schema)
        self.fields = list(fields) if fields is not None else list(self.schema.roles.listing)
        if bad := [f for f in self.fields if f not in self.schema.fields]:
            raise OptionsError(f"field {bad[0]!r} is not in the {self.schema.name} schema")
        self.split, self.limit = split, limit
        self.options = {"runtime": runtime, **({"threads": threads} if threads else {})}
        self.datasets: dict[str, Dataset] = {}
        self.domains: dict[str, str] = {}
        self.metrics: dict[str, str] = {}
        for domain, specs in (("in", in_domain), ("ood", out_of_domain)):
            for spec in specs:
                ds = open_dataset(spec, schema=self.schema) if isinstance(spec, str) else spec
                name = spec if isinstance(spec, str) else ds.kind
                if name in self.datasets:
                    raise OptionsError(f"dataset {name} is given twice")
                self.datasets[name] = ds
                examples = ds.split(split)[:limit]
                if "extract" in tasks:
                    self.domains[f"{name}/extract"] = domain
                    self.metrics[f"{name}/extract"] = "extraction accuracy, mean of " + ", ".join(self.fields)
                if "retrieve" in tasks and any(title(ex) or ex.text for ex in examples):
                    self.domains[f"{name}/retrieve"] = domain
                    self.metrics[f"{name}/retrieve"] = "text→image R@10 (hybrid, product level)"
        if not any(d == "in" for d in self.domains.values()):
            raise OptionsError("no in-domain task: the in-domain datasets need labels or captions")

    def tasks_of(self, domain: str) -> list[str]:
        return [task for task, d in self.domains.items() if d == domain]

    def __call__(self, model_dir: Path) -> dict[str, float | None]:
        from vestis.models.lite_runtime import release_runtime

        scores: dict[str, float | None] = {}
        try:
            for task in self.domains:
                name, kind = task.rsplit("/", 1)
                ds = self.datasets[name]
                scores[task] = (
                    self._extract(ds, model_dir) if kind == "extract" else self._retrieve(ds, model_dir)
                )
        finally:
            release_runtime(model_dir)  # blends are temporary: keep no model of a deleted directory
        return scores

    def _extract(self, ds: Dataset, model_dir: Path) -> float | None:
        from vestis.eval.extract import ExtractEvaluator
        from vestis.extract.base import load_extractor

        extractor = load_extractor("lite", self.schema, model=str(model_dir), **self.options)
        evaluator = ExtractEvaluator(ds, self.split, self.limit, train_split=None, progress=False)
        metrics = evaluator(extractor)
        values = [metrics.get(f"extract/{f}/accuracy") for f in self.fields]
        present = [v for v in values if v is not None]
        return sum(present) / len(present) if present else None

    def _retrieve(self, ds: Dataset, model_dir: Path) -> float | None:
        from vestis.catalog.catalog import CatalogConfig
        from vestis.eval.retrieve import RetrieveEvaluator

        options = {"model": str(model_dir), **self.options}
        config = CatalogConfig(
            schema=self.schema.name,
            extractor="lite",
            extractor_options=options,
            embedder="lite",
            embedder_options=options,
            index="exact",
        )
        metrics = RetrieveEvaluator(ds, self.split, self.limit, progress=False)(config)
        return next(
            (v for q in TEXT_QUERIES if (v := metrics.get(f"retrieve/{q}/hybrid/product/R@10")) is not None),
            None,
        )


def train_wiseft(
    cfg: WiseFTConfig,
    evaluate: Callable[[Path], Mapping[str, float | None]] | None = None,
    domains: Mapping[str, str] | None = None,
) -> Path:
    """Sweep, choose, write; returns ``out_dir/model``. ``evaluate`` and ``domains`` (task → "in" or
    "ood") replace the built-in tasks (tests; other evaluations)."""
    from vestis.progress import progress_bar

    start = time.perf_counter()
    base, tuned = open_pair(cfg.base, cfg.tuned)  # bad paths and mismatched models fail before any work
    if evaluate is None:
        if tuned.kind != LiteCheckpoint.kind:
            raise OptionsError(
                f"the built-in tasks evaluate vestis-lite models, not {tuned.kind} checkpoints; sweep those "
                "from Python: vestis.train.wiseft.sweep(base, tuned, alphas, evaluate)"
            )
        tasks = LiteTasks(
            cfg.in_domain,
            cfg.out_of_domain,
            cfg.tasks,
            cfg.fields,
            cfg.schema,
            cfg.split,
            cfg.limit,
            cfg.runtime,
            cfg.threads,
        )
        evaluate, domains, metrics = tasks, tasks.domains, tasks.metrics
    elif domains is None:
        raise OptionsError("a custom evaluate needs domains: task → 'in' or 'ood'")
    else:
        metrics = {}
    alphas = sorted({0.0, *map(float, cfg.alphas)})
    if 0.0 not in cfg.alphas:
        log.info("α = 0 added: the rule compares every blend with the base model")
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    check_replaceable(out / "model")  # refused now, not after the sweep
    out.mkdir(parents=True, exist_ok=True)
    with progress_bar() as bar:
        task_id = bar.add_task("wiseft: α sweep", total=len(alphas))

        def scored(path: Path) -> Mapping[str, float | None]:
            result = evaluate(path)
            bar.advance(task_id)
            return result

        rows = sweep(
            base, tuned, alphas, scored, out / "blends" if cfg.keep_blends else None, cfg.extrapolate
        )
    in_tasks = [t for t, d in domains.items() if d == "in"]
    ood_tasks = [t for t, d in domains.items() if d == "ood"]
    choice = choose_alpha(rows, in_tasks, ood_tasks, cfg.ood_tolerance)
    if choice["warning"]:
        log.warning(choice["warning"])
    chosen_row = next(r for r in rows if r["alpha"] == choice["alpha"])
    model_dir = blend(
        base, tuned, choice["alpha"], out / "model", cfg.extrapolate, metrics=chosen_row["scores"]
    )
    report = {
        **provenance(base, tuned, choice["alpha"]),
        "tasks": {t: {"domain": d, "metric": metrics.get(t)} for t, d in domains.items()},
        "rows": rows,
        "chosen": choice,
        "model": str(model_dir),
        "seconds": round(time.perf_counter() - start, 1),
        "config": cfg.to_dict(),
    }
    (out / REPORT).write_text(json.dumps(report, indent=1, ensure_ascii=False))
    try:
        plot_curve(report, out / PLOT)
    except ImportError as exc:  # matplotlib is in the report extra
        log.warning("no %s: %s", PLOT, exc)
    return model_dir


def plot_curve(report: Mapping[str, Any], path: Path) -> Path:
    """One line per task over α (in-domain solid, out-of-domain dashed), the chosen α marked."""
    from vestis.errors import require

    matplotlib = require("matplotlib", "report", "the α curve")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(report["rows"], key=lambda r: r["alpha"])
    alphas = [r["alpha"] for r in rows]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for task, info in report["tasks"].items():
        values = [r["scores"].get(task) for r in rows]
        ys = [float("nan") if v is None else v for v in values]
        style = "-" if info["domain"] == "in" else "--"
        ax.plot(alphas, ys, style, marker="o", markersize=3, label=f"{task} ({info['domain']})")
    chosen = report["chosen"]["alpha"]
    ax.axvline(chosen, color="k", linestyle=":", linewidth=1)
    ax.annotate(
        f"chosen α = {chosen:g}",
        (chosen, 0.02),
        xycoords=("data", "axes fraction"),
        xytext=(4, 0),
        textcoords="offset points",
        fontsize=8,
    )
    ax.set_xlabel("α (0 = base, 1 = fine-tuned)")
    ax.set_ylabel("score")
    ax.set_title("WiseFT: scores along the interpolation")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report_table(report: Mapping[str, Any]) -> Table:
    """The sweep as a rich table: a row per task (then the in-domain mean and whether every
    out-of-domain task stays within the tolerance), a column per α, the chosen one marked."""
    from rich.table import Table

    tasks = report["tasks"]
    in_tasks = [t for t, i in tasks.items() if i["domain"] == "in"]
    rows = sorted(report["rows"], key=lambda r: r["alpha"])
    chosen, qualified = report["chosen"]["alpha"], set(report["chosen"]["qualified"])
    table = Table(title=f"WiseFT sweep: chosen α = {chosen:g}")
    table.add_column("task")
    table.add_column("domain")
    for row in rows:
        mark = row["alpha"] == chosen
        table.add_column(
            f"α={row['alpha']:g}" + (" ✓" if mark else ""),
            justify="right",
            style="bold green" if mark else None,
        )
    for i, (task, info) in enumerate(tasks.items()):
        cells = [_cell(r["scores"].get(task)) for r in rows]
        table.add_row(task, info["domain"], *cells, end_section=i == len(tasks) - 1)
    means = []
    for row in rows:
        present = [row["scores"][t] for t in in_tasks if row["scores"].get(t) is not None]
        means.append(_cell(sum(present) / len(present) if present else None))
    table.add_row("in-domain mean", "in", *means)
    table.add_row("OOD within tolerance", "ood", *["yes" if r["alpha"] in qualified else "no" for r in rows])
    return table


def summary(cfg: WiseFTConfig) -> Table:
    """What ``vestis train wiseft`` prints when done: the table of ``out_dir/report.json``."""
    return report_table(json.loads((Path(cfg.out_dir) / REPORT).read_text()))


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


__all__ = ["LiteTasks", "plot_curve", "report_table", "summary", "train_wiseft"]
