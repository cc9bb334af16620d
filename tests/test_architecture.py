"""The package's shape: no two parts of vestis import each other, and the core imports light.

The import graph is read from the source with ``ast`` (nothing is imported), one node per
top-level part of ``vestis`` (``catalog``, ``search``, ``errors``, ...; ``vestis`` itself for
its ``__init__``). Every import counts: at module level, inside functions (lazy) and under
``TYPE_CHECKING``, since each is a dependency a reader must follow.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import vestis

PACKAGE = Path(vestis.__file__).parent  # the tree under test, wherever it was imported from
ROOT = "vestis"
HEAVY = ("torch", "transformers", "sentence_transformers", "matplotlib", "jinja2")
CORE = "import vestis, vestis.schema, vestis.registry, vestis.errors"

# part -> imported part -> ["file:line", ...]
Graph = dict[str, dict[str, list[str]]]


def _part(name: str) -> str | None:
    """The top-level part of vestis that a dotted module name lies in, or None outside vestis."""
    parts = name.split(".")
    if parts[0] != ROOT:
        return None
    return parts[1] if len(parts) > 1 else ROOT


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, package: Path) -> list[str]:
    """Dotted names of what an import statement in ``module`` brings in."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolve against the module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1])
        source = f"{base}.{node.module}" if node.module else base
    else:
        source = node.module or ""
    if source == ROOT:  # "from vestis import x": a part when x is one, else the package's __init__
        return [
            f"{ROOT}.{a.name}"
            if (package / a.name).is_dir() or (package / f"{a.name}.py").is_file()
            else ROOT
            for a in node.names
        ]
    return [source]


def import_graph(package: Path = PACKAGE) -> Graph:
    graph: Graph = defaultdict(lambda: defaultdict(list))
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        parts = [ROOT, *rel.with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        module = ".".join(parts)
        source = _part(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for name in _imported(node, module, is_package, package):
                target = _part(name)
                if target is not None and target != source:
                    graph[source][target].append(f"{ROOT}/{rel.as_posix()}:{node.lineno}")
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """One shortest cycle through each group of parts that reach each other (Tarjan's SCCs)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_shortest_cycle(graph, group) for group in groups]


def _shortest_cycle(graph: Graph, group: list[str]) -> list[str]:
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, {})):
                if w == start:
                    return [*paths[v], start]
                if w in members and w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start} in {group}")  # pragma: no cover


def describe(graph: Graph, cycle: list[str]) -> str:
    lines = [" -> ".join(cycle)]
    for a, b in itertools.pairwise(cycle):
        lines.append(f"  {a} -> {b}: {', '.join(graph[a][b])}")
    return "\n".join(lines)


# ---- tests --------------------------------------------------------------------------------------
def test_the_cycle_finder_finds_and_reports_a_cycle() -> None:
    toy: Graph = {"a": {"b": ["a.py:1"]}, "b": {"c": ["b.py:2"]}, "c": {"a": ["c.py:3"], "d": ["c.py:4"]}}
    (cycle,) = cycles(toy)
    assert cycle == ["a", "b", "c", "a"]
    assert "c -> a: c.py:3" in describe(toy, cycle)
    assert cycles({"a": {"b": []}, "b": {"c": []}}) == []


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    files = {
        "__init__.py": "from vestis.a import x\n",
        "a/__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vestis.b import y\n",
        "a/m.py": "def f():\n    import vestis.c.deep\n    from ..d import z\n    from . import sibling\n",
        "b.py": "from vestis import e, __version__\nimport numpy\n",
        "e/__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path)
    assert {v: sorted(ts) for v, ts in graph.items()} == {
        ROOT: ["a"],
        "a": ["b", "c", "d"],  # TYPE_CHECKING, lazy, relative; not itself
        "b": ["e", ROOT],  # a part by name, and the package's __init__
    }
    assert graph["a"]["c"] == ["vestis/a/m.py:2"]


def test_the_real_graph_is_read() -> None:
    graph = import_graph()
    assert "schema" in graph["catalog"] and "schema" in graph[ROOT]
    assert "vestis/outfits/complete.py" in {s.split(":")[0] for s in graph["outfits"]["schema"]}  # lazy


def test_no_part_of_vestis_imports_one_that_imports_it_back() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles between parts of vestis (move the shared piece below both):\n" + (
        "\n".join(describe(graph, c) for c in found)
    )


@pytest.fixture(scope="module")
def core_modules() -> set[str]:
    """The modules that importing the core loads, in a fresh interpreter on this tree."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(PACKAGE.parent), os.environ.get("PYTHONPATH", "")])
    )
    code = f"{CORE}; import json, sys; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("heavy", HEAVY)
def test_the_core_imports_light(core_modules: set[str], heavy: str) -> None:
    assert heavy not in core_modules, f"`{CORE}` imports {heavy}"
