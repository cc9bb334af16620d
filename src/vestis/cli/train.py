"""``vestis train RECIPE``: training recipes (config dataclass + trainer), one subcommand each.

The subcommands come from :data:`vestis.train.recipes.RECIPES`, and each one's flags from its
config dataclass: every field is a flag (``--epochs 3``, ``--hflip false``) whose help is
the field's help and default. ``--config FILE`` reads the fields from YAML and ``--set
KEY=VALUE`` overrides one (as the flag does); values are parsed as YAML and checked against the
field's type and range before any work starts. A command is built when it is used, so
``vestis --help`` imports no recipe.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path
from typing import Any, Optional

import typer
import yaml
from rich.markup import escape
from typer.core import TyperGroup

from vestis.cli.common import console, parse_overrides, parse_value, print_json
from vestis.train.recipes import RECIPES, Recipe


class RecipeGroup(TyperGroup):
    """The ``train`` group: one subcommand per registered recipe, built on first use."""

    def list_commands(self, ctx) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(RECIPES.names()))

    def get_command(self, ctx, name: str):
        command = super().get_command(ctx, name)
        if command is None and name in RECIPES:
            command = recipe_command(RECIPES.get(name))
            self.add_command(command, name)
        return command


app = typer.Typer(
    cls=RecipeGroup,
    help="Train vestis models. Every config field of a recipe is a flag; --config FILE reads them "
    "from YAML and --set KEY=VALUE overrides one. `vestis train RECIPE --help` lists the fields.",
    no_args_is_help=True,
)


def recipe_command(recipe: Recipe):
    """The click command of a recipe, its options generated from the config dataclass."""
    cls = recipe.config_class()
    hints = typing.get_type_hints(cls)
    params = [
        _param(
            "config_file",
            Optional[Path],  # noqa: UP045 (typer reads the annotation at runtime)
            typer.Option(None, "--config", help=f"YAML file of {cls.__name__} fields."),
        ),
        _param(
            "set_",
            list[str],
            typer.Option(
                [], "--set", metavar="KEY=VALUE", help="Override a config field, e.g. --set epochs=3."
            ),
        ),
        _param(
            "show_config",
            bool,
            typer.Option(False, "--show-config", help="Print the resolved config and exit."),
        ),
    ]
    if recipe.resumable:
        params.append(
            _param(
                "fresh",
                bool,
                typer.Option(False, "--fresh", help="Ignore an existing checkpoint in out_dir."),
            )
        )
    for f in dataclasses.fields(cls):
        params.append(_field_param(f, hints.get(f.name)))

    def callback(**kwargs: Any) -> None:
        overrides = parse_overrides(kwargs.pop("set_"))
        for key, value in kwargs.items():
            if key.startswith("field_") and value is not None:
                overrides[key.removeprefix("field_")] = (
                    value if isinstance(value, bool) else parse_value(value)
                )
        cfg = recipe.load_config(kwargs["config_file"], overrides)
        if kwargs["show_config"]:
            print_json(cfg.to_dict())
            return
        model_dir = recipe.train(cfg, fresh=kwargs.get("fresh", False))
        if (summary := recipe.summarise(cfg)) is not None:
            console.print(summary)
        console.print(f"model written to {model_dir}; report: {Path(cfg.out_dir) / recipe.report}")

    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    sub = typer.Typer(rich_markup_mode="rich", add_completion=False)
    sub.command(recipe.name, help=escape(recipe.description), epilog=_epilog(recipe))(callback)
    return typer.main.get_command(sub)


def _param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _field_param(f: dataclasses.Field, hint: Any) -> inspect.Parameter:
    """``--name VALUE``, the value parsed as YAML like --set's (``--hflip false``, ``--limit null``)."""
    flag = "--" + f.name.replace("_", "-")
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    shown = yaml.safe_dump(default, default_flow_style=True, width=1000).strip().removesuffix("...").strip()
    text = escape(f"{f.metadata.get('help', '')} [default: {shown}]".strip())
    option = typer.Option(None, flag, metavar=_metavar(hint), help=text, show_default=False)
    return _param("field_" + f.name, Optional[str], option)  # noqa: UP045


def _metavar(hint: Any) -> str:
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if origin in (list, tuple):
        return "LIST"
    if origin is dict:
        return "MAPPING"
    if args and origin is not typing.Literal:
        return _metavar(args[0])
    return {bool: "BOOL", int: "INT", float: "NUMBER", str: "TEXT"}.get(hint, "VALUE")


def _epilog(recipe: Recipe) -> str:
    return escape(
        "Values are YAML: --datasets '[hm, mango]', --limit null. "
        f"Library: vestis.train.recipes.RECIPES.get({recipe.name!r}).load_config(...)"
    )
