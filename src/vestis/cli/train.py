"""``vestis train RECIPE``: training recipes (config dataclass + trainer)."""

from __future__ import annotations

from pathlib import Path

import typer

from vestis.cli.common import console, parse_overrides, print_json

app = typer.Typer(
    help="Train vestis models. Each recipe takes --config FILE and --set key=value overrides.",
    no_args_is_help=True,
)


def _config(cls, path: Path | None, set_: list[str], show: bool = False):
    """The recipe config from ``--config`` and ``--set``; None (after printing it) with ``--show-config``."""
    overrides = parse_overrides(set_)
    cfg = cls.from_file(path, **overrides) if path else cls.from_dict(overrides)
    if show:
        print_json(cfg.to_dict())
        return None
    return cfg


@app.command("lite")
def lite_cmd(
    config: Path = typer.Option(None, "--config", "-c", help="YAML file of LiteTrainConfig fields."),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. --set epochs=3."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore an existing checkpoint in out_dir."),
    show_config: bool = typer.Option(False, "--show-config", help="Print the resolved config and exit."),
) -> None:
    """Train vestis-lite (defaults reproduce the shipped model). Resumes from out_dir/checkpoint.pt."""
    from vestis.train.lite_config import LiteTrainConfig

    cfg = _config(LiteTrainConfig, config, set_, show_config)
    if cfg is None:
        return
    from vestis.train.lite_trainer import train_lite

    model_dir = train_lite(cfg, fresh=fresh)
    console.print(f"model written to {model_dir}; report: {Path(cfg.out_dir) / 'report.html'}")


@app.command("composer")
def composer_cmd(
    config: Path = typer.Option(None, "--config", "-c", help="YAML file of ComposerTrainConfig fields."),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. --set epochs=10."),
) -> None:
    """Train the composed-retrieval combiner ("this, but in red") on triplets mined from metadata."""
    from vestis.train.composer_trainer import ComposerTrainConfig, train_composer

    cfg = _config(ComposerTrainConfig, config, set_)
    path = train_composer(cfg)
    console.print(f"composer written to {path}; report: {Path(cfg.out_dir) / 'composer_report.json'}")


@app.command("outfits")
def outfits_cmd(
    config: Path = typer.Option(None, "--config", "-c", help="YAML file of OutfitsTrainConfig fields."),
    set_: list[str] = typer.Option(
        [], "--set", help="Override a config field, e.g. --set scorer=type-aware."
    ),
    show_config: bool = typer.Option(False, "--show-config", help="Print the resolved config and exit."),
) -> None:
    """Train an outfit-compatibility scorer (type-aware or set-transformer) on a dataset's outfits."""
    from vestis.train.outfits_config import OutfitsTrainConfig

    cfg = _config(OutfitsTrainConfig, config, set_, show_config)
    if cfg is None:
        return
    from vestis.train.outfits_trainer import train_outfits

    model_dir = train_outfits(cfg)
    console.print(f"model written to {model_dir}; report: {Path(cfg.out_dir) / 'report.json'}")


@app.command("outfits-llm")
def outfits_llm_cmd(
    config: Path = typer.Option(None, "--config", "-c", help="YAML file of OutfitsLLMTrainConfig fields."),
    set_: list[str] = typer.Option([], "--set", help="Override a config field, e.g. --set epochs=1."),
    fresh: bool = typer.Option(False, "--fresh", help="Ignore an existing checkpoint in out_dir."),
    show_config: bool = typer.Option(False, "--show-config", help="Print the resolved config and exit."),
) -> None:
    """LoRA-fine-tune the LLM outfit scorer (SmolLM2) on a dataset's outfits. Resumes from out_dir."""
    from vestis.train.outfits_llm import OutfitsLLMTrainConfig

    cfg = _config(OutfitsLLMTrainConfig, config, set_, show_config)
    if cfg is None:
        return
    from vestis.train.outfits_llm import train_outfits_llm

    model_dir = train_outfits_llm(cfg, fresh=fresh)
    console.print(f"adapter written to {model_dir}; report: {Path(cfg.out_dir) / 'report.json'}")
