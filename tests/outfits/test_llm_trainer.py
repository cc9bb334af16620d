"""LoRA fine-tuning of the LLM scorer on a tiny random language model: saves, reloads, resumes exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")  # the `train` extra

from safetensors.torch import load_file  # noqa: E402

from tests.outfits.conftest import synthetic_outfits  # noqa: E402
from vestis.outfits import load_scorer  # noqa: E402
from vestis.outfits.data import disjoint_split  # noqa: E402
from vestis.outfits.llm import LLMScorer  # noqa: E402
from vestis.train import outfits_llm  # noqa: E402
from vestis.train.outfits_llm import OutfitsLLMTrainConfig, llm_loss, train_outfits_llm  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
COLOURS = ("red", "blue", "green", "black", "white", "navy")


def outfits_with_attributes():
    """Synthetic outfits whose items carry a colour word per style: the text tells outfits apart."""
    data = synthetic_outfits()
    data.attributes = [{"colour": COLOURS[int(i.split("-")[0][1:])]} for i in data.ids]
    return data


def config(tmp_path, name: str, **changes) -> OutfitsLLMTrainConfig:
    options = dict(
        llm="test-tiny",
        epochs=2,
        batch_size=16,
        lr=1e-2,
        lora_layers=0,
        eval_outfits=10,
        val_fraction=0.2,
        checkpoint_every=2,
        threads=1,
        out_dir=str(tmp_path / name),
    )
    return OutfitsLLMTrainConfig(**{**options, **changes})


def fixed_loss(scorer: LLMScorer) -> float:
    """The training loss of the first training outfits against fixed negatives."""
    data = outfits_with_attributes()
    train = data.subset(disjoint_split(data.outfits, 0.2)[0])
    outfits = [train.outfits[k] for k in sorted(train.outfits)][:32]
    rng = np.random.default_rng(3)
    pool = train.pool()
    negatives = [[int(rng.choice(pool[data.categories[i]])) for i in o] for o in outfits]
    lm, _ = scorer.language_model()
    with torch.no_grad():
        return float(llm_loss(lm, scorer, train, outfits, negatives))


def test_lora_training_learns_saves_and_reloads(tmp_path):
    model_dir = train_outfits_llm(config(tmp_path, "a"), data=outfits_with_attributes())
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["scored_val_outfits"] == 10 and 0 <= report["val"]["auc"] <= 1
    assert len(report["history"]) == 2 * -(-report["train_outfits"] // 16)  # one record per step
    loaded = load_scorer(model_dir)
    assert isinstance(loaded, LLMScorer) and loaded.chat is False
    base = LLMScorer(model="test-tiny", chat=False)
    assert fixed_loss(loaded) < fixed_loss(base)  # the adapter lowered the training loss
    data = outfits_with_attributes()
    outfits = [data.items(o) for o in list(data.outfits.values())[:6]]
    assert not np.allclose(loaded.score(outfits), base.score(outfits))
    assert np.array_equal(loaded.score(outfits), load_scorer(model_dir).score(outfits))
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["scorer"] == "llm" and saved["trained"]["val"]["auc"] == report["val"]["auc"]
    assert (model_dir / "README.md").read_text().startswith("# vestis outfit scorer: llm")


@pytest.mark.parametrize(("checkpoint_every", "stop_after", "resumes_at"), [(2, 5, 4), (3, 7, 6)])
def test_interrupted_run_resumes_to_the_same_adapter(
    tmp_path, monkeypatch, checkpoint_every, stop_after, resumes_at
):
    """Stopped mid-epoch (step 4 of 6 per epoch) or at an epoch's end (step 6): the same adapter."""
    data = outfits_with_attributes()
    whole_dir = train_outfits_llm(config(tmp_path, "whole", checkpoint_every=checkpoint_every), data=data)
    whole = load_file(str(whole_dir / "adapter_model.safetensors"))
    calls = {"n": 0}
    real = outfits_llm.llm_loss

    def stop(*args):
        calls["n"] += 1
        if calls["n"] > stop_after:
            raise KeyboardInterrupt
        return real(*args)

    cut = config(tmp_path, "cut", checkpoint_every=checkpoint_every)
    monkeypatch.setattr(outfits_llm, "llm_loss", stop)
    with pytest.raises(KeyboardInterrupt):
        train_outfits_llm(cut, data=data)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["step"] == resumes_at
    monkeypatch.setattr(outfits_llm, "llm_loss", real)
    cut.eval_outfits = 5  # settings that do not change training may differ on resume
    again = load_file(str(train_outfits_llm(cut, data=data) / "adapter_model.safetensors"))
    assert whole.keys() == again.keys() and all(torch.equal(whole[k], again[k]) for k in whole)
    with pytest.raises(ValueError, match="another config"):
        train_outfits_llm(config(tmp_path, "cut", lr=0.5, checkpoint_every=checkpoint_every), data=data)


