"""Realism statistics of a data set in the contract (any producer, not only the generator).

Used by the generation benchmark and handy to calibrate :class:`WorldParams`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC by ranks (ties averaged); NaN if one class is missing."""
    ok = ~np.isnan(score)
    s, y = score[ok], label[ok].astype(bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = pd.Series(s).rank().to_numpy()
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def case_labels(tables: dict[str, pd.DataFrame], as_of_dates: list[pd.Timestamp]) -> pd.DataFrame:
    """Cases (CONTRACT §3) at each date with their two labels and a few simple features.

    Only dates whose 90-day label window ends inside the data are meaningful; the caller
    picks them. Features use only facts known before ``as_of``.
    """
    inv = tables["invoices"]
    deb = tables["debtors"].set_index("debtor_id")
    act = tables["actions"]
    out = []
    for t in as_of_dates:
        t = pd.Timestamp(t).tz_localize(None).normalize()
        paid = inv["paid_date"]
        legal = inv["legal_date"]
        openi = inv[
            (inv["issue_date"] < t)
            & (paid.isna() | (paid >= t))
            & (legal.isna() | (legal >= t))
            & (inv["due_date"] <= t + pd.Timedelta(days=15))
        ]
        if openi.empty:
            continue
        lim = openi["due_date"] + pd.Timedelta(days=90)
        dflt = openi["paid_date"].isna() | (openi["paid_date"] > lim)
        dd = openi["dispute_date"]
        disp = dd.notna() & (dd >= t) & (dd < t + pd.Timedelta(days=90))
        g = openi.assign(
            default=dflt,
            dispute=disp,
            dpd=(t - openi["due_date"]).dt.days,
            no_po=~openi["purchase_order_ref"].astype(bool),
            paper=openi["delivery_channel"] == "paper",
        ).groupby("debtor_id")
        c = pd.DataFrame(
            {
                "default": g["default"].any(),
                "dispute": g["dispute"].any(),
                "max_dpd": g["dpd"].max(),
                "balance": g["amount"].sum(),
                "share_no_po": g["no_po"].mean(),
                "share_paper": g["paper"].mean(),
            }
        )
        hist = inv[(inv["paid_date"] < t) & (inv["paid_date"] >= t - pd.Timedelta(days=365))]
        late = (hist["paid_date"] - hist["due_date"]).dt.days.clip(lower=0)
        c["past_mean_days_late"] = late.groupby(hist["debtor_id"]).mean().reindex(c.index)
        past_d = inv[inv["dispute_date"] < t].groupby("debtor_id").size()
        c["past_disputes"] = past_d.reindex(c.index).fillna(0)
        c["external_score"] = deb["external_score"].reindex(c.index)
        c["segment"] = deb["segment"].reindex(c.index)
        c["as_of"] = t
        out.append(c.reset_index())
    cases = pd.concat(out, ignore_index=True)
    del act
    return cases


def realism_stats(tables: dict[str, pd.DataFrame], end: pd.Timestamp | None = None) -> dict:
    """Headline statistics: label rates, lateness, action and outcome mixes, simple AUCs."""
    inv, act, deb = tables["invoices"], tables["actions"], tables["debtors"]
    if end is None:
        end = inv["issue_date"].max()
    end = pd.Timestamp(end)
    start = inv["issue_date"].min()
    dates = pd.date_range(start + pd.Timedelta(days=120), end - pd.Timedelta(days=200), freq="30D")
    cases = case_labels(tables, list(dates))
    paid = inv["paid_date"].notna()
    late = paid & (inv["paid_date"] > inv["due_date"])
    due_before = inv["due_date"] <= end - pd.Timedelta(days=120)
    seg = deb.set_index("debtor_id")["segment"]
    inv_seg = inv["debtor_id"].map(seg)
    stats: dict = {
        "n_debtors": len(deb),
        "n_invoices": len(inv),
        "n_actions": len(act),
        "share_b2b": float((deb["segment"] == "B2B").mean()),
        "invoices_per_debtor": len(inv) / len(deb),
        "actions_per_debtor": len(act) / len(deb),
        "share_invoices_paid": float(paid.mean()),
        "share_paid_late_of_paid": float(late.sum() / max(paid.sum(), 1)),
        "median_days_late_of_late": float(
            (inv["paid_date"] - inv["due_date"]).dt.days[late].median()
        ),
        "share_unpaid_90d_after_due": float(
            (
                inv["paid_date"].isna()
                | (inv["paid_date"] > inv["due_date"] + pd.Timedelta(days=90))
            )[due_before].mean()
        ),
        "share_invoices_disputed": float(inv["dispute_date"].notna().mean()),
        "dispute_reason_mix": inv["dispute_reason"].value_counts(normalize=True).round(4).to_dict(),
        "share_disputes_open_at_end": float(
            (inv["dispute_date"].notna() & inv["dispute_resolved_date"].isna()).sum()
            / max(inv["dispute_date"].notna().sum(), 1)
        ),
        "share_invoices_legal": float(inv["legal_date"].notna().mean()),
        "action_mix": act["action"].value_counts(normalize=True).round(4).to_dict(),
        "outcome_mix": act["outcome"].value_counts(normalize=True).round(4).to_dict(),
        "mean_propensity": float(act["propensity"].mean()),
        "n_cases": len(cases),
        "case_default_rate": float(cases["default"].mean()),
        "case_dispute_rate": float(cases["dispute"].mean()),
        "case_default_rate_by_segment": cases.groupby("segment")["default"]
        .mean()
        .round(4)
        .to_dict(),
        "case_dispute_rate_by_segment": cases.groupby("segment")["dispute"]
        .mean()
        .round(4)
        .to_dict(),
        "invoice_late_share_by_segment": late[paid]
        .groupby(inv_seg[paid])
        .mean()
        .round(4)
        .to_dict(),
    }
    y_d = cases["default"].to_numpy()
    y_s = cases["dispute"].to_numpy()
    stats["auc_default"] = {
        "neg_external_score": _auc(-cases["external_score"].to_numpy(float), y_d),
        "past_mean_days_late": _auc(cases["past_mean_days_late"].to_numpy(float), y_d),
        "max_dpd": _auc(cases["max_dpd"].to_numpy(float), y_d),
    }
    stats["auc_dispute"] = {
        "share_no_po": _auc(cases["share_no_po"].to_numpy(float), y_s),
        "share_paper": _auc(cases["share_paper"].to_numpy(float), y_s),
        "past_disputes": _auc(cases["past_disputes"].to_numpy(float), y_s),
        "max_dpd": _auc(cases["max_dpd"].to_numpy(float), y_s),
    }
    return stats
