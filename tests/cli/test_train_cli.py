"""``vestis train``: flags and help come from the config dataclasses; bad values stop before any work."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.cli.test_errors_cli import one_line_error
from vestis.cli.main import main
from vestis.train.recipes import RECIPES


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("epochs=abc", "epochs must be an integer, not 'abc'"),
        ("epochs=-5", "epochs must be at least 1, not -5"),
        ("batch_size=0", "batch_size must be at least 1, not 0"),
        ("lr=abc", "lr must be a number, not 'abc'"),
        ("epoch=3", "unknown config key 'epoch' (did you mean 'epochs'?)"),
        ("epochs", "--set expects KEY=VALUE"),
        ("datasets=[hm", "datasets: cannot parse"),
    ],
)
@pytest.mark.parametrize("recipe", ["lite", "outfits"])
def test_bad_settings_are_refused_before_any_work(recipe, setting, expected, monkeypatch, capsys):
    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(type(RECIPES.get(recipe)), "train", no_training)
    assert main(["train", recipe, "--set", setting]) == 2
    assert expected in one_line_error(capsys)


@pytest.mark.parametrize("recipe", RECIPES.names())
def test_help_lists_every_config_field_with_its_default(recipe, capsys):
    pytest.importorskip("torch")  # two recipes keep their config next to the trainer
    assert main(["train", recipe, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps the help text
    for f in dataclasses.fields(RECIPES.get(recipe).config_class()):
        assert "--" + f.name.replace("_", "-") in out
    assert "[default: " in out and "--config" in out and "--set" in out


def test_every_field_is_a_flag_and_flags_override_the_config_file(tmp_path, capsys):
    config = tmp_path / "lite.yaml"
    config.write_text("epochs: 7\nlr: 0.01\nhflip: true\n")
    flags = ["--epochs", "2", "--hflip", "false", "--datasets", "[hm]", "--set", "seed=4"]
    assert main(["train", "lite", "--config", str(config), *flags, "--show-config"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    got = (cfg["epochs"], cfg["lr"], cfg["hflip"], cfg["datasets"], cfg["seed"])
    assert got == (2, 0.01, False, ["hm"], 4)


def test_flag_values_are_checked_like_set(capsys):
    assert main(["train", "lite", "--epochs", "2.5", "--show-config"]) == 2
    assert "epochs must be an integer, not 2.5" in one_line_error(capsys)
    assert main(["train", "lite", "--split", "17", "--show-config"]) == 2
    assert "split must be at most 16, not 17" in one_line_error(capsys)
    assert main(["train", "lite", "--hflip", "maybe", "--show-config"]) == 2
    assert "hflip must be true or false, not 'maybe'" in one_line_error(capsys)


def test_malformed_and_missing_config_files(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1, 2\nlr: 0.1\n")
    assert main(["train", "lite", "--config", str(bad)]) == 2
    assert "cannot read config" in one_line_error(capsys)
    assert main(["train", "lite", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read config" in one_line_error(capsys)
    listing = tmp_path / "list.yaml"
    listing.write_text("- epochs\n")
    assert main(["train", "lite", "--config", str(listing)]) == 2
    assert "must be a mapping" in one_line_error(capsys)


def test_unknown_recipe_names_the_known_ones(capsys):
    assert main(["train", "lit"]) == 2
    err = one_line_error(capsys)
    assert "No such command 'lit'" in err


def test_train_group_help_lists_the_recipes(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in RECIPES.names())
