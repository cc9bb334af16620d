"""The shipped composer at query time: its forward pass in numpy, so a composed query needs no torch.

:class:`vestis.models.composer.Composer` (torch) trains and saves it; :class:`ComposerArrays`
reads the same ``composer.safetensors`` and computes the same output (dropout is off at inference).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


class ComposerArrays:
    """(reference image vector, modification text vector) → unit target vector, like ``Composer.forward``."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.w = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}

    @classmethod
    def load(cls, directory: str | Path) -> ComposerArrays:
        from safetensors.numpy import load_file

        return cls(load_file(str(Path(directory) / "composer.safetensors")))

    def _mlp(self, name: str, x: np.ndarray) -> np.ndarray:
        w = self.w
        h = np.maximum(x @ w[f"{name}.0.weight"].T + w[f"{name}.0.bias"], 0.0)
        return h @ w[f"{name}.3.weight"].T + w[f"{name}.3.bias"]

    def __call__(self, image: np.ndarray, text: np.ndarray) -> np.ndarray:
        image = np.asarray(image, dtype=np.float32)
        text = np.asarray(text, dtype=np.float32)
        x = np.concatenate([image, text], axis=-1)
        gate = 1.0 / (1.0 + np.exp(-self._mlp("gate", x)))
        out = gate * image + (1 - gate) * text + self._mlp("residual", x)
        norm = np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)
        return (out / norm).astype(np.float32)


def validation_score(val: dict, mode: str) -> float:
    """R@1 + R@10 of ``mode``, summed over datasets (``val``: dataset → mode → metrics, as the
    composer trainer reports them): how composers and baselines are compared."""
    return sum(m.get(mode, {}).get("R@1", 0) + m.get(mode, {}).get("R@10", 0) for m in val.values())


def beats_sum(val: dict) -> bool:
    """True when the composer's :func:`validation_score` beats the sum baseline's."""
    return validation_score(val, "composer") > validation_score(val, "sum")


def composer_beats_sum(report_path) -> bool:
    """:func:`beats_sum` on a composer's ``composer_report.json``.

    No report means no evidence either way: the composer is used.
    """
    path = Path(report_path)
    if not path.is_file():
        return True
    return beats_sum(json.loads(path.read_text()).get("val", {}))
