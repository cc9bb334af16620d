"""Tiny random vision-language checkpoints (SmolVLM, Qwen2-VL, Florence-2, vestis-vlm-tiny) built in-process.

Each builder writes a directory that ``AutoProcessor`` and the model's auto class load like a hub
checkpoint: config, random weights, a byte-level BPE tokenizer trained here on a few sentences
(so any JSON string can be spelled), the family's special image tokens, a chat template where the
family has one, and a PIL image-processor config (no torchvision). Nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

from vestis.extract.backends.vlm_loading import without_video
from vestis.schema import list_schemas, load_schema

FAMILIES = ("idefics3", "qwen2_vl", "florence2", "vestis_vlm")

_QWEN_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_IDEFICS_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}"
    "{% if message['content'] is string %}: {{ message['content'] }}{% else %}:"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>"
    "{% else %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


def _corpus() -> list[str]:
    texts = ['{"a": null, "b": ["x", "y"], "c": "Levi 32/34"}', "Describe this garment."]
    for name in list_schemas():
        schema = load_schema(name)
        texts.append(schema.prompt())
        texts.append(json.dumps(schema.empty()))
        for f in schema.fields.values():  # keys and values become single tokens: short answers
            texts.extend(f'"{f.name}":"{v}",' for v in (f.values or ["Levi"]))
    return texts


def byte_bpe_tokenizer(special: list[str], vocab_size: int = 1024, **named: str):
    """A byte-level BPE tokenizer (every byte is a token, plus a few merges) with special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **named)


_SIZE = {"hidden": 32, "layers": 1}


def tiny_vlm(family: str, path: Path, hidden: int = 32, layers: int = 1) -> Path:
    """Write a tiny random ``family`` checkpoint to ``path`` and return it.

    ``hidden`` and ``layers`` size the language model (the benchmark uses a larger one).
    """
    import torch

    torch.manual_seed(0)
    path.mkdir(parents=True, exist_ok=True)
    _SIZE.update(hidden=hidden, layers=layers)
    try:
        builders = {"idefics3": _idefics3, "qwen2_vl": _qwen2_vl, "florence2": _florence2}
        builders["vestis_vlm"] = _vestis_vlm
        builders[family](path)
    finally:
        _SIZE.update(hidden=32, layers=1)
    return path


