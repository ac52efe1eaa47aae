"""The report's sections, each built by a named function from named data functions."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import pandas as pd

from scoring import kpis as kpi_mod
from scoring.compliance_report.evaluation import (
    Evaluation,
    audit_action_mix,
    policy_action_mix,
    review_summary,
    rule_removals,
    scored_keys,
)
from scoring.compliance_report.fairness import (
    DISPARITY_LIMITS,
    MODEL_KEYS,
    REPORT_BOOTSTRAP,
)
from scoring.compliance_report.figures import (
    plot_bar,
    plot_group_metrics,
    plot_kpi_chart,
    plot_score_distribution,
    plot_waterfall,
)
from scoring.compliance_report.html import (
    Section,
    html_figure,
    html_table,
    markdown_body,
    paragraph,
)
from scoring.compliance_report.kpi_tables import (
    MIN_N,
    audit_kpi_table,
    dataset_kpi_table,
    rate_text,
)
from scoring.compliance_report.oversight import (
    drift_tables,
    review_tables,
    wait_text,
)
from scoring.compliance_report.registry_reads import (
    alias_table,
    model_card_markdown,
    promotion_table,
)
from scoring.compliance_report.scope import AuditScope
from scoring.compliance_report.shap_analyses import reason_code_distribution

SOURCE = "scoring.compliance_report"


@dataclass
class ReportInputs:
    """Everything the sections read (built by :func:`gather_inputs`)."""

    alias: str
    bundle: Any
    evaluation: Evaluation | None
    thresholds: dict[str, float]
    audit: pd.DataFrame
    tables: dict[str, pd.DataFrame] | None
    kpi_config: Any
    generated_at: str
    #: the period and environment filter the audit trail went through (None: no filter)
    scope: AuditScope | None = None
    #: fewer observations than this: a rate is reported as too few
    min_n: int = MIN_N
    #: limits of the disparities (None: :data:`DISPARITY_LIMITS`)
    disparity_limits: dict[str, tuple[str, float]] | None = None
    #: :meth:`scoring.review.ReviewBook.summary` of the report's period (None: no audit trail,
    #: or one written before the review loop)
    review: dict[str, Any] | None = None
    #: :meth:`scoring.monitoring.Monitor.drift` of the risk models (None: not computed)
    drift: dict[str, Any] | None = None
    #: the monitoring configuration the drift thresholds come from
    monitoring_config: Any = None


def section_models(inp: ReportInputs) -> Section:
    """Versions behind the aliases and the model cards of the models under ``inp.alias``."""
    aliases = alias_table()
    parts = [
        paragraph(
            f"Models under the alias '{inp.alias}': "
            + ", ".join(f"{k} v{v}" for k, v in inp.bundle.versions.items())
        ),
        html_table(aliases, f"{SOURCE}.alias_table", "Versions behind the aliases."),
    ]
    for key in (*MODEL_KEYS, *(k for k in inp.bundle.versions if k not in MODEL_KEYS)):
        v = inp.bundle.versions.get(key)
        md = model_card_markdown(key, v) if v is not None else None
        if md:
            parts.append(
                f"<details open data-source='{SOURCE}.model_card_markdown'><summary>"
                f"Model card: {html.escape(key)} v{v}</summary>{markdown_body(md, key)}</details>"
            )
        elif v is None:
            why = inp.bundle.missing.get(key, "no version under this alias")
            parts.append(paragraph(f"{key} is not served: {why}."))
        else:
            parts.append(paragraph(f"No model card found for {key} v{v}."))
    pol = inp.bundle.policy
    if pol is not None:
        ope = pol.info.get("ope", {}) or {}
        info = pd.DataFrame(
            [
                {"item": "config version", "value": pol.config.version},
                {"item": "config fingerprint", "value": pol.config.fingerprint()},
                *(
                    {"item": f"off-policy {k} value (EUR per decision)", "value": ope.get(k)}
                    for k in ("logging", "ips", "snips", "dr")
                    if k in ope
                ),
            ]
        )
        parts.append(html_table(info, "scoring.policy.recommend.Policy.info", "The policy model."))
    return Section("models", "Model cards", "".join(parts), {"aliases": aliases})


def section_metrics(inp: ReportInputs, tables: dict) -> Section:
    """Metrics by segment, département group and days-past-due bucket, per risk model."""
    if inp.evaluation is None:
        return Section("metrics", "Metrics by group", paragraph("No data set to evaluate on."))
    parts = [
        paragraph(
            f"Test period of {inp.evaluation.data_dir}: {len(inp.evaluation.frame)} cases. "
            "Département groups: Île-de-France, Alsace-Moselle (57, 67, 68), overseas "
            "(971-976), other metropolitan (Corsica included). A case is flagged when its "
            "probability is at least the threshold (by default the score above which there are "
            "as many cases as observed positives): "
            + ", ".join(f"{k} {t:.4f}" for k, t in inp.thresholds.items())
            + "."
        )
    ]
    data = {}
    for key, (t, _) in tables.items():
        cols = ["grouping", "group", "n", "prevalence", "mean_score", "roc_auc"]
        cols += [c for c in ("roc_auc_ci_low", "roc_auc_ci_high") if c in t] + ["brier"]
        parts.append(f"<h3>{html.escape(key)}</h3>")
        parts.append(html_table(t[cols], f"{SOURCE}.group_metrics", f"{key}: metrics by group."))
        data[key] = t
    return Section("metrics", "Metrics by segment and département group", "".join(parts), data)


def section_disparities(inp: ReportInputs, tables: dict) -> Section:
    """Disparities between groups in scores and error rates."""
    if inp.evaluation is None:
        return Section("disparities", "Disparities between groups", paragraph("No data set."))
    limits = inp.disparity_limits if inp.disparity_limits is not None else DISPARITY_LIMITS
    parts = [
        paragraph(
            "For each grouping, the lowest and highest value over groups of at least 30 cases, "
            f"their difference (max - min, with a 95 % bootstrap interval over {REPORT_BOOTSTRAP} resamples) "
            "and ratio (min / max; 1 is parity), computed by fairlearn's MetricFrame. An "
            "interval that contains 0 is a gap the test period cannot tell from chance. FPR: "
            "share of negatives flagged; FNR: share of positives not flagged."
        ),
        paragraph(
            "Each disparity is judged against a limit: "
            + "; ".join(
                f"{m}: {'ratio ≥' if kind == 'ratio' else 'difference ≤'} {v:.2f}"
                for m, (kind, v) in limits.items()
            )
            + ". The ratio limit of 0.80 is the four-fifths rule; the limits are conventions "
            "set with compliance (the report's disparity_limits), not legal thresholds. "
            "Verdict: within or exceeds the limit (on the point estimate); not assessed "
            "with fewer than two groups of 30 cases. Segments and département groups are "
            "judged; the days-past-due buckets are shown but not judged (lateness is what "
            "the risk is about, their scores are meant to differ)."
        ),
    ]
    data = {}
    for key, (t, d) in tables.items():
        parts.append(f"<h3>{html.escape(key)}</h3>")
        exceeds = d[d["verdict"] == "exceeds"] if "verdict" in d else d.iloc[:0]
        assessed = int((d["verdict"] != "not assessed").sum()) if "verdict" in d else 0
        parts.append(
            paragraph(
                f"{key}: {len(exceeds)} of {assessed} assessed disparities exceed their limit"
                + (
                    ": " + ", ".join(f"{r.metric} by {r.grouping}" for r in exceeds.itertuples())
                    if len(exceeds)
                    else ""
                )
                + "."
            )
        )
        parts.append(html_table(d, f"{SOURCE}.disparities", f"{key}: disparities."))
        err = t[["grouping", "group", "n", "flagged_rate", "fpr", "fnr"]]
        parts.append(html_table(err, f"{SOURCE}.group_metrics", f"{key}: error rates by group."))
        parts.append(
            html_figure(
                plot_group_metrics(t, f"{key}: mean score and error rates by group"),
                f"{SOURCE}.plot_group_metrics",
                f"{key}: mean score, FPR and FNR by group (dotted: overall).",
            )
        )
        parts.append(
            html_figure(
                plot_score_distribution(inp.evaluation, key, "department_group"),
                f"{SOURCE}.plot_score_distribution",
                f"{key}: distribution of scores by département group.",
            )
        )
        data[key] = d
    return Section("disparities", "Disparities between groups", "".join(parts), data)


def section_reasons(inp: ReportInputs) -> Section:
    """Distribution of the reason codes given with the scores."""
    if inp.evaluation is None:
        return Section("reasons", "Reason codes", paragraph("No data set."))
    dist = reason_code_distribution(inp.bundle, inp.evaluation)
    parts = [
        paragraph(
            "How often each reason code is among the top 3 reasons of a case on the test "
            "period (exact TreeSHAP contributions; UP raises the risk, DOWN lowers it)."
        )
    ]
    for key in scored_keys(inp.evaluation):
        d = dist[dist["model"] == key]
        parts.append(html_table(d, f"{SOURCE}.reason_code_distribution", f"{key}: reason codes."))
        top = d.head(15).set_index("code")["share"]
        parts.append(
            html_figure(
                plot_bar(top, f"{key}: top reason codes", "share of cases"),
                f"{SOURCE}.plot_bar",
                f"{key}: the 15 most frequent reason codes.",
            )
        )
        parts.append(
            html_figure(
                plot_waterfall(inp.bundle, inp.evaluation, key),
                f"{SOURCE}.plot_waterfall",
                f"{key}: how one case's score is explained (the case with the highest "
                "probability on the test period): from the base value to its raw score, one "
                "bar per feature contribution (log-odds), with the case's values.",
            )
        )
    return Section("reasons", "Distribution of reason codes", "".join(parts), {"reasons": dist})


def section_actions(inp: ReportInputs) -> Section:
    """Action mix of the service's decisions (audit) and of the policy on the test period."""
    parts, data = [], {}
    am = audit_action_mix(inp.audit)
    if len(am):
        parts.append(
            html_table(am, f"{SOURCE}.audit_action_mix", "Decisions of the service (audit).")
        )
        parts.append(
            html_figure(
                plot_bar(am.set_index("action")["all"], "action mix (audit)", "share"),
                f"{SOURCE}.plot_bar",
                "Share of each action among the audited decisions.",
            )
        )
        data["audit"] = am
    else:
        parts.append(paragraph("No decision in the audit trail yet."))
    if inp.evaluation is not None and inp.bundle.policy is not None:
        pm = policy_action_mix(inp.bundle, inp.evaluation)
        parts.append(
            html_table(
                pm,
                f"{SOURCE}.policy_action_mix",
                "The policy's best action on the test-period cases (no exploration).",
            )
        )
        data["policy"] = pm
    return Section("actions", "Action mix", "".join(parts), data)


