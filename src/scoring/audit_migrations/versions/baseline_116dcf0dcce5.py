"""baseline: the audit schema of the releases before migrations

Written out by hand (not from ``scoring.audit.metadata``) so that later changes of the metadata
never rewrite history. A store created by those releases (tables, no version table) is stamped
at this revision instead of running it; one that predates some of the tables (``reviews``,
``drift_samples``, ``audit_chain`` came later) runs it with ``audit_existing_tables`` set by
:func:`scoring.audit.upgrade_schema`, which creates only the missing ones.

Revision ID: 116dcf0dcce5
Revises:
Create Date: 2026-01-12 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "116dcf0dcce5"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _missing(table: str) -> bool:
    return table not in context.config.attributes.get("audit_existing_tables", ())


def upgrade() -> None:
    if _missing("decisions"):
        op.create_table(
            "decisions",
            sa.Column("decision_id", sa.String(36), nullable=False),
            sa.Column("decided_at", sa.DateTime(), nullable=False),
            sa.Column("as_of", sa.DateTime(), nullable=False),
            sa.Column("debtor_hash", sa.String(64), nullable=False),
            sa.Column("action", sa.String(32), nullable=False),
            sa.Column("scheduled_at", sa.DateTime(), nullable=True),
            sa.Column("propensity", sa.Float(), nullable=False),
            sa.Column("expected_value", sa.Float(), nullable=True),
            sa.Column("requires_review", sa.Boolean(), nullable=False),
            sa.Column("model_versions", sa.JSON(), nullable=False),
            sa.Column("input", sa.JSON(), nullable=False),
            sa.Column("output", sa.JSON(), nullable=False),
            sa.Column("request_id", sa.String(64), nullable=True),
            sa.Column("api_key", sa.String(128), nullable=True),
            sa.Column("hash_key_id", sa.String(16), nullable=False),
            sa.PrimaryKeyConstraint("decision_id"),
        )
        op.create_index("ix_decisions_decided_at", "decisions", ["decided_at"])
        op.create_index("ix_decisions_debtor_hash", "decisions", ["debtor_hash"])

    if _missing("outcomes"):
        op.create_table(
            "outcomes",
            sa.Column("outcome_id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("decision_id", sa.String(36), nullable=False),
            sa.Column("recorded_at", sa.DateTime(), nullable=False),
            sa.Column("executed_at", sa.DateTime(), nullable=True),
            sa.Column("outcome", sa.String(32), nullable=True),
            sa.Column("paid_amount", sa.Float(), nullable=True),
            sa.Column("paid_at", sa.Date(), nullable=True),
            sa.Column("dispute", sa.Boolean(), nullable=False),
            sa.Column("complaint", sa.Boolean(), nullable=False),
            sa.Column("api_key", sa.String(128), nullable=True),
            sa.PrimaryKeyConstraint("outcome_id"),
            sa.ForeignKeyConstraint(["decision_id"], ["decisions.decision_id"]),
        )
        op.create_index("ix_outcomes_decision_id", "outcomes", ["decision_id"])

    if _missing("score_calls"):
        op.create_table(
            "score_calls",
            sa.Column("call_id", sa.String(36), nullable=False),
            sa.Column("called_at", sa.DateTime(), nullable=False),
            sa.Column("request_id", sa.String(64), nullable=True),
            sa.Column("api_key", sa.String(128), nullable=True),
            sa.Column("n_cases", sa.Integer(), nullable=False),
            sa.Column("model_versions", sa.JSON(), nullable=False),
            sa.Column("items", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("call_id"),
        )
        op.create_index("ix_score_calls_called_at", "score_calls", ["called_at"])

    if _missing("reviews"):
        op.create_table(
            "reviews",
            sa.Column("review_id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("decision_id", sa.String(36), nullable=False),
            sa.Column("event", sa.String(16), nullable=False),
            sa.Column("recorded_at", sa.DateTime(), nullable=False),
            sa.Column("actor", sa.String(128), nullable=True),
            sa.Column("status_before", sa.String(16), nullable=False),
            sa.Column("status_after", sa.String(16), nullable=False),
            sa.Column("reason", sa.String(32), nullable=True),
            sa.Column("comment", sa.Text(), nullable=True),
            sa.Column("replacement", sa.JSON(), nullable=True),
            sa.Column("debtor_hash", sa.String(64), nullable=False),
            sa.PrimaryKeyConstraint("review_id"),
            sa.ForeignKeyConstraint(["decision_id"], ["decisions.decision_id"]),
        )
        op.create_index("ix_reviews_decision_id", "reviews", ["decision_id"])
        op.create_index("ix_reviews_recorded_at", "reviews", ["recorded_at"])
        op.create_index("ix_reviews_debtor_hash", "reviews", ["debtor_hash"])

    if _missing("drift_samples"):
        op.create_table(
            "drift_samples",
            sa.Column("sample_id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("recorded_at", sa.DateTime(), nullable=False),
            sa.Column("model", sa.String(32), nullable=False),
            sa.Column("profile_id", sa.String(16), nullable=False),
            sa.Column("n", sa.Integer(), nullable=False),
            sa.Column("bins", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("sample_id"),
        )
        op.create_index("ix_drift_samples_recorded_at", "drift_samples", ["recorded_at"])

    if _missing("audit_meta"):
        op.create_table(
            "audit_meta",
            sa.Column("key", sa.String(64), nullable=False),
            sa.Column("value", sa.String(256), nullable=False),
            sa.PrimaryKeyConstraint("key"),
        )

    if _missing("audit_chain"):
        op.create_table(
            "audit_chain",
            sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("ref", sa.String(64), nullable=False),
            sa.Column("record_hash", sa.String(64), nullable=False),
            sa.Column("prev_hash", sa.String(64), nullable=False),
            sa.Column("link_hash", sa.String(64), nullable=False),
            sa.Column("linked_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("seq"),
        )


def downgrade() -> None:
    op.drop_table("audit_chain")
    op.drop_table("audit_meta")
    op.drop_index("ix_drift_samples_recorded_at", table_name="drift_samples")
    op.drop_table("drift_samples")
    for name in ("ix_reviews_debtor_hash", "ix_reviews_recorded_at", "ix_reviews_decision_id"):
        op.drop_index(name, table_name="reviews")
    op.drop_table("reviews")
    op.drop_index("ix_score_calls_called_at", table_name="score_calls")
    op.drop_table("score_calls")
    op.drop_index("ix_outcomes_decision_id", table_name="outcomes")
    op.drop_table("outcomes")
    op.drop_index("ix_decisions_debtor_hash", table_name="decisions")
    op.drop_index("ix_decisions_decided_at", table_name="decisions")
    op.drop_table("decisions")
