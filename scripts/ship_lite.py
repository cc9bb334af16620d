"""Ship a trained vestis-lite run as the package's default model.

    .venv/bin/python scripts/ship_lite.py runs/lite [runs/composer/composer]

Copies the run's model directory into src/vestis/models/weights/vestis-lite/, adds the
composer if given, rewrites checksums.json over every file, and prints the size. Then run
scripts/record_expected_lite.py to refresh the stability fixture.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from vestis.models.lite import sha256
from vestis.models.registry import SHIPPED

run = Path(sys.argv[1])
source = run / "model" if (run / "model" / "config.json").is_file() else run
target = SHIPPED["vestis-lite"]
if target.exists():
    shutil.rmtree(target)
shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.onnx"))
if len(sys.argv) > 2:
    shutil.copytree(sys.argv[2], target / "composer")
files = sorted(p for p in target.rglob("*") if p.is_file() and p.name != "checksums.json")
(target / "checksums.json").write_text(
    json.dumps({str(p.relative_to(target)): sha256(p) for p in files}, indent=1) + "\n"
)
size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
print(f"shipped {source} → {target} ({size / 1e6:.1f} MB, {len(files)} files)")