def _text(vocab: int, **extra) -> dict:
    return dict(
        vocab_size=vocab,
        hidden_size=_SIZE["hidden"],
        intermediate_size=2 * _SIZE["hidden"],
        num_hidden_layers=_SIZE["layers"],
        num_attention_heads=max(2, _SIZE["hidden"] // 16),
        num_key_value_heads=1,
        max_position_embeddings=2048,
        **extra,
    )


def _qwen2_vl(path: Path) -> None:
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessorPil,
        Qwen2VLProcessor,
    )

    special = [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ]
    tok = byte_bpe_tokenizer(special, pad_token="<|endoftext|>", eos_token="<|im_end|>")
    ids = {t: tok.convert_tokens_to_ids(t) for t in special}
    config = Qwen2VLConfig(
        text_config=_text(
            len(tok),
            rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
            bos_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=1,
            embed_dim=32,
            hidden_size=_SIZE["hidden"],
            num_heads=2,
            mlp_ratio=2,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            in_channels=3,
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    model = Qwen2VLForConditionalGeneration(config)
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": 28 * 28 * 4, "longest_edge": 28 * 28 * 16}
    )
    processor = without_video(Qwen2VLProcessor)(image_processor, tok, chat_template=_QWEN_TEMPLATE)
    model.save_pretrained(path)
    processor.save_pretrained(path)


def _idefics3(path: Path) -> None:
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
    )

    special = [
        "<|endoftext|>",
        "<|im_start|>",
        "<end_of_utterance>",
        "<fake_token_around_image>",
        "<image>",
        "<global-img>",
    ]
    tok = byte_bpe_tokenizer(
        special, pad_token="<|endoftext|>", eos_token="<end_of_utterance>", bos_token="<|im_start|>"
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in special}
    image_size, patch, scale = 32, 8, 2
    config = Idefics3Config(
        text_config=_text(
            len(tok),
            eos_token_id=ids["<end_of_utterance>"],
            pad_token_id=ids["<|endoftext|>"],
            bos_token_id=ids["<|im_start|>"],
            model_type="llama",
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch,
        ),
        scale_factor=scale,
        image_token_id=ids["<image>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    model = Idefics3ForConditionalGeneration(config)
    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": 2 * image_size},
        max_image_size={"longest_edge": image_size},
        do_image_splitting=True,
    )
    seq = (image_size // patch) ** 2 // scale**2
    processor = Idefics3Processor(image_processor, tok, image_seq_len=seq, chat_template=_IDEFICS_TEMPLATE)
    model.generation_config.eos_token_id = ids["<end_of_utterance>"]
    model.save_pretrained(path)
    processor.save_pretrained(path)


def _florence2(path: Path) -> None:
    from transformers import (
        CLIPImageProcessorPil,
        Florence2Config,
        Florence2ForConditionalGeneration,
        Florence2Processor,
    )

    special = ["<s>", "<pad>", "</s>", "<unk>", "<image>"]
    tok = byte_bpe_tokenizer(
        special,
        bos_token="<s>",
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        extra_special_tokens={"image_token": "<image>"},
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in special}
    d = 32
    config = Florence2Config(
        text_config=dict(
            vocab_size=len(tok),
            d_model=d,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            max_position_embeddings=1024,
            bos_token_id=ids["<s>"],
            pad_token_id=ids["<pad>"],
            eos_token_id=ids["</s>"],
            decoder_start_token_id=ids["</s>"],
            forced_eos_token_id=None,
        ),
        vision_config=dict(
            depths=[1, 1],
            patch_size=[7, 3],
            patch_stride=[4, 2],
            patch_padding=[3, 1],
            patch_prenorm=[False, True],
            embed_dim=[16, d],
            num_heads=[1, 2],
            num_groups=[1, 2],
            window_size=2,
            projection_dim=d,
            max_position_embeddings=16,
            drop_path_rate=0.0,
        ),
        image_token_id=ids["<image>"],
    )
    model = Florence2ForConditionalGeneration(config)
    size = 64
    tokens = (size // 8) ** 2 + 1
    image_processor = CLIPImageProcessorPil(
        size={"height": size, "width": size},
        do_center_crop=False,
        image_seq_length=tokens,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    processor = Florence2Processor(image_processor, tok)
    model.save_pretrained(path)
    processor.save_pretrained(path)


def tiny_vestis_vlm(image_size: int = 64):
    """A random vestis-vlm-tiny (real EfficientNet-Lite0 tower at ``image_size``, tiny Llama) + processor.

    Its config names a stand-in language-model package, so it can be saved compact (the tests
    put the stand-in where the real SmolLM2 would come from).
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig

    from vestis.models.vlm_tiny import VestisVLMConfig, VestisVLMForConditionalGeneration
    from vestis.models.vlm_tiny_processing import VestisVLMImageProcessor, VestisVLMProcessor

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"]
    tok = byte_bpe_tokenizer(
        special,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in special}
    text = LlamaConfig(
        **_text(len(tok)),
        tie_word_embeddings=True,
        bos_token_id=ids["<|im_start|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|im_end|>"],
    )
    config = VestisVLMConfig(
        text_config=text,
        image_size=image_size,
        image_token_id=ids["<image>"],
        language_model_source={"package": "tiny-lm", "file": "tiny.gguf", "sha256": "0" * 64},
    )
    torch.manual_seed(0)
    model = VestisVLMForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<|im_start|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|im_end|>"],
        suppress_tokens=[ids["<image>"]],
    )
    processor = VestisVLMProcessor(
        VestisVLMImageProcessor(image_size=image_size), tok, image_seq_length=config.image_seq_length
    )
    return model, processor


def _vestis_vlm(path: Path) -> None:
    model, processor = tiny_vestis_vlm()
    model.save_pretrained(path)
    processor.save_pretrained(path)
