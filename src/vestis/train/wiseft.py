"""WiseFT: weight-space interpolation between a base model and a fine-tune of it.

Fine-tuning gains in domain and tends to lose elsewhere; the weights on the straight line between
the two models, θ(α) = (1 − α)·θ_base + α·θ_tuned, usually keep most of the gain and most of the
robustness (Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022). This module
blends two checkpoints of one architecture (vestis-lite or transformers, see
:mod:`vestis.train.wiseft_checkpoints`), sweeps α with a caller's evaluation, and picks α by a
stated rule. ``vestis train wiseft`` (:mod:`vestis.train.wiseft_trainer`) runs it with built-in
tasks for vestis-lite.

>>> import torch
>>> base = {"w": torch.zeros(2), "steps": torch.tensor(1)}
>>> tuned = {"w": torch.ones(2), "steps": torch.tensor(7)}
>>> blended = interpolate(base, tuned, 0.25)
>>> blended["w"].tolist(), int(blended["steps"])  # integer buffers come from the fine-tuned model
([0.25, 0.25], 7)
>>> choose_alpha([{"alpha": 0.0, "scores": {"in": 0.5, "ood": 0.8}},
...               {"alpha": 0.5, "scores": {"in": 0.7, "ood": 0.79}},
...               {"alpha": 1.0, "scores": {"in": 0.8, "ood": 0.7}}], ["in"], ["ood"])["alpha"]
0.5
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vestis.errors import OptionsError
from vestis.models.registry import ModelError
from vestis.train.wiseft_checkpoints import PROVENANCE, Checkpoint, LiteCheckpoint, open_pair, provenance

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
TOLERANCE_SLACK = 1e-9  # scores within this of the tolerance line still qualify (float noise)
Evaluate = Callable[[Path], Mapping[str, float | None]]


# ---- the arithmetic -----------------------------------------------------------------------------
def interpolate(
    base_state: Mapping[str, torch.Tensor],
    tuned_state: Mapping[str, torch.Tensor],
    alpha: float,
    extrapolate: bool = False,
) -> dict[str, torch.Tensor]:
    """θ = (1 − α)·θ_base + α·θ_tuned for every floating tensor; other tensors (integer buffers such
    as BatchNorm's ``num_batches_tracked``) are the fine-tuned model's.

    Exact at the ends (α = 0 gives the base tensors, α = 1 the fine-tuned ones) for tensors of one
    dtype; the result has the fine-tuned model's dtype and is computed in at least float32. Both
    state dicts must hold the same names and shapes: the first tensor that differs is named.
    α outside [0, 1] is refused unless ``extrapolate``.
    """
    import torch

    alpha = check_alpha(alpha, extrapolate)
    if missing := [k for k in base_state if k not in tuned_state]:
        raise ModelError(
            f"tensor {missing[0]!r} is in the base model but not in the fine-tuned one"
            + (f" ({len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    if extra := [k for k in tuned_state if k not in base_state]:
        raise ModelError(
            f"tensor {extra[0]!r} is in the fine-tuned model but not in the base one"
            + (f" ({len(extra) - 1} more)" if len(extra) > 1 else "")
        )
    out: dict[str, torch.Tensor] = {}
    for name, a in base_state.items():
        b = tuned_state[name]
        if tuple(a.shape) != tuple(b.shape):
            raise ModelError(
                f"tensor {name!r} has shape {tuple(a.shape)} in the base model and {tuple(b.shape)} "
                "in the fine-tuned one: not the same architecture"
            )
        if a.is_floating_point() != b.is_floating_point():
            raise ModelError(
                f"tensor {name!r} is {a.dtype} in the base model and {b.dtype} in the fine-tuned one"
            )
        if not b.is_floating_point():
            out[name] = b.clone()
            continue
        wide = torch.promote_types(torch.promote_types(a.dtype, b.dtype), torch.float32)
        mixed = torch.lerp(a.to(wide), b.to(wide), alpha)  # exact at weight 0 and 1
        out[name] = mixed.to(b.dtype).contiguous()
    return out


def check_alpha(alpha: float, extrapolate: bool = False) -> float:
    """α as a float; refused when not finite, or outside [0, 1] without ``extrapolate``."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        raise OptionsError(f"alpha must be a finite number, not {alpha!r}")
    if not extrapolate and not 0 <= alpha <= 1:
        raise OptionsError(f"alpha must be in [0, 1], not {alpha}; pass extrapolate=True to go beyond")
    return float(alpha)


# ---- blends -------------------------------------------------------------------------------------
def blend(
    base: str | Path | Checkpoint,
    tuned: str | Path | Checkpoint,
    alpha: float,
    out_dir: str | Path,
    extrapolate: bool = False,
    metrics: Mapping[str, Any] | None = None,
    states: tuple[dict, dict] | None = None,
) -> Path:
    """Write the blend at ``alpha`` into ``out_dir`` and return it.

    The directory loads like its ends (``load_extractor("lite", schema, model=out_dir)``,
    ``AutoModel.from_pretrained(out_dir)``) and carries a model card naming both ends and α,
    ``wiseft.json`` (the same, as data), ``metrics.json`` when ``metrics`` are given, and for
    vestis-lite fresh checksums (so a fresh model id). An existing ``out_dir`` is replaced only if
    it is empty or an earlier blend. ``states`` passes (base, tuned) state dicts already loaded.

    >>> blend("vestis-lite", "runs/lite-worn/model", 0.5, "runs/wiseft-half")  # doctest: +SKIP
    """
    a, b = open_pair(base, tuned)
    alpha = check_alpha(alpha, extrapolate)
    base_state, tuned_state = states if states is not None else (a.state(), b.state())
    state = interpolate(base_state, tuned_state, alpha, extrapolate)
    out = Path(out_dir)
    check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        b.write_blend(a, state, alpha, tmp, model_card(a, b, alpha, metrics))
        (tmp / PROVENANCE).write_text(json.dumps(provenance(a, b, alpha), indent=1))
        if metrics is not None:
            (tmp / "metrics.json").write_text(json.dumps(dict(metrics), indent=1))
        if b.kind == LiteCheckpoint.kind:
            _write_checksums(tmp)
        _usual_modes(tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.replace(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


def check_replaceable(out: Path) -> None:
    """Refuse to write a blend over a file or a directory that is not empty and not a blend."""
    if out.is_file() or (out.is_dir() and any(out.iterdir()) and not (out / PROVENANCE).is_file()):
        raise OptionsError(f"{out} exists and is not an earlier WiseFT blend; choose another directory")


def model_card(
    base: Checkpoint, tuned: Checkpoint, alpha: float, metrics: Mapping[str, Any] | None = None
) -> str:
    """The README of a blend: what it is made of, how, and what comes from which end."""
    a_id, b_id = base.identity(), tuned.identity()
    nearer = "the fine-tuned model" if alpha >= 0.5 else "the base model"
    lines = [
        "---",
        f"library_name: {'vestis' if tuned.kind == LiteCheckpoint.kind else 'transformers'}",
        "tags: [fashion, wiseft, weight-interpolation]",
        "---",
        "",
        f"# WiseFT blend of {a_id} and {b_id} at α = {alpha:g}",
        "",
        f"Every floating tensor is θ = (1 − α)·θ_A + α·θ_B with α = {alpha:g} (integer buffers from B), "
        "made with `vestis train wiseft` (vestis.train.wiseft).",
        "",
        f"- A, the base model (α = 0): `{base.directory}` ({a_id})",
        f"- B, the fine-tuned model (α = 1): `{tuned.directory}` ({b_id})",
        "",
    ]
    if tuned.kind == LiteCheckpoint.kind:
        lines += [
            f"Calibration, gates and thresholds (`config.json`) and the composer come from {nearer}, "
            "the nearer end: they were measured on that model, not on this blend.",
            "",
        ]
    else:
        lines += ["Tokenizer and processor files come from B.", ""]
    if metrics:
        lines += ["## Evaluation at this α", "", "| task | score |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in metrics.items() if not isinstance(v, (dict, list))]
        lines.append("")
    return "\n".join(lines)


def _usual_modes(directory: Path) -> None:
    """The modes ``mkdir``/``open`` would give under the umask (``mkdtemp`` and safetensors make
    owner-only files), so a blend is as readable as the models it came from."""
    umask = os.umask(0)
    os.umask(umask)
    directory.chmod(0o777 & ~umask)
    for path in directory.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def _write_checksums(directory: Path) -> None:
    from vestis.models.lite_config import sha256

    sums = {
        p.relative_to(directory).as_posix(): sha256(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "checksums.json"
    }
    (directory / "checksums.json").write_text(json.dumps(sums, indent=1))


# ---- the sweep and the choice -------------------------------------------------------------------
def alpha_name(alpha: float) -> str:
    """The folder name of a blend: ``alpha-0.25``."""
    return f"alpha-{alpha:g}"


def sweep(
    base: str | Path,
    tuned: str | Path,
    alphas: Sequence[float],
    evaluate: Evaluate,
    out_dir: str | Path | None = None,
    extrapolate: bool = False,
) -> list[dict[str, Any]]:
    """Blend at each α, call ``evaluate(model_dir)`` (task → score, higher is better), return rows
    ``{"alpha", "scores", "seconds"}`` in the order of ``alphas``.

    Blends are written to ``out_dir/alpha-X`` and kept when ``out_dir`` is given, else to a
    temporary folder removed after evaluation. The two state dicts are read once.

    >>> rows = sweep("vestis-lite", "runs/lite-worn", [0, 0.5, 1], my_evaluate)  # doctest: +SKIP
    """
    alphas = [check_alpha(a, extrapolate) for a in alphas]
    if not alphas:
        raise OptionsError("alphas is empty: give at least one α")
    a, b = open_pair(base, tuned)
    states = (a.state(), b.state())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vestis-wiseft-") as tmp:
        root = Path(out_dir) if out_dir is not None else Path(tmp)
        for alpha in alphas:
            start = time.perf_counter()
            path = blend(a, b, alpha, root / alpha_name(alpha), extrapolate, states=states)
            scores = {str(k): _score(v) for k, v in evaluate(path).items()}
            rows.append({"alpha": alpha, "scores": scores, "seconds": round(time.perf_counter() - start, 2)})
            log.info("α = %g: %s", alpha, {k: _fmt(v) for k, v in scores.items()})
            if out_dir is None:
                shutil.rmtree(path)
    return rows


def choose_alpha(
    rows: Sequence[Mapping[str, Any]],
    in_domain: Sequence[str],
    out_of_domain: Sequence[str],
    ood_tolerance: float = 0.02,
) -> dict[str, Any]:
    """The α with the best mean in-domain score among those whose every out-of-domain score is at
    most ``ood_tolerance`` below the base model's (the α = 0 row); ties go to the smaller α.

    A score that is None (not measured) is left out of a mean; an out-of-domain task the base has no
    score for is not checked, and one the base has but a blend lacks disqualifies the blend. When
    no α > 0 qualifies, α = 0 (the base model) is chosen with a ``warning``. Returns ``alpha``,
    ``in_domain_mean``, ``qualified`` (every α that passed), ``warning`` (or None) and ``rule``.
    """
    if ood_tolerance < 0:
        raise OptionsError(f"ood_tolerance must be at least 0, not {ood_tolerance}")
    if not in_domain:
        raise OptionsError("choosing α needs at least one in-domain task")
    base = next((r for r in rows if r["alpha"] == 0), None)
    if base is None:
        raise OptionsError("the sweep has no α = 0 row: the rule compares every blend with the base model")
    rule = (
        f"best mean in-domain score ({', '.join(in_domain)}) among the α whose every out-of-domain task "
        f"({', '.join(out_of_domain) or 'none'}) is at most {ood_tolerance:g} below the base model's "
        "(α = 0); ties to the smaller α; α = 0 when no α > 0 qualifies"
    )

    def qualifies(row: Mapping[str, Any]) -> bool:
        for task in out_of_domain:
            floor = base["scores"].get(task)
            if floor is None:
                continue
            score = row["scores"].get(task)
            if score is None or score < floor - ood_tolerance - TOLERANCE_SLACK:
                return False
        return True

    qualified = sorted(r["alpha"] for r in rows if qualifies(r))
    means = {r["alpha"]: _mean([r["scores"].get(t) for t in in_domain]) for r in rows}
    candidates = [a for a in qualified if a != 0]
    warning = None
    if not candidates:
        chosen = 0.0
        warning = (
            f"no α > 0 keeps every out-of-domain task within {ood_tolerance:g} of the base model: "
            "the base model (α = 0) is chosen"
        )
    else:
        candidates.append(0.0)
        best = max(means[a] for a in candidates)
        chosen = min(a for a in candidates if means[a] >= best - TOLERANCE_SLACK)
    return {
        "alpha": chosen,
        "in_domain_mean": None if math.isinf(means[chosen]) else means[chosen],
        "qualified": qualified,
        "warning": warning,
        "rule": rule,
    }


def _mean(values: Sequence[float | None]) -> float:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else -math.inf


def _score(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OptionsError(f"an evaluation must return numbers (or None) per task, not {value!r}")
    return float(value)


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


__all__ = [
    "alpha_name",
    "blend",
    "check_alpha",
    "check_replaceable",
    "choose_alpha",
    "interpolate",
    "model_card",
    "sweep",
]
