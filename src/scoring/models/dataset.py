"""Training sets: cases at many instants across the history, labelled, split by time."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.cases import DUE_HORIZON_DAYS, LABEL_HORIZON_DAYS, CaseSet, build_cases, data_end
from scoring.contract import DPD_BUCKETS, dpd_bucket_labels
from scoring.features import features
from scoring.labels import case_labels
from scoring.models.config import (  # noqa: F401 - load_training_config re-exported
    PERIODS,
    Sampling,
    TrainingConfig,
    load_training_config,
)
from scoring.progress import bar, gather


class TrainingDataError(ValueError):
    """The data set cannot support training (too few cases, a single class, ...)."""


class TooFewCases(TrainingDataError):
    """Too few instants or cases for the time split at this sampling step."""


class NotTrainable(TrainingDataError):
    """One model cannot be trained on this data set (the others may be): ``scoring train``
    trains the rest, says which and why, and registers only what was trained."""


def dpd_bucket(max_days_past_due: pd.Series | np.ndarray) -> pd.Categorical:
    """Days-past-due buckets of the evaluation: not yet due, 0-29, 30-59, 60+."""
    return pd.Categorical(dpd_bucket_labels(max_days_past_due), categories=list(DPD_BUCKETS))


@dataclass
class TrainingSet:
    """Labelled cases from many instants. ``meta`` holds as_of, period, segment, bucket."""

    cases: CaseSet
    X: pd.DataFrame
    labels: pd.DataFrame
    meta: pd.DataFrame
    #: model key -> why it cannot be trained on this data (e.g. a label with a single class)
    untrainable: dict[str, str] = field(default_factory=dict)
    #: days between two sampled instants (smaller than the configuration's for a small
    #: portfolio, see :func:`build_training_set`)
    step_days: int | None = None

    def period(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.meta["period"].to_numpy() == name)

    def summary(self) -> pd.DataFrame:
        df = self.meta[["period"]].join(self.labels[["default", "dispute"]])
        g = df.groupby("period", observed=True)
        out = g.agg(
            cases=("default", "size"),
            default_rate=("default", "mean"),
            dispute_rate=("dispute", "mean"),
        )
        out["from"] = self.meta.groupby("period", observed=True)["as_of"].min()
        out["to"] = self.meta.groupby("period", observed=True)["as_of"].max()
        return out.reindex([p for p in PERIODS if p in out.index])


def sample_instants(tables: dict[str, pd.DataFrame], sampling: Sampling) -> list[pd.Timestamp]:
    """Instants as_of every ``step_days`` from warm-up to the last one whose labels are known."""
    first = tables["invoices"]["issue_date"].min()
    end = data_end(tables)
    start = first + pd.Timedelta(days=sampling.warmup_days)
    last = end - pd.Timedelta(days=LABEL_HORIZON_DAYS + DUE_HORIZON_DAYS)
    days = pd.date_range(start, last, freq=f"{sampling.step_days}D")
    hour = sampling.hour
    return [
        (d + pd.Timedelta(hours=hour)).tz_localize("Europe/Paris").tz_convert("UTC") for d in days
    ]


def instant_cases(
    tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, cap: int, seed: int
) -> tuple[CaseSet, pd.DataFrame]:
    """Observable cases at one instant (at most ``cap``, sampled with ``seed``) and their labels."""
    cs = build_cases(tables, as_of)
    if cap and len(cs) > cap:
        rng = np.random.default_rng(seed)
        cs = cs.take(np.sort(rng.choice(len(cs), cap, replace=False)))
    lab = case_labels(cs, tables)
    keep = np.flatnonzero(lab["observable"].to_numpy())
    if len(keep) < len(cs):
        cs, lab = cs.take(keep), lab.iloc[keep].reset_index(drop=True)
    return cs, lab


def build_training_set(
    tables: dict[str, pd.DataFrame],
    config: TrainingConfig,
    progress: bool = True,
    seed: int = 0,
    client=None,
) -> TrainingSet:
    """Cases at every sampled instant, their labels and features, and the time split.

    A portfolio too small for the split at ``sampling.step_days`` (a period with fewer than
    ``split.min_cases`` cases) is sampled more densely, halving the step down to one day, and
    ``TrainingSet.step_days`` says which step was used. With a Dask ``client``, the instants
    are built on the cluster's workers (same result).
    """
    import logging

    step = config.sampling.step_days
    while True:
        try:
            ts = _build_training_set(tables, config, step, progress, seed, client)
        except TooFewCases as exc:
            if step <= 1:
                raise
            smaller = max(1, step // 2)
            logging.getLogger(__name__).warning(
                "%s\nsampling an instant every %d days instead of %d (small portfolio)",
                exc,
                smaller,
                step,
            )
            step = smaller
            continue
        ts.step_days = step
        return ts


def _build_training_set(
    tables: dict[str, pd.DataFrame],
    config: TrainingConfig,
    step_days: int,
    progress: bool,
    seed: int,
    client,
) -> TrainingSet:
    sampling = config.sampling.model_copy(update={"step_days": step_days})
    instants = sample_instants(tables, sampling)
    if len(instants) < 4:
        raise TooFewCases(
            f"the data set spans too little time: {len(instants)} instant(s) with known labels "
            f"(need at least 4; labels need {LABEL_HORIZON_DAYS + DUE_HORIZON_DAYS} days of future)"
        )
    cap = sampling.max_cases_per_as_of
    if client is not None:
        # one task per instant on the Dask workers; the tables travel once
        tables_f = client.scatter(tables, broadcast=True)
        futures = client.map(
            instant_cases, [tables_f] * len(instants), instants, [cap] * len(instants),
            [seed + i for i in range(len(instants))], pure=False,
        )  # fmt: skip
        results = gather(client, futures, "building cases (dask)", progress)
    else:
        it = bar(instants, "building cases", progress, unit="as_of")
        results = [instant_cases(tables, t, cap, seed + i) for i, t in enumerate(it)]
    sets = [cs for cs, _ in results if len(cs)]
    labels = [lab for cs, lab in results if len(cs)]
    if not sets:
        raise TooFewCases("no case (debtor with open invoices) at any sampled instant")
    cs = CaseSet.concat(sets)
    lab = pd.concat(labels, ignore_index=True)
    X = features(cs)

    # time split on the ordered instants
    uniq = np.array(sorted(cs.cases["as_of"].unique()))
    fr = np.array(config.split.fractions(), dtype=float)
    bounds = np.floor(np.cumsum(fr / fr.sum()) * len(uniq) + 1e-9).astype(int)
    period_of = np.empty(len(uniq), dtype=object)
    lo = 0
    for name, hi in zip(PERIODS, bounds, strict=True):
        hi = max(hi, lo + 1) if name != "test" else len(uniq)
        period_of[lo:hi] = name
        lo = hi
    idx = np.searchsorted(uniq, cs.cases["as_of"].to_numpy())
    meta = pd.DataFrame(
        {
            "as_of": cs.cases["as_of"].to_numpy(),
            "debtor_id": cs.cases["debtor_id"].to_numpy(),
            "period": pd.Categorical(period_of[idx], categories=list(PERIODS)),
            "segment": cs.cases["segment"].to_numpy(),
            "bucket": dpd_bucket(X["max_days_past_due"]),
            "department": cs.cases["department"].to_numpy(),
        }
    )
    ts = TrainingSet(cs, X, lab.drop(columns=["observable"]), meta)
    ts.untrainable = check_training_set(ts, config)
    return ts


def check_training_set(ts: TrainingSet, config: TrainingConfig) -> dict[str, str]:
    """Raise :class:`TrainingDataError` when a period has too few cases (no model can be
    trained); return ``{model key: why}`` for the risk models whose label cannot be learned
    (e.g. a history in which every invoice was paid has no default to learn from)."""
    min_cases, min_pos = config.split.min_cases, config.split.min_positives
    problems = []
    untrainable: dict[str, list[str]] = {}
    for period in PERIODS:
        idx = ts.period(period)
        if len(idx) < min_cases:
            problems.append(f"{period} period: {len(idx)} cases (need at least {min_cases})")
            continue
        for key, spec in config.models.items():
            y = ts.labels[spec.label].to_numpy()[idx]
            pos, neg = int(y.sum()), int(len(y) - y.sum())
            if min(pos, neg) < min_pos:
                kind = "single class" if min(pos, neg) == 0 else "too few of one class"
                untrainable.setdefault(key, []).append(
                    f"{period} period, label '{spec.label}': {kind} ({pos} positive, {neg} "
                    f"negative; need at least {min_pos} of each)"
                )
    if problems:
        raise TooFewCases("cannot train on this data set:\n  - " + "\n  - ".join(problems))
    return {k: "; ".join(v) for k, v in untrainable.items()}
