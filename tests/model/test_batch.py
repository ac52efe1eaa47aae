"""scoring batch: the output follows CONTRACT §5, failures write nothing."""

from __future__ import annotations

import pandas as pd
import pytest
from support import SAMPLE_DIR

from scoring.batch import BATCH_COLUMNS, run_batch

AS_OF = "2026-06-15T09:00:00+02:00"


@pytest.fixture(scope="module")
def bundle(trained):
    from scoring.service import Bundle

    return Bundle.from_registry("champion")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_batch_output_follows_the_contract(tmp_path, bundle, suffix):
    out = tmp_path / f"decisions{suffix}"
    run_batch(SAMPLE_DIR, AS_OF, out, bundle=bundle)
    df = pd.read_csv(out, keep_default_na=False) if suffix == ".csv" else pd.read_parquet(out)
    assert set(BATCH_COLUMNS) <= set(df.columns)
    assert len(df) > 20 and df["debtor_id"].is_unique
    assert df["default_probability"].astype(float).between(0, 1).all()
    assert df["dispute_probability"].astype(float).between(0, 1).all()
    assert df["propensity"].astype(float).between(0, 1, inclusive="right").all()
    as_of = pd.Timestamp(AS_OF)
    for action, sched in zip(df["action"], df["scheduled_at"], strict=True):
        if action == "wait":
            assert sched in ("", None) or pd.isna(sched)
        else:
            assert sched[-6] in "+-", sched  # ISO 8601 with an offset
            t = pd.Timestamp(sched)
            assert as_of < t <= as_of + pd.Timedelta(days=7)
    assert df["reasons"].str.len().gt(10).all()
    rr = df["requires_review"].astype(str).str.lower().isin(["true", "false"])
    assert rr.all()


def test_batch_rejects_bad_arguments_and_writes_nothing(tmp_path, bundle):
    with pytest.raises(ValueError, match="offset"):
        run_batch(SAMPLE_DIR, "2026-06-15T09:00:00", tmp_path / "x.csv", bundle=bundle)
    with pytest.raises(ValueError, match=".parquet or .csv"):
        run_batch(SAMPLE_DIR, AS_OF, tmp_path / "x.xlsx", bundle=bundle)
    assert list(tmp_path.iterdir()) == []


def test_batch_on_invalid_data_writes_nothing(tmp_path, bundle, raw_tables):
    from scoring.contract import ContractError

    raw_tables["actions"].loc[0, "propensity"] = 3.0
    data = tmp_path / "data"
    data.mkdir()
    for name, df in raw_tables.items():
        df.to_csv(data / f"{name}.csv", index=False)
    with pytest.raises(ContractError, match="propensity"):
        run_batch(data, AS_OF, tmp_path / "out.csv", bundle=bundle)
    assert not (tmp_path / "out.csv").exists()


def test_dask_engine_gives_identical_results(tmp_path, bundle):
    from scoring.contract import load_tables
    from scoring.dask_engine import batch_on_dask, dask_client

    local = run_batch(SAMPLE_DIR, AS_OF, tmp_path / "local.parquet", bundle=bundle)
    tables = load_tables(SAMPLE_DIR)
    with dask_client(n_workers=2) as client:
        distributed = batch_on_dask(tables, pd.Timestamp(AS_OF), bundle, client, partitions=5)
    distributed["as_of"] = distributed["as_of"].astype(str)
    pd.testing.assert_frame_equal(local.reset_index(drop=True), distributed.reset_index(drop=True))


def test_training_on_dask(tmp_path, monkeypatch):
    """The same training, with cases built and LightGBM fitted on a local Dask cluster."""
    from scoring.contract import load_tables
    from scoring.dask_engine import dask_client
    from scoring.models.dataset import build_training_set, load_training_config
    from scoring.models.tuning import Periods, tune_and_fit

    cfg = load_training_config()
    tables = load_tables(SAMPLE_DIR)
    with dask_client(n_workers=2) as client:
        ts = build_training_set(tables, cfg, progress=False, client=client)
        res = tune_and_fit(
            "default_risk",
            "default",
            Periods.of(ts, "default"),
            config=cfg,
            monotone=True,
            trials=2,
            timeout=120,
            progress=False,
            client=client,
        )
    local = build_training_set(tables, cfg, progress=False)
    pd.testing.assert_frame_equal(ts.X, local.X)
    assert res.model.info["valid_auc"] > 0.6
    p = res.model.predict_proba(ts.X.iloc[ts.period("test")])
    assert ((p > 0) & (p < 1)).all()


def test_chunked_decisions_are_the_whole_batch(tmp_path, bundle, monkeypatch):
    """The in-process engine decides in chunks (for its progress bar): the output is the one
    of a single pass over every case."""
    import scoring.batch as batch_mod
    from scoring.cases import build_cases
    from scoring.contract import load_tables
    from scoring.service import batch_decisions

    whole = batch_decisions(bundle, build_cases(load_tables(SAMPLE_DIR), pd.Timestamp(AS_OF)))
    whole["as_of"] = whole["as_of"].astype(str)
    monkeypatch.setattr(batch_mod, "CHUNK", 7)
    chunked = run_batch(SAMPLE_DIR, AS_OF, tmp_path / "c.parquet", bundle=bundle, progress=True)
    assert len(whole) > 3 * 7
    pd.testing.assert_frame_equal(whole, chunked)
