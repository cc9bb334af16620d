"""`vestis train contrastive` on a tiny random vestis-lite and drawn garments (CPU, seconds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import GeneratedDataset

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("sentence_transformers")


def config(root: Path, base: Path, **changes):
    from vestis.train.contrastive_config import ContrastiveTrainConfig

    return ContrastiveTrainConfig.from_dict(
        {
            "base": str(base),
            "datasets": ["generated"],
            "epochs": 3,
            "batch_size": 8,
            "lr": 3e-3,
            "image_lr": 1e-3,
            "text_lr": 2e-4,
            "text_frozen_layers": 2,
            "hard_negative_k": 3,
            "max_text_tokens": 16,
            "val_fraction": 0.3,
            "threads": 1,
            "out_dir": str(root / "run"),
            "cache_dir": str(root.parent / "cache"),
            **changes,
        }
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return GeneratedDataset(tmp_path_factory.mktemp("contrastive-images"), n_per_cell=2)


@pytest.fixture(scope="module")
def trained(tiny_lite, data, tmp_path_factory):
    from vestis.train.contrastive_trainer import train_contrastive

    cfg = config(tmp_path_factory.mktemp("contrastive") / "a", tiny_lite)
    return cfg, train_contrastive(cfg, datasets=[data])


def packaged_text_state() -> dict[str, torch.Tensor]:
    from vestis.models.text_tower import text_encoder_state

    return text_encoder_state()


def test_loss_falls_and_report_has_retrieval_before_and_after(trained):
    cfg, model_dir = trained
    report = json.loads((Path(cfg.out_dir) / "report.json").read_text())
    totals = [h["train_loss"]["total"] for h in report["history"]]
    assert len(totals) == cfg.epochs
    assert totals[-1] < totals[0]
    assert {"contrastive", "distill"} <= set(report["history"][0]["train_loss"])
    for side in ("before", "after"):
        assert {"R@1", "R@10", "MRR", "queries"} <= set(report[side])
        assert report[side]["queries"] > 0 and 0 < report[side]["MRR"] <= 1
    assert report["before"] != report["after"]
    assert "contrastive fine-tune" in (model_dir / "README.md").read_text()


def test_upper_blocks_train_and_keep_their_batchnorm_statistics(trained, tiny_lite, data, tmp_path):
    from safetensors.torch import load_file

    from vestis.train.contrastive_trainer import train_contrastive

    _, model_dir = trained
    base, tuned = (load_file(str(d / "model.safetensors")) for d in (tiny_lite, model_dir))
    weight, stats = "backbone.blocks.15._project_conv.weight", "backbone.blocks.15._bn2.running_mean"
    assert not torch.equal(base[weight], tuned[weight])
    assert torch.equal(base[stats], tuned[stats])
    cfg = config(tmp_path / "bn", tiny_lite, update_batchnorm=True, freeze_text=True, epochs=1)
    updated = load_file(str(train_contrastive(cfg, [data]) / "model.safetensors"))
    assert not torch.equal(base[stats], updated[stats])


def test_text_encoder_is_trained_above_the_frozen_layers_and_saved_in_fp16(trained):
    from safetensors.torch import load_file

    _, model_dir = trained
    saved = load_file(str(model_dir / "text_encoder" / "model.safetensors"))
    packaged = packaged_text_state()
    assert set(saved) == set(packaged) - {"embeddings.position_ids"}
    assert all(t.dtype == torch.float16 for t in saved.values())
    frozen = [k for k in saved if k.startswith(("embeddings.", "encoder.layer.0.", "encoder.layer.1."))]
    trained_keys = [k for k in saved if k.startswith("encoder.layer.5.") and k.endswith("weight")]
    assert frozen and trained_keys
    assert all(torch.equal(saved[k], packaged[k].half()) for k in frozen)
    assert all(not torch.equal(saved[k], packaged[k].half()) for k in trained_keys)
    sums = json.loads((model_dir / "checksums.json").read_text())
    assert "text_encoder/model.safetensors" in sums


def test_model_id_covers_the_text_encoder(trained, tmp_path):
    import shutil

    from vestis.models.registry import lite_model_id
    from vestis.models.text_tower import add_checksum, save_text_encoder

    _, model_dir = trained
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    save_text_encoder(packaged_text_state(), copy / "text_encoder")  # same model.safetensors
    add_checksum(copy)
    assert lite_model_id(copy) != lite_model_id(model_dir)
    unsummed = tmp_path / "unsummed"
    shutil.copytree(copy, unsummed)
    (unsummed / "checksums.json").unlink()
    assert lite_model_id(unsummed) == lite_model_id(copy)  # the files hashed when nothing is recorded


def test_frozen_text_tower_is_left_out_and_siglip_trains(tiny_lite, data, tmp_path):
    from safetensors.torch import load_file

    from vestis.train.contrastive_trainer import train_contrastive

    cfg = config(tmp_path / "frozen", tiny_lite, freeze_text=True, loss="siglip", epochs=2, lr=1e-2)
    model_dir = train_contrastive(cfg, datasets=[data])
    assert not (model_dir / "text_encoder").exists()  # the packaged MiniLM, unchanged
    report = json.loads((Path(cfg.out_dir) / "report.json").read_text())
    totals = [h["train_loss"]["total"] for h in report["history"]]
    assert totals[-1] < totals[0]
    base, tuned = (load_file(str(d / "model.safetensors")) for d in (tiny_lite, model_dir))
    assert not torch.equal(base["text_proj.weight"], tuned["text_proj.weight"])
    assert torch.equal(base["heads.f_colour.weight"], tuned["heads.f_colour.weight"])  # head_weight 0
    scalars = [h["loss_scalars"] for h in report["history"]]
    assert set(scalars[-1]) == {"scale", "bias"} and scalars[-1]["bias"] != -10.0  # it starts at -10, trained


def test_scale_lr_is_the_loss_scalars_own_learning_rate(tiny_lite, data, tmp_path):
    from safetensors.torch import load_file

    from vestis.train.contrastive_trainer import train_contrastive

    cfg = config(tmp_path / "scale", tiny_lite, freeze_text=True, epochs=1, scale_lr=0.0)
    tuned = load_file(str(train_contrastive(cfg, datasets=[data]) / "model.safetensors"))
    base = load_file(str(tiny_lite / "model.safetensors"))
    assert torch.equal(base["logit_scale"], tuned["logit_scale"])  # its rate is 0
    assert not torch.equal(base["text_proj.weight"], tuned["text_proj.weight"])  # the others' is lr


def test_frozen_image_tower_keeps_the_heads_outputs_and_head_weight_trains_the_heads(
    tiny_lite, data, tmp_path
):
    from safetensors.torch import load_file

    from vestis.train.contrastive_trainer import train_contrastive

    base = load_file(str(tiny_lite / "model.safetensors"))
    common = {"epochs": 1, "freeze_text": True, "lr": 1e-2}
    kept = train_contrastive(config(tmp_path / "kept", tiny_lite, train_image=False, **common), [data])
    tuned = load_file(str(kept / "model.safetensors"))
    unchanged = [k for k in base if k.startswith(("backbone.", "heads."))]
    assert unchanged and all(torch.equal(base[k], tuned[k]) for k in unchanged)  # batch-norm stats too
    assert not torch.equal(base["image_proj.weight"], tuned["image_proj.weight"])

    cfg = config(tmp_path / "heads", tiny_lite, head_weight=1.0, **common)
    tuned = load_file(str(train_contrastive(cfg, [data]) / "model.safetensors"))
    assert not torch.equal(base["heads.f_colour.weight"], tuned["heads.f_colour.weight"])
    report = json.loads((Path(cfg.out_dir) / "report.json").read_text())
    assert report["history"][0]["train_loss"]["heads"] > 0


def test_output_loads_through_the_embedder_with_its_own_text_encoder(trained, tiny_lite):
    from vestis.embed import load_embedder
    from vestis.models.backbones import encode_texts, load_text_encoder
    from vestis.models.lite import VestisLite

    _, model_dir = trained
    texts = ["a red top", "black trousers"]
    tuned = load_embedder("lite", model=str(model_dir), runtime="torch").embed_texts(texts)
    base = load_embedder("lite", model=str(tiny_lite), runtime="torch").embed_texts(texts)
    assert tuned.shape == base.shape
    assert np.abs(tuned - base).max() > 1e-3
    model = VestisLite.load(model_dir)
    own = load_text_encoder(directory=model_dir / "text_encoder")
    with torch.inference_mode():
        expected = model.embed_text_features(encode_texts(texts, own)).numpy()
        packaged = model.embed_text_features(encode_texts(texts)).numpy()
    np.testing.assert_allclose(tuned, expected, atol=1e-5)
    assert np.abs(tuned - packaged).max() > 1e-3  # the fine-tuned MiniLM is used, not the packaged one


def test_onnx_text_path_uses_the_fine_tuned_encoder(trained):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tokenizers")
    from vestis.embed import load_embedder

    _, model_dir = trained
    texts = ["a red top", "navy footwear for women"]
    onnx = load_embedder("lite", model=str(model_dir), runtime="onnx").embed_texts(texts)
    torch_ = load_embedder("lite", model=str(model_dir), runtime="torch").embed_texts(texts)
    np.testing.assert_allclose(onnx, torch_, atol=1e-4)


def test_resume_after_a_kill_matches_an_uninterrupted_run(trained, tiny_lite, data, monkeypatch):
    from safetensors.torch import load_file

    import vestis.train.contrastive_trainer as trainer

    cfg, model_dir = trained
    other = config(Path(cfg.out_dir).parent.parent / "b", tiny_lite)
    real = trainer.save_checkpoint

    def save_then_die(path, state):
        real(path, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        trainer.train_contrastive(other, datasets=[data])
    monkeypatch.setattr(trainer, "save_checkpoint", real)
    resumed = trainer.train_contrastive(other, datasets=[data])
    for name in ("model.safetensors", "text_encoder/model.safetensors"):
        a, b = load_file(str(model_dir / name)), load_file(str(resumed / name))
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    with pytest.raises(ValueError, match=r"another config \(lr differ\)"):
        trainer.train_contrastive(config(Path(other.out_dir).parent, tiny_lite, lr=1e-2), datasets=[data])


def test_stop_after_writes_a_snapshot_and_a_rerun_goes_on_to_the_same_model(trained, tiny_lite, data):
    from safetensors.torch import load_file

    from vestis.train.contrastive_trainer import train_contrastive

    cfg, model_dir = trained
    run = Path(cfg.out_dir).parent.parent / "stop"
    snapshot = train_contrastive(config(run, tiny_lite, stop_after=1), datasets=[data])
    report = json.loads((run / "run" / "report.json").read_text())
    assert report["epochs_done"] == 1 and len(report["history"]) == 1
    first = load_file(str(snapshot / "model.safetensors"))
    full = train_contrastive(config(run, tiny_lite), datasets=[data])  # resumes at epoch 2
    assert json.loads((run / "run" / "report.json").read_text())["epochs_done"] == 3
    a, b = load_file(str(model_dir / "model.safetensors")), load_file(str(full / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)  # as the run never stopped
    assert not all(torch.equal(first[k], b[k]) for k in a)


def test_distillation_is_zero_when_the_student_is_the_teacher():
    from vestis.train.contrastive_loss import distill_loss

    g = torch.Generator().manual_seed(0)
    image, text = (torch.nn.functional.normalize(torch.randn(6, 16, generator=g), dim=1) for _ in range(2))
    assert float(distill_loss(image, text, image, text, 0.05)) == 0.0
    moved = torch.nn.functional.normalize(image + 0.3 * torch.randn(6, 16, generator=g), dim=1)
    assert float(distill_loss(moved, text, image, text, 0.05)) > 1e-3
    assert float(distill_loss(image, moved, image, text, 0.05)) > 1e-3


def test_contrastive_losses_prefer_matched_pairs_and_share_positives():
    from vestis.train.contrastive_loss import clip_loss, siglip_loss

    g = torch.Generator().manual_seed(1)
    image = torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=1)
    shuffled = image[torch.randperm(8, generator=g)]
    ids = torch.arange(8)
    scale, bias = torch.tensor(2.3), torch.tensor(-2.0)
    assert clip_loss(image, image, ids, scale) < clip_loss(image, shuffled, ids, scale)
    assert siglip_loss(image, image, ids, scale, bias) < siglip_loss(image, shuffled, ids, scale, bias)
    # two rows with one caption: matching either text is right, so swapping them costs nothing
    same = torch.tensor([0, 0, 1, 2, 3, 4, 5, 6])
    swapped = image[[1, 0, 2, 3, 4, 5, 6, 7]]
    assert torch.isclose(clip_loss(image, swapped, same, scale), clip_loss(swapped, image, same, scale))
    # the same sums in another order: equal up to float rounding (exact on one CPU, not on another)
    assert torch.isclose(
        siglip_loss(image, swapped, same, scale, bias), siglip_loss(swapped, image, same, scale, bias)
    )


def test_hard_negative_batches_hold_neighbours_and_see_every_row_once():
    from vestis.train.contrastive_loss import hard_negative_batches, mine_neighbours

    g = torch.Generator().manual_seed(2)
    emb = torch.nn.functional.normalize(torch.randn(40, 8, generator=g), dim=1)
    neighbours = mine_neighbours(emb, 3)
    others = (emb @ emb.T).fill_diagonal_(-9)
    assert np.array_equal(neighbours[:, 0], others.argmax(1).numpy())  # the nearest other row first
    assert all(i not in neighbours[i] for i in range(40))
    rows = np.arange(2, 40)  # rows 0 and 1 are held out: never drawn, not even as neighbours
    batches = hard_negative_batches(rows, neighbours, 8, 0.5, np.random.default_rng(0))
    seeds = np.concatenate([b[:4] for b in batches])
    assert len(seeds) == len(set(seeds.tolist())) == 36  # 38 rows // 4 seeds per batch = 9 batches
    for batch in batches:
        assert len(batch) == len(set(batch.tolist())) == 8
        assert not {0, 1} & set(batch.tolist())
        near = {int(j) for s in batch[:4] for j in neighbours[s]}
        assert set(batch[4:].tolist()) <= near
    plain = hard_negative_batches(rows, None, 8, 0.5, np.random.default_rng(0))
    assert len(plain) == 38 // 8 and all(len(b) == 8 for b in plain)


def test_wiseft_blends_the_text_encoder_with_the_packaged_minilm(trained, tiny_lite, tmp_path):
    from safetensors.torch import load_file

    from vestis.embed import load_embedder
    from vestis.train.wiseft import blend

    _, model_dir = trained
    half = blend(tiny_lite, model_dir, 0.5, tmp_path / "half")
    tuned = load_file(str(model_dir / "text_encoder" / "model.safetensors"))
    mixed = load_file(str(half / "text_encoder" / "model.safetensors"))
    packaged = packaged_text_state()
    key = "encoder.layer.5.attention.self.query.weight"
    expected = torch.lerp(packaged[key], tuned[key].float(), 0.5).half()
    assert torch.equal(mixed[key], expected)
    assert not torch.equal(mixed[key], tuned[key])
    sums = json.loads((half / "checksums.json").read_text())
    assert "text_encoder/model.safetensors" in sums
    texts = ["a red top"]
    vectors = [
        load_embedder("lite", model=str(d), runtime="torch").embed_texts(texts)
        for d in (tiny_lite, half, model_dir)
    ]
    assert np.abs(vectors[1] - vectors[0]).max() > 1e-4 and np.abs(vectors[1] - vectors[2]).max() > 1e-4
    start = blend(tiny_lite, model_dir, 0.0, tmp_path / "start")
    at_start = load_file(str(start / "text_encoder" / "model.safetensors"))
    assert torch.equal(at_start[key], packaged[key].half())


def test_cached_pooled_features_match_the_frozen_upper_blocks(tiny_lite):
    from types import SimpleNamespace

    from vestis.models.lite import VestisLite
    from vestis.train.contrastive_trainer import pooled_features

    model = VestisLite.load(tiny_lite)
    size = model.config.image_size
    with torch.no_grad():
        lower = model.backbone.lower(torch.randn(5, 3, size, size)).numpy().astype(np.float16)
    split = SimpleNamespace(examples=[None] * 5, features=lower)
    cached = pooled_features(model, split, batch_size=2)  # three batches
    with torch.no_grad():
        direct = model.pooled_from_lower(torch.from_numpy(lower[[3, 0]].astype(np.float32)))
    assert cached.shape[0] == 5 and torch.allclose(cached[[3, 0]], direct, atol=1e-5)
