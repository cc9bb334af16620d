"""Generated fixtures shared by tests: tiny labelled garment-like images."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from vestis.data import Dataset, Example

COLOURS = {
    "red": (200, 30, 30),
    "navy": (20, 30, 90),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "green": (30, 150, 60),
    "yellow": (230, 200, 40),
}
SHAPES = {"top": "T", "bottom": "II", "footwear": "shoe"}


def draw_item(path: Path, colour: str, category: str, size: int = 96, background=(250, 250, 250)) -> Path:
    img = Image.new("RGB", (size, int(size * 1.3)), background)
    d = ImageDraw.Draw(img)
    c = COLOURS[colour]
    w, h = img.size
    if category == "top":
        d.polygon(
            [
                (w * 0.2, h * 0.2),
                (w * 0.8, h * 0.2),
                (w * 0.95, h * 0.4),
                (w * 0.75, h * 0.45),
                (w * 0.75, h * 0.85),
                (w * 0.25, h * 0.85),
                (w * 0.25, h * 0.45),
                (w * 0.05, h * 0.4),
            ],
            fill=c,
        )
    elif category == "bottom":
        d.rectangle([w * 0.3, h * 0.1, w * 0.48, h * 0.9], fill=c)
        d.rectangle([w * 0.52, h * 0.1, w * 0.7, h * 0.9], fill=c)
        d.rectangle([w * 0.3, h * 0.1, w * 0.7, h * 0.3], fill=c)
    else:
        d.ellipse([w * 0.1, h * 0.55, w * 0.9, h * 0.8], fill=c)
        d.rectangle([w * 0.1, h * 0.4, w * 0.4, h * 0.7], fill=c)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=92)
    return path


def people_shop(folder: Path) -> Path:
    """Two photos of people (flat-colour figures the ``test-figure`` parser reads: top, bottom and
    shoes each at the boxes :func:`vestis.parse.backends.test_figure.figure` names) and two
    product shots, as lossless PNG files."""
    from vestis.parse.backends.test_figure import figure

    (folder / "people").mkdir(parents=True, exist_ok=True)
    figure(COLOURS["red"], COLOURS["navy"], COLOURS["black"]).save(folder / "people" / "red-navy.png")
    figure(COLOURS["green"], COLOURS["yellow"], COLOURS["white"]).save(folder / "people" / "green-yellow.png")
    draw_item(folder / "products" / "navy-top.png", "navy", "top")
    draw_item(folder / "products" / "red-shoe.png", "red", "footwear")
    return folder


def people_config(parser: str = "test-figure"):
    """A weightless catalog config (majority extractor, test-random embedder) with ``parser``."""
    from vestis.catalog.catalog import CatalogConfig

    return CatalogConfig(extractor="majority", embedder="test-random", index="exact", parser=parser)


class GeneratedDataset(Dataset):
    """category × colour grid of drawn items; group = colour so splits hold out whole colours per category."""

    kind = "generated"

    def __init__(self, root, n_per_cell: int = 2, schema=None) -> None:
        super().__init__(root, schema=schema)
        self.n_per_cell = n_per_cell

    def _load(self) -> list[Example]:
        out = []
        for cat in SHAPES:
            for colour in COLOURS:
                for k in range(self.n_per_cell):
                    ident = f"{cat}-{colour}-{k}"
                    path = draw_item(self.root / f"{ident}.jpg", colour, cat, size=80 + 8 * k)
                    out.append(
                        Example(
                            id=ident,
                            image=str(path),
                            labels={"category": cat, "colour": colour},
                            text=f"a {colour} {cat}",
                            group=ident,
                            source="generated",
                        )
                    )
        return out


TINY_HEADS = {
    "category": ["top", "bottom", "dress", "footwear", "swimwear"],
    "colour": ["black", "white", "red", "navy", "khaki", "gold"],
    "neckline": ["round", "v_neck"],
}


def tiny_lite_model(directory: Path) -> Path:
    """A randomly initialised vestis-lite (64 px, three heads) saved like a shipped model."""
    import torch

    from vestis.models.lite import LiteModelConfig, VestisLite

    torch.manual_seed(0)
    cfg = LiteModelConfig(
        image_size=64,
        split=14,
        heads=TINY_HEADS,
        caption_vocabulary=["casual", "formal", "elegant", "sporty", "dress", "party"],
    )
    return VestisLite(cfg).save(directory)


def tiny_dual_encoder(kind: str, path: Path) -> Path:
    """A tiny random CLIP or SigLIP checkpoint directory (config, weights, tokenizer, preprocessor).

    Built from transformers configs with an in-process word-level tokenizer: no download.
    """
    import json

    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPConfig, CLIPModel, PreTrainedTokenizerFast, SiglipConfig, SiglipModel

    words = [
        "a",
        "an",
        "the",
        "red",
        "blue",
        "navy",
        "black",
        "white",
        "dress",
        "shirt",
        "jeans",
        "shoes",
        "bag",
        "in",
        "with",
        "of",
        "but",
    ]
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[EOS]", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    max_len = 16
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        eos_token="[EOS]",
        model_max_length=max_len,
    )
    text = dict(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=max_len,
    )
    vision = dict(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
    )
    torch.manual_seed(0)
    if kind == "clip":
        text.update(eos_token_id=2, pad_token_id=0, bos_token_id=1)
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
        pre = {
            "size": {"shortest_edge": 32},
            "crop_size": {"height": 32, "width": 32},
            "do_center_crop": True,
        }
    else:
        model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
        pre = {"size": {"height": 32, "width": 32}, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    (path / "preprocessor_config.json").write_text(json.dumps({**pre, "resample": 3}))
    return path
