"""Shared CLI helpers: the consoles and JSON output."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import yaml
from rich.console import Console
from rich.table import Column

from vestis.errors import OptionsError

console = Console()
err_console = Console(stderr=True)


def path_column(header: str = "path") -> Column:
    """A table column for file paths: wrapped when the terminal is narrow, never cut short."""
    return Column(header, overflow="fold", min_width=10)


def item_place(path: str | None, box: Any = None) -> str:
    """Where an item is: its photo, and for a garment of a photo of a person its box in it
    (``street/1.jpg [20,30,80,100]``)."""
    return f"{path or ''} [{','.join(map(str, box))}]" if box else path or ""


def print_json(obj: Any) -> None:
    console.print_json(json.dumps(obj, ensure_ascii=False, default=str))


def parse_overrides(pairs: list[str]) -> dict:
    """``["epochs=3", "lr=1e-3"]`` → ``{"epochs": 3, "lr": 0.001}`` (values parsed as YAML)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise OptionsError(f"--set expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = parse_value(value, key.strip())
    return out


def parse_value(text: str, key: str = "value") -> Any:
    """A command-line value parsed as YAML: ``3`` → 3, ``1e-3`` → 0.001, ``[a, b]`` → a list."""
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise OptionsError(f"{key}: cannot parse {text!r} ({problem})") from None
    if isinstance(parsed, str):  # YAML 1.1 reads "1e-3" as text
        with contextlib.suppress(ValueError):
            parsed = float(parsed)
    return parsed
