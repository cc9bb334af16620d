"""The README's Python examples run as written (from the repository root, on the shipped model)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```\n", (REPO / "README.md").read_text(), flags=re.S)


def test_readme_has_python_examples():
    assert BLOCKS


@pytest.mark.slow
@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code: str, tmp_path: Path, monkeypatch):
    pytest.importorskip("efficientnet_lite_pytorch")
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    if "hits" in namespace:
        assert namespace["hits"] and all(h.attributes["category"] == "footwear" for h in namespace["hits"])
    if "result" in namespace:
        assert namespace["result"].error is None and namespace["result"].attributes["category"]
