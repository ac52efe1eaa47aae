"""Logged decisions: the actions log joined with the case at each decision and its reward.

:func:`logged_decisions` builds, for every observable logged decision, the case at
``as_of = decided_at`` (only facts known then), its features and the CONTRACT §3 reward parts
(amount paid within 14 days, disputes, complaints). :func:`arm_data` turns them into the
training rows of the effect learners.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.cases import CaseSet, build_cases_at
from scoring.contract import ACTIONS
from scoring.features import features
from scoring.labels import action_rewards
from scoring.policy.config import PolicyConfig
from scoring.policy.reach import REACHED, SEGMENTS, Evidence, dpd_bucket_codes, local_slot

NAT = np.iinfo(np.int64).min
#: rewards are counted from the day after the decision (see :func:`action_rewards`)
REWARD_START_DAY = 1


@dataclass
class LoggedDecisions:
    """Logged decisions that concern a case, with the case, its features and the reward."""

    cases: CaseSet
    X: pd.DataFrame
    log: pd.DataFrame  # aligned with cases: action, scheduled_at, propensity, outcome, rewards

    def __len__(self) -> int:
        return len(self.log)

    def scheduled_ns(self) -> np.ndarray:
        s = pd.to_datetime(self.log["scheduled_at"], utc=True).dt.as_unit("ns")
        return s.array.asi8.copy()

    def decided_ns(self) -> np.ndarray:
        return pd.to_datetime(self.log["decided_at"], utc=True).dt.as_unit("ns").array.asi8.copy()

    def take(self, idx: np.ndarray) -> LoggedDecisions:
        idx = np.asarray(idx, dtype=np.int64)
        return LoggedDecisions(
            self.cases.take(idx),
            self.X.iloc[idx].reset_index(drop=True),
            self.log.iloc[idx].reset_index(drop=True),
        )

    def split_at(self, when: pd.Timestamp) -> tuple[LoggedDecisions, LoggedDecisions]:
        """Decisions before ``when`` and from ``when`` on."""
        later = (pd.to_datetime(self.log["decided_at"], utc=True) >= when).to_numpy()
        return self.take(np.flatnonzero(~later)), self.take(np.flatnonzero(later))

    def slots(self) -> pd.DataFrame:
        """Action, local weekday, hour and lead time of each logged decision (legacy models)."""
        from scoring.calendar import local_times

        local = local_times(self.log["scheduled_at"], self.cases.cases["department"].to_numpy())
        wait = self.log["action"].to_numpy() == "wait"
        lead = (
            self.log["scheduled_at"] - self.log["decided_at"]
        ).dt.total_seconds().to_numpy() / 3600
        return pd.DataFrame(
            {
                "action": self.log["action"].astype(str).to_numpy(),
                "slot_weekday": np.where(wait, np.nan, local.dt.weekday.to_numpy(dtype=float)),
                "slot_hour": np.where(wait, np.nan, local.dt.hour.to_numpy(dtype=float)),
                "lead_hours": np.where(wait, np.nan, lead),
            }
        )

    def reward(self, config: PolicyConfig) -> np.ndarray:
        """The CONTRACT §3 reward of each logged decision under ``config``'s costs/penalties."""
        costs = np.array([config.costs[a] for a in self.log["action"].astype(str)])
        return (
            self.log["paid_14d"].to_numpy(dtype=float)
            - costs
            - config.penalties.dispute * self.log["n_disputes_14d"].to_numpy(dtype=float)
            - config.penalties.complaint * self.log["n_complaints_14d"].to_numpy(dtype=float)
        )


def logged_decisions(
    tables: dict[str, pd.DataFrame],
    config: PolicyConfig,
    max_decisions: int | None = None,
    seed: int = 0,
    chunk: int = 50000,
    progress: bool = False,
) -> LoggedDecisions:
    """Cases at each logged decision (``as_of = decided_at``) with the CONTRACT §3 reward."""
    acts = action_rewards(
        tables, dict(config.costs), penalty=config.penalties.dispute, start_day=REWARD_START_DAY
    )
    acts = acts[acts["observable"].to_numpy()]
    if max_decisions and len(acts) > max_decisions:
        keep = np.sort(np.random.default_rng(seed).choice(len(acts), max_decisions, replace=False))
        acts = acts.iloc[keep]
    acts = acts.sort_values(["decided_at", "action_id"], kind="stable").reset_index(drop=True)
    sets, kept_all = [], []
    starts = range(0, len(acts), chunk)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="logged decisions", unit="chunk")
    for s in starts:
        part = acts.iloc[s : s + chunk]
        cs, kept = build_cases_at(
            tables, part.rename(columns={"decided_at": "as_of"})[["debtor_id", "as_of"]]
        )
        sets.append(cs)
        kept_all.append(kept + s)
    cs = CaseSet.concat(sets)
    log = acts.iloc[np.concatenate(kept_all)].reset_index(drop=True) if kept_all else acts.iloc[:0]
    return LoggedDecisions(cs, features(cs), log)


def arm_data(d: LoggedDecisions, reach):
    """Training rows of the effect learners: case matrix, arm, lead, reached, targets, the
    logged propensity and the estimated reach at the logged slot."""
    from scoring.policy.learners import ArmData
    from scoring.policy.recommend import case_matrix

    log = d.log
    action = log["action"].astype(str).to_numpy()
    code = np.array([ACTIONS.index(a) for a in action], dtype=np.int64)
    t = d.scheduled_ns()
    contact = (code != 0) & (t != NAT)
    lead = np.where(contact, (t - d.decided_ns()) / (86400 * 1e9), np.nan)
    outcome = log["outcome"].astype("string")
    known = set(reach.known_actions)
    unknown_outcome = ~np.isin(action, list(known))
    reached = (code == 0) | unknown_outcome | outcome.isin(REACHED).fillna(False).to_numpy()
    amount = d.X["open_amount"].to_numpy(dtype=float)
    share = np.clip(log["paid_14d"].to_numpy(dtype=float) / np.where(amount > 0, amount, 1.0), 0, 1)
    # estimated reach at the logged slot (the DR learner's propensity of "reached")
    p_reach = np.ones(len(code))
    idx = np.flatnonzero(contact)
    if len(idx):
        from scoring.calendar import tz_codes

        tz = tz_codes(d.cases.column("cases", "department"))
        wd, hr = local_slot(t[idx], tz[idx])
        seg = np.array(
            [SEGMENTS.index(s) if s in SEGMENTS else 0 for s in d.cases.column("cases", "segment")]
        )
        bucket = dpd_bucket_codes(d.X["max_days_past_due"].to_numpy())
        r = reach.predict(Evidence.of(d.cases), idx, seg[idx], code[idx], wd, hr, bucket[idx])
        p_reach[idx] = r["p"]
    group = pd.factorize(log["debtor_id"].astype(str))[0]
    return ArmData(
        M=case_matrix(d.X),
        arm=code,
        lead=lead,
        reached=reached,
        y={
            "share": share,
            "dispute": (log["n_disputes_14d"].to_numpy() > 0).astype(float),
            "complaint": (log["n_complaints_14d"].to_numpy() > 0).astype(float),
        },
        propensity=log["propensity"].to_numpy(dtype=float, na_value=np.nan),
        p_reach=p_reach,
        group=group,
    )
