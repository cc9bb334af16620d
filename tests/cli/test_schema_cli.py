from __future__ import annotations

import json

from vestis.cli.main import main


def test_schema_list_names_every_preset(capsys):
    assert main(["schema", "list"]) == 0
    out = capsys.readouterr().out
    assert "vestis" in out and "denali" in out and "florence" in out


def test_schema_show(capsys):
    assert main(["schema", "show", "denali"]) == 0
    assert "defect_type" in capsys.readouterr().out


def test_schema_export_json_schema_to_file(tmp_path):
    out = tmp_path / "vestis.schema.json"
    assert main(["schema", "export", "vestis", "--out", str(out)]) == 0
    js = json.loads(out.read_text())
    assert "colour" in js["properties"]


def test_schema_export_pydantic_source_is_importable(tmp_path):
    out = tmp_path / "attrs.py"
    assert main(["schema", "export", "denali", "-f", "pydantic", "-o", str(out)]) == 0
    namespace: dict = {}
    exec(compile(out.read_text(), str(out), "exec", dont_inherit=True), namespace)
    model = namespace["DenaliAttributes"]
    assert model(type="jeans", size="W32 L34").type == "jeans"


def test_schema_export_yaml_round_trips(tmp_path):
    out = tmp_path / "copy.yaml"
    assert main(["schema", "export", "vestis", "-f", "yaml", "-o", str(out)]) == 0
    assert main(["schema", "show", str(out)]) == 0


def test_unknown_schema_is_a_clear_error_with_exit_code_2(capsys):
    assert main(["schema", "show", "nope"]) == 2
    assert "unknown schema 'nope'" in capsys.readouterr().err


def test_help_explains_itself(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "schema" in out and "data" in out and "eval" in out
