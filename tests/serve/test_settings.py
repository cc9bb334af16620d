"""Settings from a file, the environment and flags; the token rules; ``vestis serve`` refusing to start."""

from __future__ import annotations

import json

import pytest

from vestis.cli.main import main
from vestis.errors import OptionsError
from vestis.serve.settings import ServeSettings, check_startable, load_settings

TOKEN = "a-token-of-enough-length"


def test_a_file_then_the_environment_then_flags(tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text("catalog: from-file\nmax_k: 30\nport: 9000\ncors_origins: [https://a.example]\n")
    env = {"VESTIS_SERVE_MAX_K": "40", "VESTIS_SERVE_CATALOG": "123", "VESTIS_SERVE_READ_ONLY": "true"}
    s = load_settings(config, overrides={"max_k": 50, "port": None}, environ=env)
    assert (s.catalog, s.max_k, s.port, s.read_only) == ("123", 50, 9000, True)  # a path stays text
    assert s.cors_origins == ["https://a.example"] and s.token is None


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"max_k": 0}, "max_k must be at least 1"),
        ({"port": "http"}, "port must be an integer"),
        ({"max_kk": 3}, "did you mean 'max_k'"),
        ({"cors_origins": "https://a.example"}, "cors_origins must be a list"),
        ({"token": TOKEN}, "not a setting"),
    ],
)
def test_bad_settings_are_refused_with_one_line(values, says):
    with pytest.raises(OptionsError, match=says):
        load_settings(overrides=values, environ={})


def test_bad_files_and_environment_values(tmp_path):
    with pytest.raises(OptionsError, match="cannot read the settings file"):
        load_settings(tmp_path / "missing.yaml", environ={})
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(OptionsError, match="mapping"):
        load_settings(tmp_path / "list.yaml", environ={})
    with pytest.raises(OptionsError, match="VESTIS_SERVE_MAX_K"):
        load_settings(environ={"VESTIS_SERVE_MAX_K": "[unclosed"})


def test_the_token_comes_from_the_environment_or_a_file_never_a_default(tmp_path):
    assert load_settings(environ={}).token is None
    assert load_settings(environ={"VESTIS_API_TOKEN": f"  {TOKEN}\n"}).token == TOKEN
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "-from-file\n")
    s = load_settings(overrides={"token_file": str(token_file)}, environ={"VESTIS_API_TOKEN": TOKEN})
    assert s.token == TOKEN + "-from-file" and TOKEN not in repr(s) and "token" not in s.public()
    with pytest.raises(OptionsError, match="at least 16"):
        load_settings(environ={"VESTIS_API_TOKEN": "short"})
    with pytest.raises(OptionsError, match="cannot read token_file"):
        load_settings(overrides={"token_file": str(tmp_path / "nope")}, environ={})


def test_what_must_not_start():
    with pytest.raises(OptionsError, match="no catalog"):
        check_startable(ServeSettings(read_only=True))
    with pytest.raises(OptionsError, match="refusing to start writable without a token"):
        check_startable(ServeSettings(catalog="c"))
    with pytest.raises(OptionsError, match="protect_reads needs a token"):
        check_startable(ServeSettings(catalog="c", read_only=True, protect_reads=True))
    check_startable(ServeSettings(catalog="c", read_only=True))
    check_startable(ServeSettings(catalog="c", token=TOKEN))


def test_the_command_refuses_to_start_writable_without_a_token(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("VESTIS_API_TOKEN", raising=False)
    assert main(["serve", "--catalog", str(tmp_path)]) == 2
    assert "refusing to start writable without a token" in capsys.readouterr().err
    assert main(["serve", "--catalog", str(tmp_path / "none"), "--read-only"]) == 2
    assert "no catalog at" in capsys.readouterr().err
    config = tmp_path / "s.json"
    config.write_text(json.dumps({"max_k": -1}))
    assert main(["serve", "--catalog", str(tmp_path), "--read-only", "--config", str(config)]) == 2
    assert "max_k must be at least 1" in capsys.readouterr().err


def test_the_server_keeps_idle_connections_longer_than_clients_do(catalog_dir, monkeypatch):
    """uvicorn's own keep-alive (5 s) equals httpx's and many proxies' idle expiry: a client could send
    on a connection the server is closing. The service keeps them ``keep_alive_s`` (75 s by default)."""
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    assert main(["serve", "--catalog", str(catalog_dir), "--read-only"]) == 0
    assert seen["timeout_keep_alive"] == 75.0
    monkeypatch.setenv("VESTIS_SERVE_KEEP_ALIVE_S", "20")
    assert main(["serve", "--catalog", str(catalog_dir), "--read-only"]) == 0
    assert seen["timeout_keep_alive"] == 20.0
