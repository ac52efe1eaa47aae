"""Portfolio scoring: ``scoring batch --data DIR --as-of T --output FILE`` (CONTRACT §5)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scoring.cases import build_cases
from scoring.contract import load_tables, output_format, write_atomic
from scoring.progress import bar
from scoring.service import Bundle, batch_decisions

#: cases decided at once by the in-process engine (one progress step)
CHUNK = 5000

BATCH_COLUMNS = [
    "debtor_id", "default_probability", "dispute_probability", "action", "scheduled_at",
    "expected_value", "propensity", "requires_review", "reasons",
]  # fmt: skip


def run_batch(
    data_dir: str | Path,
    as_of,
    output: str | Path,
    bundle: Bundle | None = None,
    alias: str = "champion",
    lang: str = "fr",
    explore: bool = True,
    engine: str = "local",
    scheduler: str | None = None,
    partitions: int | None = None,
    progress: bool = False,
    invoices_output: str | Path | None = None,
) -> pd.DataFrame:
    """Validate the data set, build every case at ``as_of``, decide, write the file.

    ``invoices_output``: also write one row per open invoice (payment-date answers, dispute
    probability and reasons) when the registry has invoice models (local engine).

    ``engine="dask"`` partitions the debtors over a Dask cluster (a local one unless
    ``scheduler`` is given); the output is identical to the in-process engine.
    """
    if engine not in ("local", "dask"):
        raise ValueError(f"--engine must be local or dask, not {engine!r}")
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is None:
        raise ValueError(
            f"--as-of {as_of!r} must carry a UTC offset, e.g. 2026-10-05T09:00:00+02:00"
        )
    output_format(output)  # fail before any work
    if invoices_output is not None:
        output_format(invoices_output)
        if engine != "local":
            raise ValueError("--invoices needs the local engine")
    tables = load_tables(data_dir)
    if bundle is None:
        from scoring import registry

        registry.setup_mlflow()
        # a risk model that could not be trained leaves its probability column empty (and a
        # warning); the policy is required: the batch is the decisions
        bundle = Bundle.from_registry(alias, require_risk=False)
    if engine == "dask":
        from scoring.dask_engine import batch_on_dask, dask_client

        with dask_client(scheduler) as client:
            out = batch_on_dask(
                tables, ts, bundle, client, partitions=partitions, lang=lang, explore=explore,
                progress=progress,
            )  # fmt: skip
    else:
        cs = build_cases(tables, ts)
        # in chunks, for the progress bar: every case is decided on its own (exploration is
        # seeded per debtor and instant), so the output does not depend on the chunking
        starts = range(0, len(cs), CHUNK)
        inv_parts: list[pd.DataFrame] | None = [] if invoices_output is not None else None
        parts = [
            batch_decisions(
                bundle,
                cs.take(range(i, min(i + CHUNK, len(cs)))),
                lang=lang,
                explore=explore,
                invoice_tables=inv_parts,
            )  # fmt: skip
            for i in bar(starts, "deciding", progress, total=len(starts), unit="chunk")
        ]
        if invoices_output is not None:
            if bundle.invoice_models is None:
                raise ValueError(
                    "--invoices: the models in use have no invoice models (train them with "
                    "`scoring train`)"
                )
            inv = pd.concat(inv_parts, ignore_index=True) if inv_parts else pd.DataFrame()
            write_atomic(inv, invoices_output)
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if len(out) == 0:
        out = pd.DataFrame(columns=BATCH_COLUMNS)
    else:
        out["as_of"] = out["as_of"].astype(str)
    write_atomic(out, output)
    return out


def run_forecast(
    data_dir: str | Path,
    as_of,
    weeks: int = 13,
    output: str | Path | None = None,
    alias: str = "champion",
    simulations: int = 1000,
    invoice_models=None,
):
    """``scoring forecast``: the cash forecast of :mod:`scoring.invoices.forecast` at
    ``as_of`` with the registry's invoice models. Writes the weekly table to ``output``
    (``.csv`` or ``.parquet``), the chart next to it (``.png``) and the summary with the DSO
    forecast (``.json``); returns the :class:`~scoring.invoices.forecast.CashForecast`."""
    import json

    from scoring.invoices.forecast import cash_forecast

    if not 1 <= int(weeks) <= 52:
        raise ValueError(f"--weeks must be between 1 and 52, not {weeks}")
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is None:
        raise ValueError(
            f"--as-of {as_of!r} must carry a UTC offset, e.g. 2026-10-05T09:00:00+02:00"
        )
    if output is not None:
        output_format(output)
    tables = load_tables(data_dir)
    if invoice_models is None:
        from scoring import registry
        from scoring.invoices import InvoiceModels

        registry.setup_mlflow()
        try:
            loaded = registry.resolve("invoice_risk", alias)
        except registry.ModelNotFound as exc:
            raise ValueError(
                f"no invoice models under alias {alias!r}: train them with `scoring train` ({exc})"
            ) from None
        invoice_models = InvoiceModels.load(loaded.path)
    fc = cash_forecast(invoice_models, tables, ts, int(weeks), int(simulations))
    if output is not None:
        from scoring import reporting

        out = Path(output)
        weekly = fc.weekly.assign(week_start=fc.weekly["week_start"].astype(str))
        write_atomic(weekly, out)
        chart = out.with_suffix(".png")
        reporting.plot_cash_forecast(
            fc.weekly, chart, title=f"Cash forecast at {ts:%Y-%m-%d} ({weeks} weeks)"
        )
        summary = {
            "as_of": ts.isoformat(),
            "weeks": int(weeks),
            **{k: round(v, 4) for k, v in fc.summary.items()},
            "dso": [
                {"week": int(r.week), "date": str(r.date), "dso": round(float(r.dso), 2)}
                for r in fc.dso.itertuples()
            ],
        }
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
        tmp.replace(out.with_suffix(".json"))
    return fc
