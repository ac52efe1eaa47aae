"""Conventions of the command line: version, choices in --help, one --alias, python -m."""

from __future__ import annotations

import subprocess
import sys

import yaml
from typer.testing import CliRunner

from scoring.cli import app


def _run(*args: str, **kw):
    return CliRunner().invoke(app, list(args), **kw)


def test_version_and_python_m():
    from importlib.metadata import version

    res = _run("--version")
    assert res.exit_code == 0 and res.output.strip() == f"scoring {version('scoring')}"
    out = subprocess.run(
        [sys.executable, "-m", "scoring", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "batch" in out.stdout and "Usage: scoring" in out.stdout


def test_choices_are_shown_and_checked():
    res = _run("batch", "--help")
    assert "[local|dask]" in res.output.replace(" ", "") or "local|dask" in res.output
    assert "fr|en" in res.output.replace(" ", "")
    assert "--alias" in res.output
    res = _run("batch", "--data", ".", "--as-of", "x", "--output", "o.csv", "--lang", "de")
    assert res.exit_code == 2 and "'de' is not one of" in res.output
    assert "--alias" in _run("report", "--help").output
    assert "--key" in _run("promote", "--help").output


def test_keys_create(tmp_path, monkeypatch):
    from scoring.api.auth import hash_key, parse_key_file
    from scoring.settings import get_settings

    path = tmp_path / "keys.yaml"
    monkeypatch.setenv("SCORING_API_KEYS_FILE", str(path))
    get_settings.cache_clear()
    try:
        res = _run("keys", "create", "--name", "crm-prod", "--role", "scoring")
        assert res.exit_code == 0, res.output
        plain = res.stdout.strip().splitlines()[-1]
        keys = parse_key_file(path)
        assert [(k.name, k.sha256, set(k.roles)) for k in keys] == [
            ("crm-prod", hash_key(plain), {"scoring"})
        ]
        assert plain not in path.read_text()
        res = _run("keys", "create", "--name", "audit", "--role", "compliance", "--role", "admin")
        assert res.exit_code == 0
        assert {k.name for k in parse_key_file(path)} == {"crm-prod", "audit"}
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        res = _run("keys", "create", "--name", "crm-prod", "--role", "scoring")
        assert res.exit_code == 2 and "exists already" in res.output
        res = _run("keys", "create", "--name", "x", "--role", "root")
        assert res.exit_code == 2
        assert yaml.safe_load(path.read_text())["keys"][0]["name"] == "crm-prod"
    finally:
        get_settings.cache_clear()


def test_models_lists_champion_and_challenger(trained):
    res = _run("models")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "test_roc_auc" in lines[0]
    assert any(line.split()[:2] == ["default_risk", "champion"] for line in lines[1:])
    assert any(line.split()[:2] == ["policy", "challenger"] for line in lines[1:])


def test_missing_alias_is_a_clear_error(trained, tmp_path):
    res = _run("report", "--alias", "nosuchalias", "--out", str(tmp_path / "r.html"))
    assert res.exit_code == 1 and "no version of" in res.output and "nosuchalias" in res.output
