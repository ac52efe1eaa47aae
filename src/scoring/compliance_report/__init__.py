"""The compliance report: one self-contained HTML page a compliance officer can open offline.

``scoring report --alias ALIAS --out report.html`` calls :func:`build_report`. Every section is
built by a named ``section_*`` function from data computed by a named function of this module
(or of :mod:`scoring.kpis` / :mod:`scoring.registry`); each table and figure carries that
function's name in a ``data-source`` attribute and in its caption, so every figure can be
traced and recomputed. Images are PNG inlined as base64: the page needs no network.

Sections: the model cards; metrics by segment and by groups of départements; disparities
between groups (fairlearn's MetricFrame: per-group metrics with bootstrap intervals, then
max-min differences with their intervals and min/max ratios, each judged within or beyond a
limit, :data:`DISPARITY_LIMITS`); the distribution of reason codes; the action mix; which
compliance rules removed actions (each removal attributed by :func:`removal_attribution`) and
how many decisions were flagged for human review (audit trail); the human review loop
(approved, rejected by reason, replaced, still waiting, time to a verdict, the debtors'
contests and how they ended: :meth:`scoring.review.ReviewBook.summary`); the drift of each risk
model since training (PSI per window ending now: :meth:`scoring.monitoring.Monitor.drift`);
the KPIs with the sample size behind each value; the promotion history of the aliases.

The audited decisions can be limited to a period and to the API keys of one environment
(:func:`filter_decisions`; by default, keys whose name contains "test" are left out)."""

from scoring.compliance_report.build import build_report, build_sections, gather_inputs
from scoring.compliance_report.evaluation import (
    REMOVAL_ROLES,
    SLOT_INDEPENDENT_RULES,
    Evaluation,
    ReportError,
    audit_action_mix,
    default_thresholds,
    evaluate_alias,
    metrics_tables,
    policy_action_mix,
    removal_attribution,
    review_summary,
    rule_removals,
    scored_keys,
)
from scoring.compliance_report.fairness import (
    ALSACE_MOSELLE,
    CI_METRICS,
    CI_QUANTILES,
    DEPARTMENT_GROUPS,
    DISPARITY_LIMITS,
    DISPARITY_METRICS,
    ILE_DE_FRANCE,
    JUDGED_GROUPINGS,
    MODEL_KEYS,
    REPORT_BOOTSTRAP,
    department_group,
    disparities,
    disparity_verdict,
    group_metrics,
)
from scoring.compliance_report.figures import (
    plot_bar,
    plot_group_metrics,
    plot_kpi_chart,
    plot_score_distribution,
    plot_waterfall,
    png,
)
from scoring.compliance_report.html import (
    CSS,
    Section,
    html_figure,
    html_table,
    markdown_body,
    paragraph,
    render_html,
)
from scoring.compliance_report.kpi_tables import (
    MIN_N,
    audit_kpi_table,
    dataset_kpi_table,
    rate_text,
    with_sample_size,
)
from scoring.compliance_report.oversight import (
    TOP_FEATURES,
    AuditReader,
    drift_figures,
    drift_tables,
    review_figures,
    review_tables,
    wait_text,
)
from scoring.compliance_report.registry_reads import (
    alias_table,
    model_card_markdown,
    promotion_table,
    training_data_dir,
)
from scoring.compliance_report.scope import (
    DEFAULT_EXCLUDED_KEYS,
    AuditScope,
    decision_key_names,
    filter_decisions,
    with_key_names,
)
from scoring.compliance_report.sections import (
    SOURCE,
    ReportInputs,
    section_actions,
    section_disparities,
    section_drift,
    section_kpis,
    section_metrics,
    section_models,
    section_promotions,
    section_reasons,
    section_review,
    section_rules,
)
from scoring.compliance_report.shap_analyses import (
    global_importance,
    plot_shap_dependence,
    reason_code_distribution,
)

__all__ = [
    "ALSACE_MOSELLE",
    "AuditReader",
    "AuditScope",
    "CI_METRICS",
    "CI_QUANTILES",
    "CSS",
    "DEFAULT_EXCLUDED_KEYS",
    "DEPARTMENT_GROUPS",
    "DISPARITY_LIMITS",
    "DISPARITY_METRICS",
    "Evaluation",
    "ILE_DE_FRANCE",
    "JUDGED_GROUPINGS",
    "MIN_N",
    "MODEL_KEYS",
    "REMOVAL_ROLES",
    "REPORT_BOOTSTRAP",
    "ReportError",
    "ReportInputs",
    "SLOT_INDEPENDENT_RULES",
    "SOURCE",
    "Section",
    "TOP_FEATURES",
    "alias_table",
    "audit_action_mix",
    "audit_kpi_table",
    "build_report",
    "build_sections",
    "dataset_kpi_table",
    "decision_key_names",
    "default_thresholds",
    "department_group",
    "disparities",
    "disparity_verdict",
    "drift_figures",
    "drift_tables",
    "evaluate_alias",
    "filter_decisions",
    "gather_inputs",
    "global_importance",
    "group_metrics",
    "html_figure",
    "html_table",
    "markdown_body",
    "metrics_tables",
    "model_card_markdown",
    "paragraph",
    "plot_bar",
    "plot_group_metrics",
    "plot_kpi_chart",
    "plot_score_distribution",
    "plot_shap_dependence",
    "plot_waterfall",
    "png",
    "policy_action_mix",
    "promotion_table",
    "rate_text",
    "reason_code_distribution",
    "removal_attribution",
    "render_html",
    "review_figures",
    "review_summary",
    "review_tables",
    "rule_removals",
    "scored_keys",
    "section_actions",
    "section_disparities",
    "section_drift",
    "section_kpis",
    "section_metrics",
    "section_models",
    "section_promotions",
    "section_reasons",
    "section_review",
    "section_rules",
    "training_data_dir",
    "wait_text",
    "with_key_names",
    "with_sample_size",
]
