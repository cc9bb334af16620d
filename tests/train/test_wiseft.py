"""WiseFT: the interpolation, both checkpoint kinds written and reloaded, the α rule, the recipe."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console

from tests.cli.test_errors_cli import one_line_error
from tests.helpers import COLOURS, GeneratedDataset, draw_item
from vestis.cli.main import main
from vestis.errors import OptionsError
from vestis.models.registry import ModelError, ModelNotFound
from vestis.train.wiseft import blend, choose_alpha, interpolate, sweep


# ---- interpolate -------------------------------------------------------------------------------
def states():
    g = torch.Generator().manual_seed(0)
    base = {
        "w": torch.randn(3, 4, generator=g),
        "b": torch.randn(4, generator=g).half(),
        "bn.num_batches_tracked": torch.tensor(3),
    }
    tuned = {
        "w": torch.randn(3, 4, generator=g),
        "b": torch.randn(4, generator=g).half(),
        "bn.num_batches_tracked": torch.tensor(40),
    }
    return base, tuned


def test_interpolate_ends_are_exact_and_the_middle_is_the_midpoint():
    base, tuned = states()
    zero, one, half = (interpolate(base, tuned, a) for a in (0, 1, 0.5))
    for name in base:
        assert torch.equal(zero[name], base[name] if name != "bn.num_batches_tracked" else tuned[name])
        assert torch.equal(one[name], tuned[name])
    assert torch.allclose(half["w"], (base["w"] + tuned["w"]) / 2, atol=1e-7)
    assert half["b"].dtype == torch.float16
    assert torch.allclose(half["b"].float(), (base["b"].float() + tuned["b"].float()) / 2, atol=1e-3)
    assert int(half["bn.num_batches_tracked"]) == 40  # integer buffers: the fine-tuned model's
    assert torch.allclose(
        interpolate(base, tuned, 0.25)["w"], 0.75 * base["w"] + 0.25 * tuned["w"], atol=1e-6
    )


def test_interpolate_refuses_mismatches_naming_the_tensor():
    base, tuned = states()
    with pytest.raises(ModelError, match="'w' is in the base model but not in the fine-tuned one"):
        interpolate(base, {k: v for k, v in tuned.items() if k != "w"}, 0.5)
    with pytest.raises(ModelError, match="'extra' is in the fine-tuned model"):
        interpolate(base, {**tuned, "extra": torch.zeros(1)}, 0.5)
    with pytest.raises(ModelError, match=r"'w' has shape \(3, 4\) in the base model and \(4, 3\)"):
        interpolate(base, {**tuned, "w": torch.zeros(4, 3)}, 0.5)
    with pytest.raises(ModelError, match=r"'bn\.num_batches_tracked' is torch\.int64"):
        interpolate(base, {**tuned, "bn.num_batches_tracked": torch.tensor(1.0)}, 0.5)


def test_alpha_outside_the_segment_needs_extrapolate():
    base, tuned = states()
    for alpha in (-0.1, 1.5):
        with pytest.raises(OptionsError, match=r"alpha must be in \[0, 1\].*extrapolate=True"):
            interpolate(base, tuned, alpha)
    far = interpolate(base, tuned, 1.5, extrapolate=True)
    assert torch.allclose(far["w"], tuned["w"] + 0.5 * (tuned["w"] - base["w"]), atol=1e-6)
    with pytest.raises(OptionsError, match="finite"):
        interpolate(base, tuned, float("nan"), extrapolate=True)


# ---- the α rule --------------------------------------------------------------------------------
def rows(*table):
    return [{"alpha": a, "scores": {"in1": i1, "in2": i2, "ood": o}} for a, i1, i2, o in table]


def test_choice_respects_the_ood_tolerance():
    table = rows((0, 0.5, 0.5, 0.80), (0.5, 0.7, 0.7, 0.78), (0.75, 0.8, 0.8, 0.775), (1, 0.9, 0.9, 0.70))
    choice = choose_alpha(table, ["in1", "in2"], ["ood"], ood_tolerance=0.02)
    assert choice["alpha"] == 0.5 and choice["warning"] is None  # 0.78 is exactly 0.02 below: allowed
    assert choice["qualified"] == [0, 0.5] and choice["in_domain_mean"] == pytest.approx(0.7)
    assert choose_alpha(table, ["in1", "in2"], ["ood"], ood_tolerance=0.1)["alpha"] == 1
    assert (
        choose_alpha(table, ["in1", "in2"], [], ood_tolerance=0.0)["alpha"] == 1
    )  # no OOD task: best in-domain


def test_choice_ties_go_to_the_smaller_alpha_and_none_qualifying_gives_the_base():
    tie = rows((0, 0.5, 0.5, 0.8), (0.25, 0.7, 0.7, 0.8), (0.5, 0.7, 0.7, 0.8), (1, 0.6, 0.6, 0.8))
    assert choose_alpha(tie, ["in1", "in2"], ["ood"])["alpha"] == 0.25
    bad = rows((0, 0.5, 0.5, 0.8), (0.5, 0.7, 0.7, 0.7), (1, 0.9, 0.9, 0.5))
    choice = choose_alpha(bad, ["in1", "in2"], ["ood"])
    assert choice["alpha"] == 0 and "no α > 0" in choice["warning"]
    with pytest.raises(OptionsError, match="no α = 0 row"):
        choose_alpha(bad[1:], ["in1"], ["ood"])
    missing = [
        {"alpha": 0, "scores": {"in1": 0.5, "ood": 0.8}},
        {"alpha": 1, "scores": {"in1": 0.9, "ood": None}},
    ]
    assert choose_alpha(missing, ["in1"], ["ood"])["alpha"] == 0  # an unmeasured OOD task does not pass


# ---- vestis-lite -------------------------------------------------------------------------------
def perturbed_lite(source: Path, directory: Path, seed: int = 1, scale: float = 0.05, **config) -> Path:
    """A copy of a vestis-lite model with noise on its trained weights, other batch-norm statistics
    and counters, and ``config`` changes."""
    from vestis.models.lite import VestisLite

    model = VestisLite.load(source)
    g = torch.Generator().manual_seed(seed)
    trained = model.trained_state()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name not in trained:
                continue
            if name.endswith("running_var"):
                tensor.mul_(1.5)  # a float buffer, kept positive
            elif name.endswith("num_batches_tracked"):
                tensor.fill_(123)
            elif tensor.is_floating_point():
                tensor.add_(scale * torch.randn(tensor.shape, generator=g))
    for key, value in config.items():
        setattr(model.config, key, value)
    return model.save(directory, card="# tuned\n")


@pytest.fixture(scope="module")
def lite_pair(tiny_lite, tmp_path_factory):
    tuned = perturbed_lite(
        tiny_lite, tmp_path_factory.mktemp("tuned") / "model", temperatures={"colour": 2.0}
    )
    return tiny_lite, tuned


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wiseft-images")
    return [str(draw_item(folder / f"{c}.png", c, "top")) for c in list(COLOURS)[:3]]


def embeddings(model_dir: Path, images: list[str]) -> np.ndarray:
    from vestis.embed import load_embedder

    return load_embedder("lite", model=str(model_dir), runtime="torch").embed_images(images)


def test_lite_blends_load_like_their_ends(lite_pair, images, tmp_path):
    from vestis.extract.base import load_extractor
    from vestis.models.lite import VestisLite
    from vestis.models.lite_config import verify_checksums
    from vestis.models.registry import lite_model_id

    base, tuned = lite_pair
    ends = {0.0: base, 1.0: tuned}
    for alpha in (0.0, 1.0, 0.5):
        out = blend(base, tuned, alpha, tmp_path / f"a{alpha}")
        verify_checksums(out, names=None)  # every file, the card and provenance included
        assert lite_model_id(out) not in (lite_model_id(base), lite_model_id(tuned))  # a fresh id
        card = (out / "README.md").read_text()
        assert f"at α = {alpha:g}" in card and lite_model_id(base) in card and lite_model_id(tuned) in card
        assert json.loads((out / "wiseft.json").read_text())["alpha"] == alpha
        if alpha in ends:
            np.testing.assert_allclose(embeddings(out, images), embeddings(ends[alpha], images), atol=1e-6)
    mid = VestisLite.load(tmp_path / "a0.5").trained_state()
    a, b = VestisLite.load(base).trained_state(), VestisLite.load(tuned).trained_state()
    for name, tensor in mid.items():
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, (a[name] + b[name]) / 2, atol=1e-6, rtol=0)
    assert VestisLite.load(tmp_path / "a0.5").config.temperatures == {"colour": 2.0}  # the nearer end's
    assert VestisLite.load(tmp_path / "a0.0").config.temperatures == {}
    mid_images = embeddings(tmp_path / "a0.5", images)
    assert not np.allclose(mid_images, embeddings(base, images), atol=1e-4)
    assert not np.allclose(mid_images, embeddings(tuned, images), atol=1e-4)
    extractor = load_extractor("lite", "vestis", model=str(tmp_path / "a0.5"), runtime="torch")
    result = extractor.extract(images[0])
    assert result.error is None and result.attributes["category"]
    np.testing.assert_allclose(result.embedding, mid_images[0], atol=1e-5)


def test_lite_pairs_of_other_architectures_are_refused(lite_pair, tmp_path):
    base, tuned = lite_pair
    cfg = json.loads((tuned / "config.json").read_text())

    def variant(name: str, **changes) -> Path:
        path = tmp_path / name
        shutil.copytree(tuned, path)
        (path / "config.json").write_text(json.dumps({**cfg, **changes}))
        (path / "checksums.json").unlink()
        return path

    extra_head = variant("extra", heads={**cfg["heads"], "pattern": ["solid", "striped"]})
    with pytest.raises(ModelError, match="head 'pattern' is only in the fine-tuned model"):
        blend(base, extra_head, 0.5, tmp_path / "out")
    swapped = variant("swapped", heads={**cfg["heads"], "neckline": ["v_neck", "round"]})
    with pytest.raises(ModelError, match="head 'neckline' has another vocabulary"):
        blend(base, swapped, 0.5, tmp_path / "out")
    with pytest.raises(ModelError, match="config 'embed_dim' differs"):
        blend(base, variant("dim", embed_dim=128), 0.5, tmp_path / "out")
    with pytest.raises(ModelNotFound, match=r"fine-tuned model .*nope: does not exist"):
        blend(base, tmp_path / "nope", 0.5, tmp_path / "out")
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "notes.txt").write_text("mine")
    with pytest.raises(OptionsError, match="not an earlier WiseFT blend"):
        blend(base, tuned, 0.5, tmp_path / "occupied")
    assert (tmp_path / "occupied" / "notes.txt").read_text() == "mine"


# ---- transformers ------------------------------------------------------------------------------
def tiny_clip(path: Path, seed: int) -> Path:
    from transformers import CLIPModel

    from tests.helpers import tiny_dual_encoder

    tiny_dual_encoder("clip", path)  # config, tokenizer, preprocessor (weights from seed 0)
    config = CLIPModel.from_pretrained(str(path)).config
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def clip_pair(tmp_path_factory):
    pytest.importorskip("transformers")
    root = tmp_path_factory.mktemp("clip")
    return tiny_clip(root / "base", 0), tiny_clip(root / "tuned", 1)


def test_transformers_clip_blend_reloads_with_automodel_at_the_midpoint(clip_pair, tmp_path):
    import transformers

    from vestis.embed import load_embedder

    base, tuned = (shutil.copytree(p, tmp_path / p.name) for p in clip_pair)
    cfg = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**cfg, "transformers_version": "4.0.0"}))  # metadata only
    out = blend(base, tuned, 0.5, tmp_path / "half")
    load = transformers.AutoModel.from_pretrained
    a, b, mid = (load(str(p)).state_dict() for p in (base, tuned, out))
    assert set(mid) == set(a)
    for name, tensor in mid.items():
        if tensor.is_floating_point():
            torch.testing.assert_close(tensor, (a[name] + b[name]) / 2, atol=1e-6, rtol=0)
    assert (out / "tokenizer.json").is_file() and (out / "preprocessor_config.json").is_file()
    assert "WiseFT blend" in (out / "README.md").read_text()
    assert load_embedder("hf-clip", model=str(out)).embed_texts(["a red dress"]).shape[0] == 1
    tuned_cfg = json.loads((tuned / "config.json").read_text())
    tuned_cfg["text_config"]["hidden_act"] = "gelu"
    (tuned / "config.json").write_text(json.dumps(tuned_cfg))
    with pytest.raises(ModelError, match=r"config 'text_config\.hidden_act' differs"):
        blend(base, tuned, 0.5, tmp_path / "half")


# ---- the sweep and the recipe ------------------------------------------------------------------
def test_sweep_and_recipe_write_model_report_and_curve(lite_pair, images, tmp_path):
    from safetensors.torch import load_file

    from vestis.models.lite import VestisLite
    from vestis.train.recipes import RECIPES
    from vestis.train.wiseft_trainer import report_table, train_wiseft

    base, tuned = lite_pair
    seen: list[Path] = []
    start = load_file(str(base / "model.safetensors"))["image_proj.weight"]

    def evaluate(model_dir: Path) -> dict[str, float]:
        """Pretend in-domain rises and out-of-domain falls with the distance from the base."""
        seen.append(model_dir)
        VestisLite.load(model_dir)  # loads (checksums verified)
        d = (
            float((load_file(str(model_dir / "model.safetensors"))["image_proj.weight"] - start).abs().mean())
            / 0.04
        )
        return {"in": 0.5 + 0.4 * d, "ood": 0.8 - 0.05 * d * d}

    found = sweep(base, tuned, [0, 0.5, 1], evaluate)
    assert [r["alpha"] for r in found] == [0, 0.5, 1] and not any(p.exists() for p in seen)
    cfg = RECIPES.get("wiseft").load_config(
        overrides={
            "base": str(base),
            "tuned": str(tuned),
            "alphas": [1, 0.25, 0.5, 0.75],
            "out_dir": str(tmp_path),
        }
    )
    model = train_wiseft(cfg, evaluate=evaluate, domains={"in": "in", "ood": "ood"})
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["alpha"] for r in report["rows"]] == [0, 0.25, 0.5, 0.75, 1]  # α = 0 added
    assert report["chosen"]["alpha"] == 0.5 and "at most 0.02 below" in report["chosen"]["rule"]
    assert json.loads((model / "wiseft.json").read_text())["alpha"] == 0.5
    assert json.loads((model / "metrics.json").read_text())["in"] > 0.5
    if importlib.util.find_spec("matplotlib"):  # the report extra
        assert (tmp_path / "alpha_curve.png").stat().st_size > 1000
    console = Console(width=100, record=True)
    console.print(report_table(report))
    text = console.export_text()
    assert "α=0.5 ✓" in text and "α=0.25" in text and "in-domain mean" in text


def test_lite_tasks_score_extraction_and_retrieval(tmp_path):
    """The shipped model on drawn garments: colours are read, "a red top" finds the red top."""
    from vestis.train.wiseft_trainer import LiteTasks

    data = GeneratedDataset(tmp_path / "shop", n_per_cell=1)  # 18 items: R@10 is not trivially 1
    other = GeneratedDataset(tmp_path / "other", n_per_cell=1)
    other.kind = "other"
    tasks = LiteTasks([data], [other], fields=["colour"], split="all", threads=1)
    assert tasks.domains == {
        "generated/extract": "in",
        "generated/retrieve": "in",
        "other/extract": "ood",
        "other/retrieve": "ood",
    }
    scores = tasks("vestis-lite")
    assert scores["generated/extract"] == scores["other/extract"] > 0.5
    assert 0.5 < scores["generated/retrieve"] <= 1
    no_text = LiteTasks([data], fields=["colour"], tasks=["extract"], split="all", limit=4)
    assert list(no_text.domains) == ["generated/extract"]


def test_cli_refuses_bad_paths_and_settings_in_one_line(clip_pair, tmp_path, capsys):
    assert (
        main(["train", "wiseft", "--set", f"tuned={tmp_path / 'nope'}", "--set", f"out_dir={tmp_path}"]) == 2
    )
    assert "fine-tuned model" in one_line_error(capsys)
    assert main(["train", "wiseft", "--set", "alphas=[0,1.5]", "--set", "tuned=x"]) == 2
    assert "outside [0, 1]" in one_line_error(capsys)
    assert main(["train", "wiseft", "--show-config"]) == 2
    assert "tuned is required" in one_line_error(capsys)
    clip = tiny_clip(tmp_path / "clip", 0)
    argv = [
        "train",
        "wiseft",
        "--set",
        f"base={clip}",
        "--set",
        f"tuned={clip}",
        "--set",
        f"out_dir={tmp_path}",
    ]
    assert main(argv) == 2
    assert "sweep those from Python" in one_line_error(capsys)