def section_rules(inp: ReportInputs) -> Section:
    """Rules that removed actions and decisions flagged for human review (audit trail)."""
    if inp.audit.empty:
        return Section(
            "rules",
            "Compliance rules and human review",
            paragraph("No decision in the audit trail yet."),
        )
    rem = rule_removals(inp.audit)
    rev = review_summary(inp.audit)
    total = rev.iloc[-1]
    parts = [
        paragraph(
            f"{len(inp.audit)} audited decisions; flagged for human review: "
            + rate_text(int(total["flagged"]), int(total["decisions"]), inp.min_n)
            + "."
        ),
        paragraph(
            "Each removed action is attributed to the rules that removed it. The policy "
            "records, per removed action, the first failing rule on each of its candidate "
            "slots; a rule decided per debtor and action (consent, open dispute, contest "
            "pause) fails on every slot and removed the action alone, the other rules "
            "recorded on it are then 'shadowed' (the Sunday rule on the Sunday slots, say). "
            "Otherwise a single recorded rule removed it alone; with several, the rule that "
            "removed most slots is 'main', the others 'partial' (as only the first failing "
            "rule of a slot is recorded, a 'partial' rule may have been redundant too). "
            "decisions and share count the decisions where the rule removed an action alone "
            "or as the main rule."
        ),
        html_table(rem, f"{SOURCE}.rule_removals", "Which rules removed actions."),
        html_table(rev, f"{SOURCE}.review_summary", "Decisions flagged for human review."),
    ]
    return Section(
        "rules",
        "Compliance rules and human review",
        "".join(parts),
        {"removals": rem, "review": rev},
    )


