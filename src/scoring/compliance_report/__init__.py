"""The compliance report: one self-contained HTML page a compliance officer can open offline.

``scoring report --alias ALIAS --out report.html`` calls :func:`build_report`. Every section is
built by a named ``section_*`` function from data computed by a named function of this module
(or of :mod:`scoring.kpis` / :mod:`scoring.registry`); each table and figure carries that
function's name in a ``data-source`` attribute and in its caption, so every figure can be
traced and recomputed. Images are PNG inlined as base64: the page needs no network.

Sections: the model cards; metrics by segment and by groups of départements; disparities
between groups (fairlearn's MetricFrame: per-group metrics with bootstrap intervals, then
max-min differences with their intervals and min/max ratios); the distribution of reason codes; the action mix; how often each compliance
rule removed actions and how many decisions were flagged for human review (audit trail); the
KPIs; the promotion history of the aliases."""

from scoring.compliance_report.build import build_report, build_sections, gather_inputs
from scoring.compliance_report.evaluation import (
    Evaluation,
    ReportError,
    audit_action_mix,
    default_thresholds,
    evaluate_alias,
    metrics_tables,
    policy_action_mix,
    review_summary,
    rule_removals,
    scored_keys,
)
from scoring.compliance_report.fairness import (
    ALSACE_MOSELLE,
    CI_METRICS,
    CI_QUANTILES,
    DEPARTMENT_GROUPS,
    DISPARITY_METRICS,
    ILE_DE_FRANCE,
    MODEL_KEYS,
    REPORT_BOOTSTRAP,
    department_group,
    disparities,
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
from scoring.compliance_report.registry_reads import (
    alias_table,
    model_card_markdown,
    promotion_table,
    training_data_dir,
)
from scoring.compliance_report.sections import (
    SOURCE,
    ReportInputs,
    section_actions,
    section_disparities,
    section_kpis,
    section_metrics,
    section_models,
    section_promotions,
    section_reasons,
    section_rules,
)
from scoring.compliance_report.shap_analyses import (
    global_importance,
    plot_shap_dependence,
    reason_code_distribution,
)

__all__ = [
    "ALSACE_MOSELLE",
    "CI_METRICS",
    "CI_QUANTILES",
    "CSS",
    "DEPARTMENT_GROUPS",
    "DISPARITY_METRICS",
    "Evaluation",
    "ILE_DE_FRANCE",
    "MODEL_KEYS",
    "REPORT_BOOTSTRAP",
    "ReportError",
    "ReportInputs",
    "SOURCE",
    "Section",
    "alias_table",
    "audit_action_mix",
    "build_report",
    "build_sections",
    "default_thresholds",
    "department_group",
    "disparities",
    "evaluate_alias",
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
    "reason_code_distribution",
    "render_html",
    "review_summary",
    "rule_removals",
    "scored_keys",
    "section_actions",
    "section_disparities",
    "section_kpis",
    "section_metrics",
    "section_models",
    "section_promotions",
    "section_reasons",
    "section_rules",
    "training_data_dir",
]
