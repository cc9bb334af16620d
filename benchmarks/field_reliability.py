"""Per-field reliability of a vestis-lite model on the validation splits; optionally writes its gates.

    .venv/bin/python benchmarks/field_reliability.py                  # measure the shipped model
    .venv/bin/python benchmarks/field_reliability.py --write          # and record the gates in it

Runs the model once over the validation splits of ``--datasets`` (read from ``../shared/data``;
head logits cached under ``--cache``), calibrates with the model's own temperatures, and measures
each head with :mod:`vestis.train.lite_reliability`: accuracy against the majority guess, ECE and
confidence bins, per-value thresholds, and which heads have no reliable signal. ``--write`` puts
``disabled`` and ``value_thresholds`` into the model's ``config.json``
(with ``--temperatures``, per-head temperatures refitted on the same splits first, and written too:
for a model whose calibration was measured on another model, such as a WiseFT blend), the table into
``metrics.json`` (``reliability``) and refreshes ``checksums.json`` (the weights are untouched).
The summary goes to benchmarks/results/field_reliability.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import pickle
from pathlib import Path

import numpy as np

from vestis.data import open_dataset
from vestis.images import load_image
from vestis.models.lite_config import LiteModelConfig, sha256, update_checksums
from vestis.models.lite_runtime import lite_runtime
from vestis.models.registry import resolve_lite
from vestis.progress import progress_bar
from vestis.schema import load_schema
from vestis.train.lite_reliability import fit_reliability, fit_temperatures, truth_arrays
from vestis.train.lite_report import reliability_rows, reliability_section

HERE = Path(__file__).parent
log = logging.getLogger("field_reliability")


def head_logits(runtime, paths: list[str], batch: int = 64) -> dict[str, np.ndarray]:
    out: dict[str, list[np.ndarray]] = {}
    with progress_bar() as bar:
        task = bar.add_task("forward (validation)", total=len(paths))
        for start in range(0, len(paths), batch):
            _, logits = runtime.forward([load_image(p) for p in paths[start : start + batch]])
            for k, v in logits.items():
                out.setdefault(k, []).append(v)
            bar.advance(task, len(paths[start : start + batch]))
    return {k: np.concatenate(v) for k, v in out.items()}


def calibrated(config: LiteModelConfig, head: str, logits: np.ndarray) -> np.ndarray:
    z = logits / config.temperatures.get(head, 1.0)
    if head in config.multi:
        return 1.0 / (1.0 + np.exp(-z))
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def collect(model_dir: Path, datasets: list[str], cache: Path) -> dict:
    """Validation labels, sources, training label counts and head logits (cached per model + data)."""
    key = hashlib.sha1(f"{sha256(model_dir / 'model.safetensors')}:{','.join(datasets)}".encode())
    path = cache / f"reliability-{key.hexdigest()[:16]}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    schema = load_schema(LiteModelConfig.read(model_dir).schema)
    runtime = lite_runtime(model_dir, "auto", None)
    labels, sources, paths, train_counts = [], [], [], {}
    for name in datasets:
        ds = open_dataset(name, schema=schema)
        for ex in ds.split("train"):
            for f, v in ex.labels.items():
                train_counts[f] = train_counts.get(f, 0) + bool(v)
        val = ds.split("val")
        labels += [ex.labels for ex in val]
        sources += [name] * len(val)
        paths += [ex.image for ex in val]
    data = {
        "labels": labels,
        "sources": sources,
        "train": train_counts,
        "logits": head_logits(runtime, paths),
    }
    cache.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(data))
    return data


def write_gates(
    model_dir: Path, disabled: dict, gates: dict, table: dict, temperatures: dict | None = None
) -> None:
    """Record the gates (and refitted temperatures) in config.json, the table in metrics.json, and
    refresh checksums.json."""
    cfg_path, metrics_path = model_dir / "config.json", model_dir / "metrics.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["disabled"], cfg["value_thresholds"] = disabled, gates
    if temperatures is not None:
        cfg["temperatures"] = {**cfg.get("temperatures", {}), **temperatures}
    cfg_path.write_text(json.dumps(cfg, indent=1))
    metrics = json.loads(metrics_path.read_text())
    metrics["reliability"] = table
    metrics_path.write_text(json.dumps(metrics, indent=1))
    card = model_dir / "README.md"
    if card.is_file():
        text = card.read_text()
        head, sep, rest = text.partition("## Reliability on held-out data")
        if sep:  # replace the section written before
            rest = rest[rest.index("\n## ") + 1 :] if "\n## " in rest else ""
            text = head + rest
        section = "\n".join(reliability_section(table)) + "\n"
        text = text.replace("## Limits", section + "## Limits", 1) if "## Limits" in text else text + section
        card.write_text(text)
    update_checksums(model_dir)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model directory (default: the shipped vestis-lite)")
    ap.add_argument("--datasets", nargs="*", default=["hm", "mango", "clothing"])
    ap.add_argument("--cache", default="/tmp/vestis-reliability")
    ap.add_argument("--write", action="store_true", help="record the gates in the model directory")
    ap.add_argument(
        "--temperatures", action="store_true", help="refit the per-head temperatures on these splits first"
    )
    ap.add_argument("--out", default=str(HERE / "results" / "field_reliability.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model_dir = resolve_lite(args.model)
    config = LiteModelConfig.read(model_dir)
    data = collect(model_dir, args.datasets, Path(args.cache))
    truth = truth_arrays(data["labels"], data["sources"], config.heads, config.multi)
    temperatures = None
    if args.temperatures:
        temperatures = fit_temperatures(data["logits"], truth, config.multi)
        log.info("temperatures: %s", temperatures)
        config.temperatures = {**config.temperatures, **temperatures}
    probs = {h: calibrated(config, h, v) for h, v in data["logits"].items()}
    disabled, gates, table = fit_reliability(probs, truth, data["train"], config.heads, config.multi)
    for head, reason in disabled.items():
        log.info("disabled %s: %s", head, reason)
    print("\n".join(reliability_rows(table)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "datasets": args.datasets,
                "temperatures": config.temperatures,
                "disabled": disabled,
                "value_thresholds": gates,
                "fields": table,
            },
            indent=1,
        )
    )
    if args.write:
        write_gates(model_dir, disabled, gates, table, temperatures)
        log.info("wrote the gates into %s", model_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