def _period_text(scope: AuditScope | None) -> str:
    if scope is None:
        return "the whole audit trail"
    lo = scope.since.isoformat() if scope.since is not None else "the start of the audit trail"
    hi = scope.until.isoformat() if scope.until is not None else "now"
    return f"{lo} to {hi}, decision time, UTC, end excluded"


def _key_note(scope: AuditScope | None) -> str:
    """Which decisions the review figures count (the report's period and key filters)."""
    if scope is None or not scope.excluded_keys:
        return "These figures count the decisions of the report's period."
    names = ", ".join(f"{k} ({n})" for k, n in sorted(scope.excluded_keys.items()))
    return f"These figures count the decisions of the report's period, without the keys left out: {names}."


def section_review(inp: ReportInputs) -> Section:
    """Human review of flagged decisions and the debtors' contests (the review loop)."""
    sid, title = "review", "Human review and contests"
    src = "scoring.review.ReviewBook.summary"
    s = inp.review
    if s is None:
        return Section(
            sid,
            title,
            paragraph(
                "No review figures: no audit trail yet, or one written before the review "
                "loop existed (no reviews table)."
            ),
        )
    period = _period_text(inp.scope)
    if s["decisions"] == 0:
        return Section(
            sid, title, paragraph(f"No decision in the audit trail in the period ({period}).")
        )
    n = inp.min_n
    t = review_tables(s, n)
    entered = int(t["statuses"]["decisions"].sum())
    c = s["contests"]
    parts = [
        paragraph(
            f"{s['decisions']} decisions taken in the period ({period}); flagged for human "
            f"review by the rules: {rate_text(s['flagged'], s['decisions'], n)}. {entered} "
            "decisions entered review (flagged, or contested by the debtor); still waiting for "
            f"a reviewer: {rate_text(s['waiting'], entered, n)}. {s['decisions_with_outcomes']} "
            "of the period's decisions have a reported outcome. The reviews and contests of "
            "these decisions are counted up to now (a verdict given after the period counts). "
            f"Every rate is shown with its sample size; below {n} it is too few for a rate."
        ),
        paragraph(_key_note(inp.scope)),
        html_table(
            t["statuses"],
            src,
            f"Where the {entered} decisions that entered review stand (their current status).",
        ),
        html_table(t["verdicts"], src, "The reviewers' verdicts (a decision may have several)."),
    ]
    if len(t["reject_reasons"]):
        parts.append(html_table(t["reject_reasons"], src, "Why reviewers rejected decisions."))
    else:
        parts.append(paragraph("No rejection with a reason in the period."))
    wait_alert = ""
    if inp.monitoring_config is not None:
        hours = inp.monitoring_config.alerts.review_wait_hours
        wait_alert = f" The service raises an alert on a decision waiting longer than {hours:g} h."
    parts.append(
        paragraph(
            "Time from the decision (or from the debtor's contest) to the reviewer's verdict: "
            f"{wait_text(s, n)}; decisions still waiting are not counted.{wait_alert}"
        )
    )
    parts.append(
        paragraph(
            f"{c['contests']} contests by debtors (a contested decision goes back to review and "
            "pauses collection actions on the debtor until a reviewer resolves it)."
        )
    )
    if c["contests"]:
        parts.append(html_table(t["contests"], src, "How the contests ended."))
    return Section(sid, title, "".join(parts), t)


