from __future__ import annotations

import json

import pytest

from tests.helpers import draw_item
from vestis.cli.main import main


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "shop"
    draw_item(folder / "a.jpg", "red", "top")
    draw_item(folder / "sub" / "b.jpg", "navy", "bottom")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_single_image_prints_one_valid_object(tiny_lite, photos, capsys):
    assert main(["extract", str(photos / "a.jpg"), "--model", str(tiny_lite), "--confidence"]) == 0
    record = json.loads(capsys.readouterr().out)
    from vestis.schema import load_schema

    assert load_schema("vestis").validate(record["attributes"]).ok
    assert set(record["confidence"]) == set(record["attributes"])


def test_folder_to_jsonl_file_with_a_corrupt_image(tiny_lite, photos, tmp_path, capsys):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    out = tmp_path / "attrs.jsonl"
    code = main(["extract", str(photos), "--model", str(tiny_lite), "--schema", "denali", "-o", str(out)])
    assert code == 1  # the work ran and found a failure
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["image"].rsplit("/", 1)[-1] for line in lines] == ["a.jpg", "broken.jpg", "b.jpg"]
    broken = lines[1]
    assert "error" in broken and broken["attributes"]["type"] is None
    assert "1 of 3 images failed" in capsys.readouterr().err


def test_missing_path_and_unknown_backend_exit_2(tiny_lite, tmp_path, photos, capsys):
    assert main(["extract", str(tmp_path / "nope.jpg")]) == 2
    assert main(["extract", str(photos), "--backend", "nope"]) == 2
    assert "unknown extractor 'nope'" in capsys.readouterr().err


def test_onnx_export_matches_torch(tiny_lite, photos, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_lite, model)
    assert main(["export", "onnx", "--model", str(model)]) == 0
    torch_out = tmp_path / "torch.jsonl"
    onnx_out = tmp_path / "onnx.jsonl"
    common = [str(photos), "--model", str(model), "--confidence"]
    assert main(["extract", *common, "--set", "runtime=torch", "-o", str(torch_out)]) == 0
    assert main(["extract", *common, "--set", "runtime=onnx", "-o", str(onnx_out)]) == 0
    for a, b in zip(torch_out.read_text().splitlines(), onnx_out.read_text().splitlines(), strict=True):
        ra, rb = json.loads(a), json.loads(b)
        assert ra["attributes"] == rb["attributes"]
        assert all(abs(ra["confidence"][k] - rb["confidence"][k]) < 1e-3 for k in ra["confidence"])
