"""vestis-parser: a light segmentation head on frozen EfficientNet-Lite0 features.

Three scales of the backbone (1/8, 1/16, 1/32: after blocks 4, 10 and 15) each go through a
1×1 convolution to ``width`` channels, are upsampled to 1/8 and summed; two 3×3 convolutions
and a 1×1 classifier give per-pixel logits of ``classes`` (a label map's classes) at 1/8 of
the letterboxed input. Only the head is stored (``model.safetensors``); the backbone is the
installed ImageNet Lite0.

>>> model = ParserModel(ParserConfig(classes=["background", "skin", "top"]), pretrained=False)
>>> model(torch.zeros(1, 3, 64, 64)).shape
torch.Size([1, 3, 8, 8])
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vestis.models.backbones import EfficientNetLite0
from vestis.models.lite_config import sha256, verify_checksums
from vestis.models.registry import ModelError, ModelNotFound

TAPS = (4, 10, 15)  # blocks whose outputs feed the head: strides 8, 16, 32
TAP_CHANNELS = (40, 112, 320)


@dataclass
class ParserConfig:
    """Architecture and decision settings, stored as ``config.json``."""

    image_size: int = 320
    width: int = 64
    classes: list[str] = field(default_factory=list)  # logits, in order (the label map's classes)
    person_threshold: float = 0.02  # a photo shows a person when its person score is above this
    min_area: float = 0.002  # garment components below this share of the image are dropped
    label_map: str = "street"
    version: str = "2"
    # Calibrated at training time (vestis.parse.decisions): the share of the image a region of each
    # garment class must cover to count (classes absent: ``min_area``), and the logistic rule on
    # statistics of the predicted map whose probability is the person score (None: the score is
    # the share of skin + hair pixels, as in version 1).
    class_min_area: dict[str, float] = field(default_factory=dict)
    person_rule: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParserConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class ParserHead(nn.Module):
    """Multi-scale features → class logits at the finest tapped scale."""

    def __init__(self, config: ParserConfig) -> None:
        super().__init__()
        w = config.width
        self.lateral = nn.ModuleList(nn.Conv2d(c, w, 1) for c in TAP_CHANNELS)
        self.fuse = nn.Sequential(
            nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU()
        )
        self.classify = nn.Conv2d(w, len(config.classes), 1)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        size = feats[0].shape[-2:]
        x = self.lateral[0](feats[0])
        for conv, f in zip(self.lateral[1:], feats[1:], strict=True):
            x = x + F.interpolate(conv(f), size=size, mode="bilinear", align_corners=False)
        return self.classify(self.fuse(x))


class ParserModel(nn.Module):
    """Frozen Lite0 taps + :class:`ParserHead`: pixels in [-1, 1] → logits at 1/8 resolution."""

    def __init__(self, config: ParserConfig, pretrained: bool = True) -> None:
        super().__init__()
        self.config = config
        self.backbone = EfficientNetLite0(pretrained=pretrained).eval().requires_grad_(False)
        self.head = ParserHead(config)

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        return backbone_taps(self.backbone, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.taps(x))

    def save(self, directory: str | Path, card: str = "", metrics: dict[str, Any] | None = None) -> Path:
        """Write config.json, model.safetensors (the head), README.md, metrics.json, checksums.json."""
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(self.config), indent=1))
        save_file({k: v.contiguous() for k, v in self.head.state_dict().items()}, out / "model.safetensors")
        if card:
            (out / "README.md").write_text(card)
        if metrics is not None:
            (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
        names = ["config.json", "model.safetensors", "README.md", "metrics.json"]
        sums = {n: sha256(out / n) for n in names if (out / n).is_file()}
        (out / "checksums.json").write_text(json.dumps(sums, indent=1))
        return out

    @classmethod
    def load(cls, directory: str | Path, pretrained: bool = True) -> ParserModel:
        from safetensors.torch import load_file

        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise ModelNotFound(f"not a vestis-parser model directory (no config.json): {directory}")
        verify_checksums(directory)
        model = cls(ParserConfig.from_dict(json.loads((directory / "config.json").read_text())), pretrained)
        try:
            model.head.load_state_dict(load_file(directory / "model.safetensors"))
        except (RuntimeError, OSError) as exc:
            raise ModelError(f"{directory}: weights do not fit its config ({exc})") from None
        return model.eval()


def backbone_taps(backbone: EfficientNetLite0, x: torch.Tensor) -> list[torch.Tensor]:
    """Outputs of the blocks in :data:`TAPS` for pixels ``x`` in [-1, 1]."""
    out = []
    x = backbone.stem(x)
    for i, block in enumerate(backbone.blocks[: TAPS[-1] + 1]):
        x = block(x)
        if i in TAPS:
            out.append(x)
    return out


class _Taps(nn.Module):
    def __init__(self, backbone: EfficientNetLite0) -> None:
        super().__init__()
        self.net = backbone

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(backbone_taps(self.net, x))


def taps_runner(backbone: EfficientNetLite0, image_size: int):
    """A function pixels [N, 3, S, S] → the tapped features as numpy arrays: ONNX Runtime when
    installed (several times faster on CPU than torch), else torch. The export is cached."""
    try:
        import hashlib

        import onnxruntime as ort

        from vestis.cache import cache_dir

        weights = hashlib.sha1(backbone.stem[0].weight.detach().numpy().tobytes()).hexdigest()[:8]
        path = cache_dir("onnx") / f"lite0-taps-{weights}-{'-'.join(map(str, TAPS))}-{image_size}.onnx"
        if not path.is_file():
            tmp = path.with_suffix(".tmp")
            names = [f"tap{i}" for i in TAPS]
            torch.onnx.export(
                _Taps(backbone).eval(),
                (torch.zeros(1, 3, image_size, image_size),),
                str(tmp),
                input_names=["pixels"],
                output_names=names,
                opset_version=17,
                dynamo=False,
                dynamic_axes={"pixels": {0: "batch"}, **{n: {0: "batch"} for n in names}},
            )
            tmp.replace(path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return lambda pixels: session.run(None, {"pixels": pixels})
    except ImportError:

        def run(pixels):
            with torch.inference_mode():
                return [t.numpy() for t in backbone_taps(backbone, torch.from_numpy(pixels))]

        return run


def content_probs(logits: torch.Tensor, width: int, height: int, size: int) -> np.ndarray:
    """Class probabilities [C, h, w] over an image's letterboxed content from the head's logits
    [C, h', w'] of the ``size`` × ``size`` letterboxed input (upsampled, cropped, softmax)."""
    full = F.interpolate(logits[None], size=(size, size), mode="bilinear", align_corners=False)[0]
    x0, y0, nw, nh = content_box(width, height, size)
    return full[:, y0 : y0 + nh, x0 : x0 + nw].softmax(0).numpy()


def content_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    """Where :func:`vestis.models.preprocess.letterbox` puts an image: (x0, y0, new w, new h)."""
    scale = size / max(width, height)
    nw, nh = max(1, round(width * scale)), max(1, round(height * scale))
    return (size - nw) // 2, (size - nh) // 2, nw, nh
