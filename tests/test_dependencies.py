"""Declared dependencies and the imports in the code agree, and ``import vestis`` stays light."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "vestis"
# distribution name → import name, where they differ
IMPORT_NAMES = {
    "pyyaml": "yaml",
    "pillow": "PIL",
    "faiss-cpu": "faiss",
    "qdrant-client": "qdrant_client",
    "scikit-learn": "sklearn",
    "rapidocr-onnxruntime": "rapidocr_onnxruntime",
}
# declared but not imported by vestis itself, and why
USED_INDIRECTLY = {
    "onnx": "torch.onnx.export writes the model through it",
    "python-multipart": "FastAPI parses the service's photo uploads with it",
    "gguf": "transformers reads SmolLM2's GGUF weights through it (vestis-vlm-tiny)",
    "pytest": "runs the tests",
    "ruff": "lints",
}
# imported but deliberately not declared, and why
NOT_DECLARED = {
    "pyarrow": "only for Parquet tables; the table adapter's error says to install it",
}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()


def _import_name(distribution: str) -> str:
    return IMPORT_NAMES.get(distribution, distribution.replace("-", "_"))


def _imported(root: Path) -> set[str]:
    """Top-level modules imported anywhere under ``root`` (absolute imports only)."""
    found: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def _declared() -> dict[str, list[str]]:
    project = _pyproject()["project"]
    groups = {"core": [_name(r) for r in project["dependencies"]]}
    for extra, requirements in project["optional-dependencies"].items():
        groups[extra] = [_name(r) for r in requirements if _name(r) != "vestis"]
    return groups


def test_every_core_dependency_is_imported_by_the_package():
    imported = _imported(SRC)
    unused = [d for d in _declared()["core"] if _import_name(d) not in imported]
    assert not unused, f"core dependencies that src/vestis never imports: {unused}"


def test_every_extra_dependency_is_used():
    imported = _imported(SRC) | _imported(REPO / "tests") | _imported(REPO / "benchmarks")
    for extra, distributions in _declared().items():
        unused = [d for d in distributions if _import_name(d) not in imported and d not in USED_INDIRECTLY]
        assert not unused, f"[{extra}] declares dependencies nothing imports: {unused}"


def test_every_third_party_import_is_declared():
    declared = {_import_name(d) for names in _declared().values() for d in names}
    local = {"vestis", "tests", "__future__"}
    third_party = {m for m in _imported(SRC) if m not in sys.stdlib_module_names and m not in local}
    undeclared = sorted(third_party - declared - set(NOT_DECLARED))
    assert not undeclared, f"src/vestis imports undeclared packages: {undeclared}"
    stale = sorted(set(NOT_DECLARED) - third_party)
    assert not stale, f"no longer imported, delete from NOT_DECLARED: {stale}"


def test_core_imports_stay_light():
    """The CLI, a catalog and a searcher import no training, ML-framework or report library."""
    code = (
        "import json, sys\n"
        "import vestis, vestis.cli.main, vestis.catalog.catalog, vestis.search.searcher, vestis.embed\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers', 'matplotlib', 'jinja2', 'sklearn',\n"
        "         'peft', 'ray', 'onnxruntime', 'faiss', 'qdrant_client')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
