"""``vestis list``: every registry, filled the same way, each entry with a line of description."""

from __future__ import annotations

import json

import pytest

from vestis.cli.main import main
from vestis.components import KINDS, list_components

FILLED = [k for k in KINDS if k != "evaluators"]  # evaluators appear once vestis.eval has a registry


@pytest.mark.parametrize("kind", FILLED)
def test_every_registry_is_filled_without_importing_its_backends_first(kind):
    entries = list_components(kind)[kind]
    assert entries, f"no {kind} registered"
    assert all(description for description in entries.values()), entries


def test_list_prints_every_kind(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(kind in out for kind in FILLED)
    assert "pixel-colour" in out and "test-random" in out and "outfits-llm" in out


def test_list_one_kind_as_json(capsys):
    assert main(["list", "embedders", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["embedders"] and "lite" in data["embedders"]


def test_list_unknown_kind(capsys):
    assert main(["list", "backends"]) == 2
    assert "unknown kind 'backends'" in capsys.readouterr().err


def test_names_imports_the_builtins_itself():
    """A fresh interpreter: asking a registry for names needs no prior import of its backends."""
    import os
    import subprocess
    import sys

    code = (
        "from vestis.extract.base import EXTRACTORS; from vestis.embed.base import EMBEDDERS; "
        "from vestis.data.base import DATASETS; from vestis.catalog.index.base import INDEXES; "
        "from vestis.outfits.base import SCORERS; "
        "print(all(r.names() for r in (EXTRACTORS, EMBEDDERS, DATASETS, INDEXES, SCORERS)))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "True", done.stderr