def test_lora_adapts_only_the_top_layers(monkeypatch):
    from vestis.outfits.llm import _tiny_model

    monkeypatch.setattr(outfits_llm, "load_base", lambda spec, quantization=None: _tiny_model(layers=3))
    lm, _ = outfits_llm.lora_model(OutfitsLLMTrainConfig(llm="test-tiny", lora_layers=2))
    names = [n for n, p in lm.named_parameters() if p.requires_grad]
    layers = {int(n.split(".layers.")[1].split(".")[0]) for n in names}
    assert names and all("lora_" in n for n in names) and layers == {1, 2}
    lm, _ = outfits_llm.lora_model(OutfitsLLMTrainConfig(llm="test-tiny", lora_layers=0))
    assert {
        int(n.split(".layers.")[1].split(".")[0]) for n, p in lm.named_parameters() if p.requires_grad
    } == {
        0,
        1,
        2,
    }


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown config key"):
        OutfitsLLMTrainConfig.from_dict({"rank": 4})
    with pytest.raises(ValueError):
        OutfitsLLMTrainConfig.from_dict({"lora_r": 0})
    with pytest.raises(ValueError):
        OutfitsLLMTrainConfig.from_dict({"target_modules": []})
    with pytest.raises(ValueError):
        OutfitsLLMTrainConfig.from_dict({"lora_layers": -1})


class RedTeacher:
    """A calibrated teacher with a rule the real looks do not follow: a look with a red item is real."""

    calibration = True

    def probability(self, outfits):
        return np.array(
            [0.95 if any(it.attributes.get("colour") == "red" for it in o) else 0.05 for o in outfits]
        )


def teacher_loss(scorer: LLMScorer, seed: int = 5) -> float:
    """The distillation loss of ``scorer`` on fixed looks labelled by :class:`RedTeacher`."""
    data = outfits_with_attributes()
    train = data.subset(disjoint_split(data.outfits, 0.2)[0])
    outfits = [train.outfits[k] for k in sorted(train.outfits)]
    looks = outfits_llm.teacher_batch(
        outfits, 48, train, (train.pool(True), train.pool()), 0.5, np.random.default_rng(seed)
    )
    lm, _ = scorer.language_model()
    with torch.no_grad():
        return float(outfits_llm.distill_loss(lm, scorer, train, looks, RedTeacher()))


def test_a_teacher_distils_its_probabilities_into_the_adapter(tmp_path, monkeypatch):
    """Trained with the teacher, the model follows the teacher's rule on looks it never saw; without, not."""
    monkeypatch.setattr(outfits_llm, "load_teacher", lambda cfg, model: RedTeacher() if cfg.teacher else None)
    data = outfits_with_attributes()
    plain = load_scorer(train_outfits_llm(config(tmp_path, "plain", epochs=3), data=data))
    taught = load_scorer(
        train_outfits_llm(config(tmp_path, "taught", epochs=3, teacher="red", teacher_looks=2.0), data=data)
    )
    assert teacher_loss(taught) < teacher_loss(plain) - 0.05
    card = (tmp_path / "taught" / "model" / "README.md").read_text()
    assert "Distilled: 2.0 looks per real look" in card
    saved = json.loads((tmp_path / "taught" / "model" / "config.json").read_text())
    assert saved["trained"]["teacher"]["spec"] == "red"


def test_the_teacher_is_a_calibrated_scorer(tmp_path):
    from vestis.outfits import create_scorer

    shipped = outfits_llm.load_teacher(OutfitsLLMTrainConfig(llm="test-tiny", teacher="shipped"), None)
    assert shipped.calibration is not None
    create_scorer("cooccurrence").save(tmp_path / "plain")
    cfg = OutfitsLLMTrainConfig(llm="test-tiny", teacher=str(tmp_path / "plain"))
    with pytest.raises(ValueError, match="no calibration"):
        outfits_llm.load_teacher(cfg, None)


def test_quantized_loading_is_refused_clearly_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: quantized loading may work here")
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        outfits_llm.lora_model(OutfitsLLMTrainConfig(llm="test-tiny", quantization="4bit"))
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        LLMScorer(model="test-tiny", quantization="8bit").language_model()
    with pytest.raises(ValueError, match="quantization must be one of"):
        OutfitsLLMTrainConfig.from_dict({"quantization": "3bit"})
