"""Shared CLI helpers: the consoles and JSON output."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import yaml
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def print_json(obj: Any) -> None:
    console.print_json(json.dumps(obj, ensure_ascii=False, default=str))


def parse_overrides(pairs: list[str]) -> dict:
    """``["epochs=3", "lr=1e-3"]`` → ``{"epochs": 3, "lr": 0.001}`` (values parsed as YAML)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML 1.1 reads "1e-3" as text
            with contextlib.suppress(ValueError):
                parsed = float(parsed)
        out[key.strip()] = parsed
    return out
