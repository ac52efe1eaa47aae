"""The training configuration is a validated, frozen model: errors name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.configuration import ConfigError
from scoring.models.config import IntRange, TrainingConfig, load_training_config

ROOT = Path(__file__).resolve().parents[2]


def test_packaged_default_loads_and_is_frozen():
    cfg = load_training_config()
    assert isinstance(cfg, TrainingConfig)
    assert cfg.sampling.step_days == 14 and cfg.split.min_cases == 200
    assert isinstance(cfg.search_space["num_leaves"], IntRange)
    assert set(cfg.models) == {"default_risk", "dispute_risk"}
    with pytest.raises(Exception, match="frozen"):
        cfg.split.min_cases = 3  # type: ignore[misc]
    assert len(cfg.fingerprint()) == 16


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("extends: default\nsplit: {min_casez: 3}\n", r"split\.min_casez: Extra inputs"),
        (
            "extends: default\nsearch_space: {x: {type: flaot, low: 1, high: 2}}\n",
            r"search_space\.x",
        ),
        (
            "extends: default\nsearch_space: {x: {type: int, low: 5, high: 2}}\n",
            r"low \(5\) must be below",
        ),
        ("extends: default\nsampling: {step_days: 0}\n", r"sampling\.step_days"),
        ("extends: default\nmodels: {churn: {label: default}}\n", r"models\.churn"),
        ("sampling: {step_days: 7}\n", r"search_space: Field required"),
        ("extends: 3\n", "extends must be"),
        ("- a list\n", "must be a YAML mapping"),
    ],
)
def test_errors_name_the_field(tmp_path, text, problem):
    p = tmp_path / "t.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=problem) as err:
        load_training_config(p)
    assert str(p) in str(err.value)


def test_missing_file_and_cycle(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_training_config(tmp_path / "nope.yaml")
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_training_config(tmp_path / "a.yaml")


def test_extends_merges_over_the_base_and_round_trips(tmp_path):
    p = tmp_path / "exp.yaml"
    p.write_text(
        "extends: default\nversion: x\nsearch_space: {max_depth: {type: int, low: 2, high: 3}}\n"
    )
    cfg = load_training_config(p)
    base = load_training_config()
    assert cfg.version == "x" and cfg.search_space["max_depth"].high == 3
    assert cfg.search_space["num_leaves"] == base.search_space["num_leaves"]  # kept
    assert cfg.fingerprint() != base.fingerprint()
    back = load_training_config(cfg.to_yaml(tmp_path / "full.yaml"))
    assert back == cfg


def test_every_experiment_configuration_validates():
    files = sorted((ROOT / "training" / "configs").glob("*.yaml"))
    assert files
    for f in files:
        cfg = load_training_config(f)
        assert cfg.version != load_training_config().version, f"{f.name}: give it its own version"


def test_cli_names_the_field(tmp_path, mlflow_home):
    from typer.testing import CliRunner

    from scoring.cli import app

    p = tmp_path / "bad.yaml"
    p.write_text("extends: default\ntuning: {trails: 3}\n")
    res = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--config", str(p)])
    assert res.exit_code == 1
    assert "tuning.trails: Extra inputs are not permitted" in res.output
