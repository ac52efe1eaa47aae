"""Fuzz of the table readers: whatever the column types, encodings, separators or emptiness,
``load_tables`` returns valid typed tables or raises ContractError naming what is wrong;
never another exception (issue 11)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import tiny_tables

from scoring.contract import ContractError, load_tables

VALUES = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "true", "1e309", "05/04/2025", "2025-13-45", "NaN", "€", "0x10", ";"]),
)


@st.composite
def broken_tables(draw):
    t = tiny_tables()
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(sorted(t)))
        df = t[name]
        col = draw(st.sampled_from(list(df.columns)))
        how = draw(st.sampled_from(["cell", "column", "drop", "empty"]))
        if how == "cell" and len(df):
            df[col] = df[col].astype(object)
            df.loc[draw(st.integers(0, len(df) - 1)), col] = draw(VALUES)
        elif how == "column":
            v = draw(VALUES)
            df[col] = pd.Series([v] * len(df), dtype=object)
        elif how == "drop":
            t[name] = df.drop(columns=[col])
        else:
            t[name] = df.head(0)
    fmt = draw(st.sampled_from(["csv", "parquet"]))
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "utf-16"]))
    return t, fmt, sep, encoding


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=broken_tables())
def test_readers_give_a_valid_result_or_a_named_error(tmp_path_factory, case):
    t, fmt, sep, encoding = case
    d = tmp_path_factory.mktemp("fuzz")
    for name, df in t.items():
        if fmt == "parquet":
            try:
                df.to_parquet(d / f"{name}.parquet")
            except Exception:  # noqa: BLE001 - a frame pyarrow cannot write: write CSV
                df.to_csv(d / f"{name}.csv", index=False, sep=sep, encoding="utf-8")
        else:
            try:
                df.to_csv(d / f"{name}.csv", index=False, sep=sep, encoding=encoding)
            except UnicodeEncodeError:
                df.to_csv(d / f"{name}.csv", index=False, sep=sep, encoding="utf-8")
    try:
        tables = load_tables(d)
    except ContractError as exc:
        assert exc.problems, "a ContractError names its problems"
        for p in exc.problems:
            assert p.table and p.rule
        return
    for name in ("debtors", "invoices", "actions"):
        assert name in tables
    amounts = tables["invoices"]["amount"].to_numpy(dtype=float)
    assert np.isfinite(amounts).all() and (amounts > 0).all()
