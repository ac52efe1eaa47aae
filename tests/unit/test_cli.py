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


def test_report_period_and_key_options(tmp_path, monkeypatch):
    import datetime as dt

    from scoring import compliance_report

    calls: list[dict] = []

    def fake_build_report(alias, out, **kw):
        calls.append({"alias": alias, "out": out, **kw})
        if kw["include_keys"] == ["boom"]:
            raise compliance_report.ReportError("the audited decisions carry no API key name")
        return out

    monkeypatch.setattr(compliance_report, "build_report", fake_build_report)
    out = str(tmp_path / "r.html")
    res = _run("report", "--alias", "challenger", "--out", out, "--no-progress")
    assert res.exit_code == 0, res.output
    kw = calls.pop()
    assert (kw["since"], kw["until"], kw["include_keys"]) == (None, None, None)
    assert kw["exclude_keys"] == ("*test*",) and kw["min_n"] == 30 and kw["alias"] == "challenger"
    res = _run(
        "report", "--out", out, "--since", "2026-03-01", "--until", "2026-03-31T12:00+02:00",
        "--include-key", "crm-*", "--include-key", "collection-?", "--exclude-key", "*qa*",
        "--min-n", "5",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    kw = calls.pop()
    assert kw["since"] == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)  # no zone: UTC
    assert kw["until"] == dt.datetime(2026, 3, 31, 10, tzinfo=dt.UTC)
    assert kw["include_keys"] == ["crm-*", "collection-?"] and kw["exclude_keys"] == ("*qa*",)
    assert kw["min_n"] == 5
    res = _run("report", "--out", out, "--keep-all-keys")
    assert res.exit_code == 0 and calls.pop()["exclude_keys"] == ()

    bad = [
        (["--since", "last monday"], "'--since'", "not a date or time"),
        (["--until", "2026-02-30"], "'--until'", "not a date or time"),
        (["--since", "2026-03-02", "--until", "2026-03-02"], "'--since'", "the period is empty"),
        # typer 0.29+'s wording, then click's
        (["--min-n", "0"], "'--min-n'", ("greater than or equal to 1", "x>=1")),
        (["--min-n", "many"], "'--min-n'", "valid integer"),
        (["--include-key", " "], "'--include-key'", "cannot be empty"),
        (["--keep-all-keys", "--exclude-key", "*qa*"], "'--exclude-key'", "--keep-all-keys"),
    ]
    for args, option, problem in bad:
        res = _run("report", "--out", out, *args)
        text = " ".join(res.output.replace("│", " ").split())
        assert res.exit_code == 2, (args, res.output)
        problems = problem if isinstance(problem, tuple) else (problem,)
        assert f"Invalid value for {option}" in text, (args, text)
        assert any(p in text for p in problems), (args, text)
    assert not calls  # nothing was built
    # an error of the report itself: exit 1 with its message
    res = _run("report", "--out", out, "--include-key", "boom")
    assert res.exit_code == 1 and "error: the audited decisions carry no API key name" in res.output
