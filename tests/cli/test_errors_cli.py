"""Everyday mistakes end in one line and exit 2; a bug shows its traceback and exits 1."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import vestis
from tests.helpers import draw_item
from vestis.cli.main import main


def one_line_error(capsys) -> str:
    """The stderr of a refused command: a single line, no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["schema", "export", "vestis", "--fromat", "yaml"], "No such option: --fromat"),
        (["schema", "show"], "Missing argument 'name'"),
        (["schema", "show", "vestis", "extra"], "unexpected extra argument"),
        (["schema", "shw"], "Did you mean 'show'?"),
        (["schema", "export", "vestis", "--format", "xml"], "Invalid value for '--format'"),
        (["outfits", "score", "--catalog", "nowhere"], "Missing argument 'items'"),
        (["train", "lite", "-c", "x.yaml"], "No such option: -c"),
        (["catalog", "dedup", "--catalog", "x", "--threshold", "0.9"], "No such option: --threshold"),
    ],
)
def test_usage_errors_are_one_line_with_a_help_hint(argv, expected, capsys):
    assert main(argv) == 2
    err = one_line_error(capsys)
    assert expected in err
    assert "--help" in err


def test_mistyped_option_suggests_the_close_one(capsys):
    assert main(["schema", "export", "vestis", "--fromat", "yaml"]) == 2
    assert "--format" in one_line_error(capsys)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"vestis {vestis.__version__}"


def test_group_without_subcommand_prints_its_help(capsys):
    assert main(["schema"]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "export" in captured.out + captured.err


def test_a_user_error_is_one_line_even_with_verbose(capsys):
    assert main(["-v", "schema", "show", "nope"]) == 2
    assert "unknown schema 'nope'" in one_line_error(capsys)


def test_a_bug_shows_its_traceback_and_exits_1(monkeypatch, capsys):
    def broken(name):
        raise ValueError("an internal invariant broke")

    monkeypatch.setattr("vestis.cli.schema.load_schema", broken)
    assert main(["schema", "show", "vestis"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "an internal invariant broke" in err and "bug" in err


def test_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(name):
        raise KeyboardInterrupt

    monkeypatch.setattr("vestis.cli.schema.load_schema", interrupted)
    assert main(["schema", "show", "vestis"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_corrupt_schema_file(tmp_path, capsys):
    bad = tmp_path / "mine.yaml"
    bad.write_text("name: mine\nfields: [unclosed\n")
    assert main(["schema", "show", str(bad)]) == 2
    assert "cannot parse" in one_line_error(capsys)


def test_extract_missing_path_and_no_images(tmp_path, capsys):
    assert main(["extract", str(tmp_path / "nope.jpg"), "-b", "pixel-colour"]) == 2
    assert "no such file or directory" in one_line_error(capsys)
    (tmp_path / "empty").mkdir()
    assert main(["extract", str(tmp_path / "empty"), "-b", "pixel-colour"]) == 2
    assert "no images found" in one_line_error(capsys)


def test_extract_with_some_images_failing_exits_1_and_says_how_many(tmp_path, capsys):
    draw_item(tmp_path / "shop" / "a.jpg", "red", "top")
    (tmp_path / "shop" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    assert main(["extract", str(tmp_path / "shop"), "-b", "pixel-colour"]) == 1
    captured = capsys.readouterr()
    assert "1 of 2 images failed" in captured.err
    assert len(captured.out.strip().splitlines()) == 2  # the good image still has its line


def test_extract_bad_set_value(tmp_path, capsys):
    draw_item(tmp_path / "a.jpg", "red", "top")
    assert main(["extract", str(tmp_path / "a.jpg"), "-b", "pixel-colour", "--set", "oops"]) == 2
    assert "--set expects KEY=VALUE" in one_line_error(capsys)
    assert main(["extract", str(tmp_path / "a.jpg"), "-b", "pixel-colour", "--set", "nope=1"]) == 2
    assert "unknown pixel-colour extractor option 'nope'" in one_line_error(capsys)


def test_python_dash_m_vestis(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    ok = subprocess.run(
        [sys.executable, "-m", "vestis", "--version"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert ok.returncode == 0 and ok.stdout.strip() == f"vestis {vestis.__version__}"
    bad = subprocess.run(
        [sys.executable, "-m", "vestis", "schema", "show", "--nme"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "No such option: --nme" in bad.stderr and "Traceback" not in bad.stderr


def test_extract_prints_the_items_of_each_photo(tmp_path, capsys):
    from PIL import Image

    path = tmp_path / "shot.png"
    Image.new("RGB", (30, 40), (30, 150, 60)).save(path)
    assert main(["extract", str(path), "-b", "pixel-colour", "--parser", "whole"]) == 0
    import json

    record = json.loads(capsys.readouterr().out)
    assert record["kind"] == "product" and record["items"][0]["box"] == [0, 0, 30, 40]
    assert record["items"][0]["attributes"] == record["attributes"]
    assert main(["extract", str(path), "-b", "pixel-colour", "--parser", "nope"]) == 2
