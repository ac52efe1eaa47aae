"""Labels of cases (CONTRACT §3: default, dispute) and rewards of logged actions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.cases import CaseSet, as_of_day, data_end, open_invoice_mask
from scoring.contract import (
    LABEL_HORIZON_DAYS,
    REWARD_HORIZON_DAYS,
)

# --------------------------------------------------------------------------------------
# Labels


def case_labels(cs: CaseSet, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Labels of CONTRACT §3 for each case, from the full tables (the future included).

    Columns: ``default`` (some open invoice unpaid 90 days after its due date), ``dispute``
    (a dispute raised on an open invoice within 90 days after as_of), and ``observable``
    (the data set extends far enough for both labels to be known).
    """
    inv = tables["invoices"][["invoice_id", "due_date", "paid_date", "dispute_date"]]
    oi = cs.invoices[["case", "invoice_id"]].merge(inv, on="invoice_id", how="left")
    day = as_of_day(cs.cases["as_of"]).to_numpy()
    oi_day = day[oi["case"].to_numpy()]
    horizon = pd.Timedelta(days=LABEL_HORIZON_DAYS)
    unpaid = oi["paid_date"].isna() | (oi["paid_date"] > oi["due_date"] + horizon)
    disputed = (oi["dispute_date"] >= oi_day) & (oi["dispute_date"] < oi_day + horizon)
    n = len(cs)
    default = np.bincount(oi["case"], weights=unpaid.to_numpy(dtype=float), minlength=n) > 0
    dispute = (
        np.bincount(oi["case"], weights=disputed.fillna(False).to_numpy(dtype=float), minlength=n)
        > 0
    )
    end = data_end(tables)
    last_due = oi.groupby("case")["due_date"].max().reindex(range(n)).to_numpy()
    observable = (last_due + horizon <= end) & (day + horizon <= end)
    return pd.DataFrame(
        {"default": default.astype(int), "dispute": dispute.astype(int), "observable": observable}
    )


def action_rewards(
    tables: dict[str, pd.DataFrame],
    costs: dict[str, float],
    penalty: float = 50.0,
    horizon_days: int = REWARD_HORIZON_DAYS,
    chunk_debtors: int = 5000,
    start_day: int = 0,
) -> pd.DataFrame:
    """The reward of CONTRACT §3 for every logged action.

    For a decision on day D (``decided_at``, Europe/Paris): the amount of the debtor's invoices
    open at D that are paid in [D + s, D + s + 14 days), minus the action's cost, minus
    ``penalty`` for each dispute raised on those invoices in that window and each complaint
    recorded in the 14 days from the decision (``s`` = ``start_day``, 0 by default).

    Policy learning uses ``start_day=1``: dates carry no time of day, so a payment or dispute
    dated the decision day may have happened before the decision (and driven it: a dispute
    raised that day makes a ladder wait) while the features only know the days before; counting
    it would teach the learners that waiting causes disputes.
    Returns the actions table with ``paid_14d``, ``n_disputes_14d``, ``n_complaints_14d``,
    ``cost``, ``reward`` and ``observable`` columns.
    """
    acts = tables["actions"].copy()
    acts["day"] = as_of_day(acts["decided_at"])
    inv = tables["invoices"]
    shift = pd.Timedelta(days=start_day)
    h = pd.Timedelta(days=horizon_days)
    debtors = acts["debtor_id"].unique()
    paid = np.zeros(len(acts))
    disputes = np.zeros(len(acts))
    acts = acts.reset_index(drop=True)
    acts["_row"] = np.arange(len(acts))
    for start in range(0, len(debtors), chunk_debtors):
        chunk = debtors[start : start + chunk_debtors]
        a = acts.loc[acts["debtor_id"].isin(chunk), ["_row", "debtor_id", "day"]]
        i = inv.loc[inv["debtor_id"].isin(chunk)]
        # only invoices that could matter: paid or disputed at some point
        i = i[i["paid_date"].notna() | i["dispute_date"].notna()]
        m = a.merge(i, on="debtor_id", how="inner")
        if m.empty:
            continue
        is_open = open_invoice_mask(m, m["day"])
        first = m["day"] + shift
        pay = (
            is_open
            & (m["paid_date"] >= first).fillna(False)
            & (m["paid_date"] < first + h).fillna(False)
        )
        disp = (
            is_open
            & (m["dispute_date"] >= first).fillna(False)
            & (m["dispute_date"] < first + h).fillna(False)
        )
        rows = m["_row"].to_numpy()
        paid += np.bincount(rows, weights=np.where(pay, m["amount"], 0.0), minlength=len(acts))
        disputes += np.bincount(rows, weights=disp.to_numpy(dtype=float), minlength=len(acts))
    # complaints: outcomes of this debtor's actions decided within the window (this one included)
    c = acts[["debtor_id", "decided_at", "_row"]].copy()
    c["complaint"] = (acts["outcome"] == "complaint").fillna(False).astype(float).to_numpy()
    c = c.sort_values(["debtor_id", "decided_at"], kind="stable")
    csum = c.groupby("debtor_id", observed=True)["complaint"].cumsum().to_numpy()
    # complaints in [t, t+h): cumulative count at the last action before t+h minus before t
    c["_cum"] = csum
    ends = pd.merge_asof(
        c.assign(key=c["decided_at"] + h - pd.Timedelta(microseconds=1)).sort_values("key")[
            ["key", "debtor_id", "_row"]
        ],
        c[["decided_at", "debtor_id", "_cum"]].sort_values("decided_at"),
        left_on="key",
        right_on="decided_at",
        by="debtor_id",
        direction="backward",
    ).set_index("_row")["_cum"]
    complaints = ends.reindex(c["_row"]).to_numpy() - (csum - c["complaint"].to_numpy())
    comp = np.zeros(len(acts))
    comp[c["_row"].to_numpy()] = complaints
    acts["paid_14d"] = paid
    acts["n_disputes_14d"] = disputes.astype(int)
    acts["n_complaints_14d"] = np.rint(comp).astype(int)
    acts["cost"] = acts["action"].map(costs).astype(float)
    acts["reward"] = (
        acts["paid_14d"]
        - acts["cost"]
        - penalty * (acts["n_disputes_14d"] + acts["n_complaints_14d"])
    )
    acts["observable"] = acts["day"] + shift + h <= data_end(tables)
    return acts.drop(columns=["_row"])
