"""``vestis export onnx``: export vestis-lite for ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import typer

from vestis.cli.common import console

app = typer.Typer(help="Export models to other runtimes.", no_args_is_help=True)


@app.command("onnx")
def onnx_cmd(
    model: str = typer.Option(None, "--model", "-m", help="vestis-lite model directory (default: shipped)."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Output file (default: model.onnx in the model directory)."
    ),
) -> None:
    """Export the image path (embedding + every head) to ONNX with a dynamic batch size."""
    from vestis.models.lite import VestisLite
    from vestis.models.onnx_export import ONNX_NAME, export_onnx
    from vestis.models.registry import resolve_lite

    directory = resolve_lite(model)
    path = export_onnx(VestisLite.load(directory), out or directory / ONNX_NAME)
    console.print(
        f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); use it with `vestis extract --set runtime=onnx`"
    )
