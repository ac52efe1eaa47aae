"""With MLFLOW_TRACKING_URI set to a database, artifacts do not land in ./mlruns of the
current folder (issue 11)."""

from __future__ import annotations

from pathlib import Path

from scoring.registry import artifact_location
from scoring.settings import Settings


def test_artifacts_go_next_to_the_database_or_under_home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    s = Settings(home=home, mlflow_tracking_uri=None)
    assert artifact_location(s) == (home.resolve() / "artifacts").as_uri()
    db = tmp_path / "store" / "mlflow.db"
    s = Settings(home=home, mlflow_tracking_uri=f"sqlite:///{db}")
    assert artifact_location(s) == (db.parent.resolve() / "artifacts").as_uri()
    s = Settings(home=home, mlflow_tracking_uri="postgresql://u@db/mlflow")
    assert artifact_location(s) == (home.resolve() / "artifacts").as_uri()
    s = Settings(home=home, mlflow_tracking_uri="http://mlflow:5000")
    assert artifact_location(s) is None  # the server decides
    assert not (Path.cwd() / "mlruns").exists()
