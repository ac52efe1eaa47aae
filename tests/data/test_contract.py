"""Each contract rule on a tiny broken table: the problem is named, nothing passes silently."""

from __future__ import annotations

import pandas as pd
import pytest
from support import tiny_tables

from scoring.contract import ContractError, load_tables, validate_tables


def _problems(tables):
    _, problems = validate_tables(tables)
    return problems


def test_tiny_tables_are_valid():
    assert _problems(tiny_tables()) == []


def _set(table, column, row, value):
    def f(t):
        t[table][column] = t[table][column].astype(object)
        t[table].loc[row, column] = value
        return t

    return f


def _drop(table, column):
    def f(t):
        t[table] = t[table].drop(columns=[column])
        return t

    return f


BREAKS = [
    (
        "day/month date",
        _set("invoices", "due_date", 0, "05/04/2025"),
        "invoices",
        "due_date",
        "ISO 8601",
    ),
    (
        "integer date",
        lambda t: t.__setitem__("invoices", t["invoices"].assign(issue_date=20250105)) or t,
        "invoices",
        "issue_date",
        "ISO 8601",
    ),
    (
        "date out of range",
        _set("debtors", "customer_since", 0, "1850-01-01"),
        "debtors",
        "customer_since",
        "outside 1900-01-01",
    ),
    (
        "integer timestamp",
        lambda t: t.__setitem__("actions", t["actions"].assign(decided_at=1767600000)) or t,
        "actions",
        "decided_at",
        "ISO 8601",
    ),
    (
        "missing required column",
        _drop("invoices", "amount"),
        "invoices",
        "amount",
        "required column is missing",
    ),
    (
        "missing required value",
        _set("debtors", "department", 0, None),
        "debtors",
        "department",
        "required value is missing",
    ),
    (
        "bad segment",
        _set("debtors", "segment", 1, "B2G"),
        "debtors",
        "segment",
        "value not allowed",
    ),
    (
        "bad department",
        _set("debtors", "department", 1, "20"),
        "debtors",
        "department",
        "value not allowed",
    ),
    (
        "B2B without sector",
        _set("debtors", "sector", 0, None),
        "debtors",
        "sector",
        "required for B2B",
    ),
    (
        "negative credit limit",
        _set("debtors", "credit_limit", 0, -5.0),
        "debtors",
        "credit_limit",
        ">= 0",
    ),
    (
        "score out of range",
        _set("debtors", "external_score", 0, 1200.0),
        "debtors",
        "external_score",
        "[0, 1000]",
    ),
    (
        "bad bool",
        _set("debtors", "consent_sms", 0, "maybe"),
        "debtors",
        "consent_sms",
        "not a boolean",
    ),
    (
        "duplicate debtor",
        _set("debtors", "debtor_id", 1, "D1"),
        "debtors",
        "debtor_id",
        "duplicate id",
    ),
    (
        "duplicate invoice",
        _set("invoices", "invoice_id", 1, "I1"),
        "invoices",
        "invoice_id",
        "duplicate id",
    ),
    (
        "unknown debtor",
        _set("invoices", "debtor_id", 0, "DX"),
        "invoices",
        "debtor_id",
        "unknown debtor_id",
    ),
    (
        "unknown debtor in actions",
        _set("actions", "debtor_id", 0, "DX"),
        "actions",
        "debtor_id",
        "unknown debtor_id",
    ),
    ("amount zero", _set("invoices", "amount", 0, 0.0), "invoices", "amount", "> 0"),
    ("amount text", _set("invoices", "amount", 0, "lots"), "invoices", "amount", "not a number"),
    (
        "due before issue",
        _set("invoices", "due_date", 0, "2025-08-01"),
        "invoices",
        "due_date",
        "before issue_date",
    ),
    (
        "bad date",
        _set("invoices", "issue_date", 0, "31/02/2025"),
        "invoices",
        "issue_date",
        "not a date",
    ),
    (
        "resolved before dispute",
        _set("invoices", "dispute_resolved_date", 1, "2026-01-01"),
        "invoices",
        "dispute_resolved_date",
        "before the dispute",
    ),
    (
        "bad reason",
        _set("invoices", "dispute_reason", 1, "angry"),
        "invoices",
        "dispute_reason",
        "value not allowed",
    ),
    (
        "bad delivery channel",
        _set("invoices", "delivery_channel", 0, "fax"),
        "invoices",
        "delivery_channel",
        "value not allowed",
    ),
    (
        "unknown action",
        _set("actions", "action", 0, "pigeon"),
        "actions",
        "action",
        "value not allowed",
    ),
    ("propensity zero", _set("actions", "propensity", 0, 0.0), "actions", "propensity", "(0, 1]"),
    (
        "infinite amount",
        _set("invoices", "amount", 0, float("inf")),
        "invoices",
        "amount",
        "finite amount",
    ),
    ("absurd amount", _set("invoices", "amount", 0, 1e300), "invoices", "amount", "finite amount"),
    (
        "infinite credit limit",
        _set("debtors", "credit_limit", 0, float("inf")),
        "debtors",
        "credit_limit",
        "finite amount",
    ),
    (
        "propensity above one",
        _set("actions", "propensity", 0, 1.5),
        "actions",
        "propensity",
        "(0, 1]",
    ),
    (
        "bad outcome",
        _set("actions", "outcome", 0, "happy"),
        "actions",
        "outcome",
        "value not allowed",
    ),
    (
        "timestamp without offset",
        _set("actions", "decided_at", 0, "2026-01-05T09:00:00"),
        "actions",
        "decided_at",
        "without a UTC offset",
    ),
    (
        "duplicate action",
        _set("actions", "action_id", 1, "A1"),
        "actions",
        "action_id",
        "duplicate id",
    ),
]