def section_drift(inp: ReportInputs) -> Section:
    """PSI of the risk models' inputs and scores since training (drift monitor)."""
    sid, title = "drift", "Drift since training"
    src = "scoring.monitoring.Monitor.drift"
    d = inp.drift
    if d is None:
        return Section(sid, title, paragraph("Drift not computed."))
    th = d["thresholds"]
    days = [str(w) for w in th["windows_days"]]
    windows = " and ".join([", ".join(days[:-1]), days[-1]] if len(days) > 1 else days)
    version = getattr(inp.monitoring_config, "version", None)
    computed = pd.Timestamp(d["computed_at"]).isoformat(timespec="seconds")
    parts = [
        paragraph(
            "Population stability index (PSI) of each model input and of the score, between "
            f"the cases the service scored in the last {windows} days and the profile of the "
            "training period stored with the model version "
            "(scoring.models.drift.reference_profile). The windows end now, when the report "
            f"was generated ({computed}): they do not follow the report's period."
        ),
        paragraph(
            "Thresholds of the monitoring configuration"
            + (f" (version {version})" if version else "")
            + f": PSI below {th['warn_psi']:g} stable; from {th['warn_psi']:g} watch; from "
            f"{th['alert_psi']:g} alert (the population moved: retrain); with fewer than "
            f"{th['min_cases']} cases in a window, too_few (no verdict, the PSI is only "
            "indicative)."
        ),
    ]
    data: dict[str, pd.DataFrame] = {}
    if not d["models"]:
        parts.append(paragraph("No risk model under this alias."))
    versions = getattr(inp.bundle, "versions", {}) or {}
    for key, m in d["models"].items():
        v = versions.get(key)
        name = f"{key} v{v}" if v is not None else key
        parts.append(f"<h3>{html.escape(name)}</h3>")
        if "unavailable" in m:
            parts.append(
                paragraph(f"{name}: trained without a reference profile: retrain to monitor drift.")
            )
            continue
        t = drift_tables(m)
        ref = m.get("reference_cases")
        parts.append(
            paragraph(
                f"{name}: reference profile of {ref if ref is not None else 'an unknown number of'}"
                " training cases."
            )
        )
        parts.append(
            html_table(
                t["windows"],
                src,
                f"{key}: cases scored per window, largest PSI (features and score), PSI of "
                "the score, verdict.",
            )
        )
        if len(t["features"]):
            parts.append(
                html_table(t["features"], src, f"{key}: the most drifted features per window.")
            )
        else:
            parts.append(
                paragraph(f"{key}: no case scored in the last {max(th['windows_days'])} days.")
            )
        data[f"{key}_windows"] = t["windows"]
        data[f"{key}_features"] = t["features"]
    return Section(sid, title, "".join(parts), data)


