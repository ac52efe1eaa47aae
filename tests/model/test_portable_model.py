"""A registered risk model travels: it carries the code it loads and pins its complete
requirements, so a fresh virtualenv with only those requirements loads it and predicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pins(lines: list[str]) -> dict[str, str]:
    from packaging.utils import canonicalize_name

    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            out[canonicalize_name(name.split("[", 1)[0])] = version.split(";", 1)[0].strip()
    return out


@pytest.fixture(scope="module")
def champion_dir(trained, tmp_path_factory) -> Path:
    import mlflow.artifacts

    from scoring import registry

    name = registry.registered_name("default_risk")
    dest = tmp_path_factory.mktemp("portable")
    return Path(mlflow.artifacts.download_artifacts(f"models:/{name}@champion", dst_path=str(dest)))


def test_the_loading_path_imports_no_service_dependencies():
    code = (
        "import sys, scoring.models.risk; "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('scoring') "
        "or m.split('.')[0] in ('pydantic', 'holidays', 'optuna', 'shap', 'fastapi'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    from scoring.registry import PYFUNC_MODULES

    shipped = {
        m.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for m in PYFUNC_MODULES
    }
    assert set(out) == shipped, set(out) ^ shipped


def test_the_model_carries_its_code_and_complete_pinned_requirements(champion_dir):
    from scoring.registry import PYFUNC_MODULES

    for rel in PYFUNC_MODULES:
        assert (champion_dir / "code" / rel).is_file(), rel
    reqs = _pins((champion_dir / "requirements.txt").read_text().splitlines())
    for must in ("mlflow", "lightgbm", "numpy", "pandas", "scikit-learn", "scipy", "cloudpickle"):
        assert must in reqs, must
    assert len(reqs) > 40  # the whole closure, not four packages
    lock = ROOT / "requirements.lock"
    from importlib.metadata import version

    locked = _pins(lock.read_text().splitlines()) if lock.exists() else {}
    # the environment installed from the lock (make install, CI; not make lowest)
    if locked and all(locked.get(k) == version(k) for k in ("mlflow", "lightgbm", "pandas")):
        differ = {k: (v, locked.get(k)) for k, v in reqs.items() if k in locked and locked[k] != v}
        assert not differ, f"logged pins differ from requirements.lock: {differ}"


def test_the_training_data_is_logged_as_run_inputs(trained):
    from mlflow import MlflowClient

    from scoring import registry

    client = MlflowClient()
    name = registry.registered_name("default_risk")
    mv = client.get_model_version_by_alias(name, "champion")
    run = client.get_run(mv.run_id)
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert {"debtors", "invoices", "actions"} <= set(inputs)
    profile = json.loads(inputs["debtors"].dataset.profile)
    assert profile["num_rows"] > 0
    assert any(
        t.key == "mlflow.data.context" and t.value == "training" for t in inputs["debtors"].tags
    )


def test_a_fresh_virtualenv_with_only_the_logged_requirements_predicts(
    champion_dir, trained, tmp_path
):
    """Installs the model's requirements.txt (from the package index, with pip's cache) into
    an empty venv, outside the repository, and predicts the logged input example."""
    from scoring import registry

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    inst = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-r", str(champion_dir / "requirements.txt")],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert inst.returncode == 0, inst.stderr[-3000:]
    X = trained.ts.X.iloc[:25]
    frame = registry.signature_frame(X)
    frame.to_parquet(tmp_path / "input.parquet")
    script = (
        "import json, sys, importlib.util\n"
        "import pandas as pd, mlflow.pyfunc\n"
        "assert importlib.util.find_spec('scoring') is None, 'scoring installed in the venv'\n"
        "m = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "X = pd.read_parquet(sys.argv[2])\n"
        "import scoring\n"
        "out = m.predict(X)\n"
        "print(json.dumps({'p': out['probability'].tolist(), 'from': scoring.__file__}))\n"
    )
    run = subprocess.run(
        [str(py), "-c", script, str(champion_dir), str(tmp_path / "input.parquet")],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["from"].startswith(str(champion_dir)), got["from"]
    want = trained.result.models["default_risk"].predict_proba(X)
    np.testing.assert_allclose(np.asarray(got["p"]), want, atol=1e-9)
