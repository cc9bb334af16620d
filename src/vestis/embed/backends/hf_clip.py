"""``hf-clip``: any CLIP or SigLIP checkpoint through transformers, by hub id or local directory.

For users who have one: FashionCLIP (``patrickjohncyh/fashion-clip``), Marqo-FashionSigLIP,
OpenAI CLIP, Google SigLIP/SigLIP 2 and fine-tunes of them. vestis downloads nothing itself:
a hub id resolves from the local Hugging Face cache (or downloads where the network allows);
otherwise pass a directory. Images are preprocessed with PIL and numpy from the checkpoint's
``preprocessor_config.json`` (resize, centre crop, mean/std), so no torchvision is needed.

>>> e = load_embedder("hf-clip", model="patrickjohncyh/fashion-clip")  # doctest: +SKIP
>>> e.embed_texts("a red floral dress").shape  # doctest: +SKIP
(1, 512)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vestis.embed.base import EMBEDDERS, Embedder, unit_rows
from vestis.errors import OptionsError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_RESAMPLE = {0: Image.NEAREST, 1: Image.LANCZOS, 2: Image.BILINEAR, 3: Image.BICUBIC}


@EMBEDDERS.register("hf-clip")
class HFClipEmbedder(Embedder):
    """A transformers CLIP/SigLIP checkpoint (hub id or directory): FashionCLIP, Marqo-FashionSigLIP, …"""

    name = "hf-clip"

    def __init__(
        self,
        model: str | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        dtype: str = "float32",
        text_bank: str | None = None,
    ) -> None:
        if not model:
            raise OptionsError(
                "the hf-clip embedder needs a model: a hub id such as patrickjohncyh/fashion-clip or "
                "Marqo/marqo-fashionSigLIP, or a local checkpoint directory (--embedder-model)"
            )
        if batch_size < 1:
            raise OptionsError("batch_size must be at least 1")
        import torch
        from transformers import AutoModel, AutoTokenizer

        from vestis.models.registry import resolve_hub

        if dtype not in ("float32", "float16", "bfloat16"):
            raise OptionsError(f"dtype must be float32, float16 or bfloat16, not {dtype!r}")
        self.path = Path(resolve_hub(model))
        self.source = model
        self.device = device
        self.batch_size = batch_size
        self.model = AutoModel.from_pretrained(str(self.path), dtype=getattr(torch, dtype)).to(device).eval()
        if not hasattr(self.model, "get_image_features") or not hasattr(self.model, "get_text_features"):
            raise OptionsError(
                f"{model} is a {type(self.model).__name__}, not a CLIP/SigLIP-style dual encoder"
            )
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        self.preprocess = ImagePreprocess.from_checkpoint(self.path, self.model.config)
        self.siglip = "siglip" in str(getattr(self.model.config, "model_type", ""))
        text_cfg = getattr(self.model.config, "text_config", None)
        limits = [getattr(text_cfg, "max_position_embeddings", None), self.tokenizer.model_max_length]
        self.max_length = min(x for x in limits if isinstance(x, int) and x > 0)
        self._dim = int(self._embed_texts(["a"]).shape[1])
        self._model_id: str | None = None
        if text_bank:  # a bank built for this checkpoint by vestis train text-bank
            from vestis.embed.text_bank import TextBank

            self.use_text_bank(TextBank.load(text_bank))

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model_id(self) -> str:
        if self._model_id is None:
            self._model_id = f"hf-clip:{self.source}@{fingerprint(self.path)}"
        return self._model_id

    def _embed_images(self, images: list[Image.Image]) -> np.ndarray:
        import torch

        pixels = torch.from_numpy(self.preprocess(images)).to(self.device, self.model.dtype)
        with torch.inference_mode():
            out = self.model.get_image_features(pixel_values=pixels)
        return unit_rows(_features(out))

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        batch = self.tokenizer(
            texts,
            padding="max_length" if self.siglip else True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        feed: dict[str, Any] = {"input_ids": batch["input_ids"].to(self.device)}
        if "attention_mask" in batch and not self.siglip:  # SigLIP was trained without a mask
            feed["attention_mask"] = batch["attention_mask"].to(self.device)
        with torch.inference_mode():
            out = self.model.get_text_features(**feed)
        return unit_rows(_features(out))


class ImagePreprocess:
    """Resize (shortest edge or fixed size), centre crop, rescale and normalise, as the checkpoint says."""

    def __init__(
        self,
        size: dict[str, int],
        crop: dict[str, int] | None,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        resample: int = 3,
    ) -> None:
        self.size, self.crop, self.resample = size, crop, _RESAMPLE.get(resample, Image.BICUBIC)
        self.mean = np.asarray(mean, dtype=np.float32)[:, None, None]
        self.std = np.asarray(std, dtype=np.float32)[:, None, None]

    @classmethod
    def from_checkpoint(cls, path: Path, config: Any) -> ImagePreprocess:
        vision = getattr(config, "vision_config", config)
        side = int(getattr(vision, "image_size", 224))
        data: dict[str, Any] = {}
        if (path / "preprocessor_config.json").is_file():
            data = json.loads((path / "preprocessor_config.json").read_text())
        size = data.get("size", {"height": side, "width": side})
        if isinstance(size, int):
            size = {"shortest_edge": size}
        crop = data.get("crop_size") if data.get("do_center_crop", "crop_size" in data) else None
        if isinstance(crop, int):
            crop = {"height": crop, "width": crop}
        return cls(
            size,
            crop,
            tuple(data.get("image_mean", CLIP_MEAN)),
            tuple(data.get("image_std", CLIP_STD)),
            int(data.get("resample", 3)),
        )

    def __call__(self, images: list[Image.Image]) -> np.ndarray:
        return np.stack([self._one(im) for im in images]).astype(np.float32)

    def _one(self, im: Image.Image) -> np.ndarray:
        im = im.convert("RGB")
        if "shortest_edge" in self.size:
            edge = self.size["shortest_edge"]
            scale = edge / min(im.size)
            im = im.resize(
                (max(edge, round(im.width * scale)), max(edge, round(im.height * scale))), self.resample
            )
        else:
            im = im.resize((self.size["width"], self.size["height"]), self.resample)
        if self.crop:
            w, h = self.crop["width"], self.crop["height"]
            left, top = (im.width - w) // 2, (im.height - h) // 2
            im = im.crop((left, top, left + w, top + h))
        x = np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return (x - self.mean) / self.std


def fingerprint(path: Path) -> str:
    """12 hex digits identifying a checkpoint's weights, cheap even for large files.

    The hub cache's snapshot folder is named by the commit; otherwise the config and each weight
    file's size, first and last MiB are hashed.
    """
    if path.parent.name == "snapshots":
        return path.name[:12]
    h = hashlib.sha256()
    for f in sorted(path.glob("*")):
        if f.name == "config.json" or f.suffix in (".safetensors", ".bin"):
            h.update(f.name.encode() + str(f.stat().st_size).encode())
            with f.open("rb") as fh:
                h.update(fh.read(1 << 20))
                fh.seek(max(0, f.stat().st_size - (1 << 20)))
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


def _features(out: Any) -> np.ndarray:
    tensor = out if hasattr(out, "float") else out.pooler_output  # transformers 4 → tensor, 5 → output
    return tensor.float().cpu().numpy()