def section_kpis(inp: ReportInputs) -> Section:
    """KPIs of the data set and of the service's decisions next to their targets."""
    parts, data = [], {}
    cfg = inp.kpi_config
    if inp.tables is not None:
        summary = dataset_kpi_table(inp.tables, cfg, inp.min_n)
        monthly = kpi_mod.compute_kpis(inp.tables, cfg)
        parts.append(
            html_table(
                summary.drop(columns=["value"]),
                f"{SOURCE}.dataset_kpi_table",
                "KPIs of the data set (complete months) and targets; n: invoices falling due.",
            )
        )
        parts.append(
            html_figure(
                plot_kpi_chart(monthly, cfg),
                "scoring.kpis.plot_kpis",
                "KPIs per month and segment; dashed: target.",
            )
        )
        data["summary"] = summary
    if not inp.audit.empty:
        a = audit_kpi_table(inp.audit, cfg, inp.min_n)
        parts.append(
            paragraph(
                f"The service's KPIs are measured on its decisions with a reported outcome "
                f"({int(inp.audit['has_outcome'].astype(bool).sum())} of {len(inp.audit)} "
                f"decisions). n is the number of decisions behind each value; below "
                f"{inp.min_n} the value is not shown (too few) nor judged against its target."
            )
        )
        parts.append(
            html_table(
                a.drop(columns=["value"]),
                f"{SOURCE}.audit_kpi_table",
                "KPIs of the service's decisions with a reported outcome; n: decisions with an "
                "outcome (with a payment, for days to pay and cost of recovery).",
            )
        )
        data["audit"] = a
    if not parts:
        parts.append(paragraph("No data set and no audited decision."))
    return Section("kpis", "Collection KPIs", "".join(parts), data)


def section_promotions(inp: ReportInputs) -> Section:
    """Promotion history of the aliases."""
    t = promotion_table()
    body = html_table(t, f"{SOURCE}.promotion_table", "Every move of the champion alias.")
    return Section("promotions", "Promotion history", body, {"promotions": t})
