"""Cold start of a one-shot ``vestis search``: wall-clock seconds of whole fresh processes.

Builds (or reuses) the demo catalog from ``examples/catalog``, runs each query once so the ONNX
exports are in the vestis cache, then times ``--runs`` fresh processes per query (text, photo,
photo + modification). Prints a table and writes benchmarks/results/cold_start.json.

    .venv/bin/python benchmarks/cold_start.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def vestis(*args: str) -> list[str]:
    return [sys.executable, "-m", "vestis.cli", *args]


def wall(cmd: list[str]) -> float:
    """Seconds from starting the process to its exit (it must succeed)."""
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalog", default="runs/bench/cold-catalog")
    ap.add_argument("--source", default="examples/catalog")
    ap.add_argument("--runs", type=int, default=5, help="fresh processes per query")
    ap.add_argument("--out", default="benchmarks/results/cold_start.json")
    args = ap.parse_args(argv)
    catalog = args.catalog
    if not (REPO / catalog / "catalog.json").is_file():
        subprocess.run(vestis("ingest", args.source, "--catalog", catalog), cwd=REPO, check=True)
    photo = str(sorted((REPO / args.source).glob("*.jpg"))[0].relative_to(REPO))
    queries = {
        "text": vestis("search", "--catalog", catalog, "red dress"),
        "image": vestis("search", "--catalog", catalog, "--image", photo),
        "image + modify": vestis("search", "--catalog", catalog, "--image", photo, "--modify", "in black"),
    }
    for cmd in queries.values():  # warm: exports into the vestis cache, files into the page cache
        wall(cmd)
    load_before = os.getloadavg()
    times = {name: [wall(cmd) for _ in range(args.runs)] for name, cmd in queries.items()}
    load_after = os.getloadavg()
    rows = {
        name: {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t), "runs_s": t}
        for name, t in times.items()
    }
    print(f"{'query':<16} {'median s':>9} {'min s':>7} {'max s':>7}   ({args.runs} fresh processes each)")
    for name, r in rows.items():
        print(f"{name:<16} {r['median_s']:>9.2f} {r['min_s']:>7.2f} {r['max_s']:>7.2f}")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    result = {
        "queries": {name: shlex.join(["python", *cmd[1:]]) for name, cmd in queries.items()},
        "results": rows,
        "load_average_1min": {"before": load_before[0], "after": load_after[0]},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    out = REPO / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