@pytest.mark.parametrize(
    ("name", "brk", "table", "column", "rule"), BREAKS, ids=[b[0] for b in BREAKS]
)
def test_each_rule_is_reported(name, brk, table, column, rule):
    problems = _problems(brk(tiny_tables()))
    hits = [p for p in problems if p.table == table and p.column == column and rule in p.rule]
    assert hits, f"{name}: expected {table}.{column} '{rule}', got {[str(p) for p in problems]}"
    if column != "amount" or rule != "required column is missing":
        assert hits[0].n_rows >= 1


def test_every_problem_reported_at_once():
    t = tiny_tables()
    t["debtors"].loc[0, "segment"] = "B2G"
    t["invoices"].loc[0, "amount"] = -1.0
    t["actions"].loc[0, "propensity"] = 0.0
    problems = _problems(t)
    assert {(p.table, p.column) for p in problems} >= {
        ("debtors", "segment"),
        ("invoices", "amount"),
        ("actions", "propensity"),
    }


def test_examples_name_the_offending_ids():
    t = tiny_tables()
    t["invoices"].loc[2, "amount"] = -3.0
    (p,) = [p for p in _problems(t) if p.column == "amount"]
    assert p.examples == ["I3"] and p.n_rows == 1
    assert "I3" in str(p)


def test_optional_columns_may_be_absent_and_extra_kept():
    t = tiny_tables()
    t["debtors"] = t["debtors"].drop(
        columns=["credit_limit", "external_score", "language", "company_size"]
    )
    t["invoices"] = t["invoices"].drop(
        columns=["purchase_order_ref", "delivery_channel", "legal_date"]
    )
    t["actions"] = t["actions"].drop(columns=["propensity", "outcome", "scheduled_at"])
    t["invoices"]["my_extra"] = "x"
    typed, problems = validate_tables(t)
    assert problems == []
    assert "my_extra" in typed["invoices"].columns
    assert typed["debtors"]["language"].eq("fr").all()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_load_tables_from_disk(tmp_path, fmt):
    for name, df in tiny_tables().items():
        if fmt == "csv":
            df.to_csv(tmp_path / f"{name}.csv", index=False)
        else:
            typed, _ = validate_tables(tiny_tables())
            typed[name].to_parquet(tmp_path / f"{name}.parquet")
    tables = load_tables(tmp_path)
    assert len(tables["invoices"]) == 6
    assert str(tables["actions"]["decided_at"].dtype) == "datetime64[ns, UTC]"


def test_missing_table_and_folder(tmp_path):
    with pytest.raises(ContractError, match="missing table"):
        load_tables(tmp_path)
    with pytest.raises(ContractError, match="does not exist"):
        load_tables(tmp_path / "nope")


def test_cli_validate_exit_codes(tmp_path):
    from typer.testing import CliRunner

    from scoring.cli import app

    t = tiny_tables()
    for name, df in t.items():
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", "--data", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    bad = t["invoices"].copy()
    bad.loc[0, "amount"] = -1
    bad.to_csv(tmp_path / "invoices.csv", index=False)
    res = runner.invoke(app, ["validate", "--data", str(tmp_path)])
    assert res.exit_code == 1
    assert "invoices.amount" in res.output and "I1" in res.output
    pd.read_csv(tmp_path / "invoices.csv")  # the data set itself is never modified


def test_french_spreadsheet_csv_is_read(tmp_path):
    """';'-separated with decimal commas (a French Excel export) reads like the plain CSV."""
    for name, df in tiny_tables().items():
        df.to_csv(tmp_path / f"{name}.csv", index=False, sep=";", decimal=",")
    plain = load_tables_from(tiny_tables())
    tables = load_tables(tmp_path)
    assert tables["invoices"]["amount"].tolist() == plain["invoices"]["amount"].tolist()
    text = (tmp_path / "invoices.csv").read_text()
    assert ";2500,0;" in text
    text = text.replace(";2500,0;", ";2\u00a0500,0;").replace(";12000,0;", ";12 000,0;")
    (tmp_path / "invoices.csv").write_text(text)
    assert load_tables(tmp_path)["invoices"]["amount"].tolist() == (
        plain["invoices"]["amount"].tolist()
    )


def load_tables_from(t):
    typed, problems = validate_tables(t)
    assert problems == []
    return typed
