"""The model card written into each registered version's description, and its registration."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from scoring import model_card
from scoring.model_card import CardFacts, version_description, version_descriptions


def _periods() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cases": [900, 200, 150, 250],
            "default_rate": [0.1, 0.1, 0.1, 0.1],
            "dispute_rate": [0.03, 0.03, 0.03, 0.03],
            "from": pd.to_datetime(
                ["2025-01-30 08:00", "2025-12-18 08:00", "2026-02-26 08:00", "2026-05-07 07:00"],
                utc=True,
            ),
            "to": pd.to_datetime(
                ["2025-12-04 08:00", "2026-02-12 08:00", "2026-04-23 07:00", "2026-07-16 07:00"],
                utc=True,
            ),
        },
        index=pd.Index(["train", "valid", "calib", "test"], name="period"),
    )


def _segments(buckets: int = 2) -> pd.DataFrame:
    rows = [("overall", "all", 250, 0.13, 0.934), ("segment", "B2B", 170, 0.12, 0.921)]
    rows += [("segment", "B2C", 80, 0.15, 0.953)]
    rows += [("bucket", f"b{i:04d}", 10, 0.5, 0.7) for i in range(buckets)]
    t = pd.DataFrame(rows, columns=["grouping", "group", "n", "prevalence", "roc_auc"])
    return t.assign(pr_auc=0.7, brier=0.05, log_loss=0.2, ks=0.6, ece=0.01)


def _facts(**kw) -> CardFacts:
    base = dict(
        key="default_risk",
        data_dir="data/x",
        fingerprint="abc123",
        periods=_periods(),
        segment_metrics=_segments(),
        tags={"trees": "147", "leaves": "1881"},
    )
    return CardFacts(**(base | kw))  # type: ignore[arg-type]


def test_card_of_a_risk_model():
    md = version_description(_facts())
    for heading in ("Intended use", "Data period", "Metrics by segment", "Limits"):
        assert f"\n## {heading}\n" in md
    assert md.startswith("# Model card: default_risk\n")
    assert "Probability of payment default" in md and "not for credit granting" in md
    # the periods with their dates and sizes
    assert "| training | 2025-01-30 | 2025-12-04 | 900 |" in md
    assert "| validation (model choice) | 2025-12-18 | 2026-02-12 | 200 |" in md
    assert "| test | 2026-05-07 | 2026-07-16 | 250 |" in md
    # the metrics by segment, counts as integers
    assert "| grouping | group | n | prevalence | roc_auc | pr_auc | brier | ece |" in md
    assert "| segment | B2C | 80 | 0.1500 | 0.9530 | 0.7000 | 0.0500 | 0.0100 |" in md
    assert "| bucket | b0001 | 10 |" in md
    # human oversight
    oversight = md.split("## Human oversight", 1)[1]
    assert "`requires_review`" in oversight and "`pending_review`" in oversight
    assert "reviewer role approves, rejects or replaces" in oversight
    assert "contest" in oversight and "paused" in oversight and "R9_contest_pause" in oversight
    assert "`data/x`" in md and "`abc123`" in md and "147 trees" in md
    assert "run artifact `default_risk/default_risk_model_card.md`" in md


def test_card_of_a_model_without_metrics_by_segment():
    metrics = {"ope_dr_value": 12.5, "ope_n": 54481.0, "ope_ess": 3770.3, "train_seconds": 9.0}
    md = version_description(
        _facts(key="policy", segment_metrics=None, metrics=metrics, tags={"learner": "dr"})
    )
    assert "logged no metrics by segment" in md
    assert "| ope_n | 54,481 |" in md and "| ope_dr_value | 12.5000 |" in md
    assert "train_seconds" not in md and "learner: dr" in md
    assert "Recommends, for a debtor" in md and "## Human oversight" in md


def test_card_fits_in_the_registry_column():
    long = version_description(_facts(segment_metrics=_segments(buckets=400)))
    assert len(long) <= model_card.MAX_DESCRIPTION_CHARS
    # the bucket rows go first; the overall and segment rows and the oversight stay
    assert "| bucket |" not in long and "| segment | B2C |" in long
    assert "## Human oversight" in long and "truncated" not in long
    tiny = version_description(_facts(), max_chars=600)
    assert len(tiny) <= 600 and tiny.endswith("see the run's artifacts)\n")
    short = version_description(_facts())
    assert len(short) < model_card.MAX_DESCRIPTION_CHARS and "| bucket |" in short


def test_descriptions_of_a_run():
    cards = version_descriptions(
        ["default_risk", "policy"],
        _periods(),
        {"default_risk": _segments()},
        {"ope_dr_value": 1.0},
        {"policy": {"learner": "t"}},
        "data/x",
        "fp",
    )
    assert set(cards) == {"default_risk", "policy"}
    assert "| segment | B2B |" in cards["default_risk"] and "learner: t" in cards["policy"]


class _FakeClient:
    """The MLflow client calls of :func:`scoring.registry.register_all`."""

    def __init__(self, fail_description: bool = False):
        self.fail_description = fail_description
        self.descriptions: dict[tuple[str, str], str] = {}
        self.deleted: list[tuple[str, str]] = []
        self.aliases: dict[tuple[str, str], str] = {}
        self.tags: dict[str, dict[str, str]] = {}

    def set_model_version_tag(self, name, version, key, value):
        pass

    def update_model_version(self, name, version, description=None):
        if self.fail_description:
            raise RuntimeError("description too long for the column")
        self.descriptions[(name, version)] = description

    def set_registered_model_alias(self, name, alias, version):
        self.aliases[(name, alias)] = version

    def get_model_version_by_alias(self, name, alias):
        if (name, alias) not in self.aliases:
            raise LookupError(alias)
        return SimpleNamespace(version=self.aliases[(name, alias)])

    def set_registered_model_tag(self, name, key, value):
        self.tags.setdefault(name, {})[key] = value

    def get_registered_model(self, name):
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

        if name not in self.tags:
            raise MlflowException("no such model", error_code=RESOURCE_DOES_NOT_EXIST)
        return SimpleNamespace(tags=self.tags[name])

    def create_registered_model(self, name, description=None):
        self.tags.setdefault(name, {})

    def get_model_version(self, name, version):
        return SimpleNamespace(run_id="r")

    def delete_model_version(self, name, version):
        self.deleted.append((name, version))


@pytest.fixture
def fake_mlflow(monkeypatch):
    import mlflow

    from scoring import registry

    counter = iter(range(1, 100))
    monkeypatch.setattr(
        mlflow, "register_model", lambda uri, name: SimpleNamespace(version=str(next(counter)))
    )
    monkeypatch.setattr(registry, "registered_name", lambda key, settings=None: f"m-{key}")

    def use(client):
        monkeypatch.setattr(mlflow, "MlflowClient", lambda *a, **k: client)
        return registry

    return use


def test_registration_writes_the_card_into_the_version_description(fake_mlflow):
    client = _FakeClient()
    registry = fake_mlflow(client)
    out = registry.register_all(
        {"default_risk": "runs:/r/default_risk", "policy": "runs:/r/policy"},
        {"default_risk": {"test_roc_auc": "0.9"}},
        {"default_risk": "# Model card: default_risk\n", "policy": "# Model card: policy\n"},
    )
    assert out == {"m-default_risk": 1, "m-policy": 2}
    assert client.descriptions == {
        ("m-default_risk", "1"): "# Model card: default_risk\n",
        ("m-policy", "2"): "# Model card: policy\n",
    }
    assert client.aliases[("m-policy", "challenger")] == "2"


def test_a_failed_description_undoes_the_registration(fake_mlflow):
    client = _FakeClient(fail_description=True)
    registry = fake_mlflow(client)
    with pytest.raises(RuntimeError, match="description"):
        registry.register_all(
            {"default_risk": "runs:/r/default_risk"}, {}, {"default_risk": "# card\n"}
        )
    assert client.deleted == [("m-default_risk", "1")] and not client.aliases
