from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from tests.helpers import draw_item
from vestis.data import Dataset, Example
from vestis.data.text import relative_caption
from vestis.embed import load_embedder
from vestis.schema import load_schema

SCHEMA = load_schema("vestis")
REF = {
    "colour": "red",
    "pattern": "solid",
    "sleeve_length": "short",
    "neckline": "round",
    "material": "jersey",
}


class Variants(Dataset):
    """Products (a type) each photographed in three colours: group = product; sleeves vary by product."""

    kind = "variants"

    def _load(self):
        out = []
        for p in range(8):
            category, type_ = [("top", "t_shirt"), ("bottom", "trousers")][p % 2]
            for colour in ("red", "navy", "yellow"):
                path = draw_item(self.root / f"p{p}-{colour}.jpg", colour, category, size=64 + 4 * p)
                labels = {
                    "category": category,
                    "type": type_,
                    "colour": colour,
                    "pattern": "solid",
                    "sleeve_length": ["short", "long"][p // 2 % 2],
                }
                out.append(Example(f"p{p}-{colour}", str(path), labels, group=f"p{p}"))
        return out


@pytest.mark.parametrize(
    ("changes", "seed", "expected", "words"),
    [
        ({"colour": "navy"}, 0, "the same but navy, not red", ["navy", "red"]),
        (
            {"sleeve_length": "long", "pattern": "striped"},
            3,
            "replace short sleeves and plain with long sleeves and a striped pattern",
            ["long sleeves", "striped", "short sleeves", "plain"],
        ),
        (
            {"sleeve_length": "sleeveless", "neckline": "v_neck", "material": "denim"},
            0,
            "with no sleeves, denim and a v neck instead of short sleeves, jersey and a round neckline",
            ["no sleeves", "denim", "v neck", "short sleeves", "jersey", "round neckline"],
        ),
    ],
)
def test_relative_caption_names_each_change_and_what_it_replaces(changes, seed, expected, words):
    caption = relative_caption(REF, {**REF, **changes}, SCHEMA, random.Random(seed))
    assert caption == expected
    assert all(w in caption for w in words)


def test_relative_caption_varies_its_wording_and_refuses_too_many_or_no_changes():
    target = {**REF, "colour": "navy"}
    assert len({relative_caption(REF, target, SCHEMA, random.Random(s)) for s in range(20)}) >= 4
    assert relative_caption(REF, dict(REF), SCHEMA, random.Random(0)) is None
    four = {**REF, "colour": "navy", "pattern": "striped", "sleeve_length": "long", "material": "denim"}
    assert relative_caption(REF, four, SCHEMA, random.Random(0)) is None
    assert relative_caption(REF, four, SCHEMA, random.Random(0), max_differences=4) is not None
    # an attribute only one item labels is not a difference
    assert (
        relative_caption({"colour": "red"}, {"colour": "red", "fit": "slim"}, SCHEMA, random.Random(0))
        is None
    )


def test_neighbour_pairs_are_nearest_same_type_items_of_other_groups():
    from vestis.train.composer_triplets import neighbour_pairs

    types = ["t_shirt", "t_shirt", "t_shirt", "t_shirt", "trousers", "trousers"]
    groups = ["a", "a", "b", "c", "d", "e"]
    pairs_in = enumerate(zip(types, groups, strict=True))
    exs = [Example(str(i), "x.jpg", {"type": t}, group=g) for i, (t, g) in pairs_in]
    # item 0 is closest to 1 (its own product), then 2, then 4 (another type), then 3
    angles = torch.tensor([0.0, 0.1, 0.3, 1.2, 0.2, 2.0])
    emb = torch.stack([angles.cos(), angles.sin()], dim=1)
    pairs = neighbour_pairs(emb, exs, k=1)
    assert (0, 2) in pairs and (0, 1) not in pairs and (0, 4) not in pairs
    assert (4, 5) in pairs and (5, 4) in pairs
    assert all(exs[a].labels["type"] == exs[b].labels["type"] and groups[a] != groups[b] for a, b in pairs)
    assert len(neighbour_pairs(emb, exs, k=2)) > len(pairs)


def test_mine_triplets_variants_edits_and_paraphrases():
    from vestis.train.composer_triplets import mine_triplets

    exs = [
        Example(f"{g}{c}", "x.jpg", {"type": "t_shirt", "colour": c, "sleeve_length": s}, group=g)
        for g, s in (("a", "short"), ("b", "long"))
        for c in ("red", "navy")
    ]
    emb = torch.nn.functional.normalize(torch.randn(4, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    trips = mine_triplets(
        exs, SCHEMA, 10, random.Random(0), emb, neighbours=2, paraphrase=lambda t: [t.upper()]
    )
    variants = [t for t in trips if t[3] == "variant"]
    edits = [t for t in trips if t[3] == "edit"]
    assert len(variants) == 4  # two products × two ordered pairs
    assert {t for _, t, _, _ in variants} == {"in red", "in navy"}
    assert len(edits) == 8 and all(exs[a].group != exs[b].group for a, _, b, _ in edits)
    assert [t for _, t, _, k in trips if k == "paraphrase"] == [t.upper() for _, t, _, _ in edits]
    assert len([t for t in mine_triplets(exs, SCHEMA, 3, random.Random(0), emb) if t[3] == "edit"]) == 3


def config(out_dir: Path, **overrides):
    from vestis.train.composer_config import ComposerTrainConfig

    settings = dict(
        epochs=3,
        stage2_epochs=2,
        batch_size=16,
        max_edits=50,
        val_fraction=0.3,
        neighbours=3,
        out_dir=str(out_dir),
    )
    return ComposerTrainConfig(**(settings | overrides))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return Variants(tmp_path_factory.mktemp("variants"))


@pytest.fixture(scope="module")
def embedder(tiny_lite):
    return load_embedder("lite", model=str(tiny_lite), runtime="torch")  # one path: runs compare exactly


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data, embedder):
    from vestis.train.composer_trainer import train_composer

    cfg = config(tmp_path_factory.mktemp("composer") / "a")
    return cfg, train_composer(cfg, datasets=[data], embedder=embedder)


def test_two_stages_train_report_and_train_the_text_towers_upper_layers(trained):
    from vestis.models.composer import Composer
    from vestis.models.composer_runtime import beats_sum
    from vestis.models.text_tower import text_encoder_state

    cfg, path = trained
    report = json.loads((Path(cfg.out_dir) / "composer_report.json").read_text())
    stage1 = [h["loss"] for h in report["history"] if h["stage"] == 1]
    assert len(stage1) == 3 and stage1[-1] < stage1[0]
    assert [h["stage"] for h in report["history"]].count(2) == 2
    assert report["triplet_kinds"]["edit"] > 0 and report["triplet_kinds"]["variant"] > 0
    for modes in report["val"].values():
        assert set(modes) == {"composer", "stage1", "stage2", "image", "text", "sum"}
        assert set(modes["stage2"]) >= {"R@1", "R@10", "MRR"}
        assert modes["composer"] == modes["stage1"] and report["selected"] == "stage1"
    assert report["shippable"] == beats_sum(report["val"])
    assert report["val_edits"] and all(
        set(m) == set(next(iter(report["val"].values()))) for m in report["val_edits"].values()
    )
    assert not (path / "text_encoder").exists()  # served: the model's own MiniLM embeds the text
    assert (path.parent / "composer-stage2" / "text_encoder").is_dir()
    assert report["stage2_better"] == (
        sum(m["stage2"]["R@10"] + m["stage2"]["R@1"] for m in report["val"].values())
        > sum(m["stage1"]["R@10"] + m["stage1"]["R@1"] for m in report["val"].values())
    )
    # stage 2 moved MiniLM's upper layers and left the frozen lower ones and the embeddings alone
    tuned = torch.load(Path(cfg.out_dir) / "checkpoint.pt", weights_only=False)["text"]
    base = text_encoder_state()
    prefix = "encoder.0.model."  # the sentence-transformers module holding the BERT
    upper = [k for k in base if k.startswith("encoder.layer.5.")]
    lower = [k for k in base if k.startswith(("encoder.layer.0.", "embeddings."))]
    assert upper and lower
    assert any(not torch.equal(tuned[prefix + k], base[k].float()) for k in upper)
    assert all(torch.equal(tuned[prefix + k], base[k].float()) for k in lower)
    a, b = Composer.load(path), Composer.load(path)
    x, t = (torch.nn.functional.normalize(torch.randn(2, 256), dim=-1) for _ in range(2))
    assert torch.equal(a(x, t), b(x, t))


@pytest.mark.parametrize("kill_at", [1, 4])  # in stage 1; at the start of stage 2
def test_resume_after_a_kill_matches_an_uninterrupted_run(trained, data, embedder, kill_at, monkeypatch):
    from safetensors.torch import load_file

    import vestis.train.composer_trainer as trainer

    cfg, path = trained
    other = config(Path(cfg.out_dir).parent / f"kill{kill_at}")
    real, saves = trainer.save_checkpoint, []

    def save_then_die(ckpt_path, state):
        real(ckpt_path, state)
        saves.append(state["stage"])
        if len(saves) == kill_at:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_composer(other, datasets=[data], embedder=embedder)
    monkeypatch.setattr(trainer, "save_checkpoint", real)
    resumed = trainer.train_composer(other, datasets=[data], embedder=embedder)
    a, b = load_file(str(path / "composer.safetensors")), load_file(str(resumed / "composer.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    reports = [json.loads((Path(c.out_dir) / "composer_report.json").read_text()) for c in (cfg, other)]
    assert reports[0]["val"] == reports[1]["val"]
    with pytest.raises(ValueError, match="another config"):
        trainer.train_composer(config(Path(other.out_dir), lr=1e-2), datasets=[data], embedder=embedder)
    if kill_at == 4:  # a longer stage 2 goes on from the finished run's checkpoint
        trainer.train_composer(
            config(Path(other.out_dir), stage2_epochs=3), datasets=[data], embedder=embedder
        )
        history = json.loads((Path(other.out_dir) / "composer_report.json").read_text())["history"]
        assert [h["stage"] for h in history].count(2) == 3
