"""``scoring serve`` and ``scoring export-decisions`` (registered in :mod:`scoring.cli`).

Only ``typer`` is imported at module level so that ``scoring --help`` stays fast.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import pandas as pd

#: Columns of the exported actions table: the contract's, then optional extras.
EXPORT_COLUMNS = [
    "action_id", "debtor_id", "decided_at", "action", "scheduled_at", "propensity", "outcome",
    "paid_amount", "paid_at", "dispute_reported", "complaint_reported", "model_versions",
]  # fmt: skip


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes (each loads the models).")
    ] = 1,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    limit_concurrency: Annotated[
        int,
        typer.Option(
            "--limit-concurrency",
            min=1,
            help="Connections + tasks per worker beyond which new requests get 503 at once.",
        ),
    ] = 256,
) -> None:
    """Serve the HTTP API (models from the registry alias champion, SCORING_SERVE_ALIAS)."""
    import logging

    import uvicorn

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        "scoring.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        # hostile clients: bounded headers, idle connections closed, bounded concurrency (the
        # body itself is capped by SCORING_MAX_BODY_BYTES, after the key is checked)
        h11_max_incomplete_event_size=16 * 1024,
        timeout_keep_alive=5,
        limit_concurrency=limit_concurrency,
    )


def _debtor_ids(path: Path) -> list[str]:
    """``debtor_id`` column of a debtors table (file, or data-set folder holding one)."""
    import pandas as pd

    if path.is_dir():
        found = [p for p in (path / "debtors.parquet", path / "debtors.csv") if p.exists()]
        if not found:
            raise FileNotFoundError(f"{path}: no debtors.parquet or debtors.csv")
        path = found[0]
    if path.suffix.lower() == ".parquet":
        df = pd.read_parquet(path, columns=["debtor_id"])
    else:
        df = pd.read_csv(path, usecols=["debtor_id"], dtype={"debtor_id": str})
    return df["debtor_id"].dropna().astype(str).unique().tolist()


def export_decisions(
    output: str | Path,
    debtors: str | Path | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    settings=None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Audited decisions and their latest reported outcome as a CONTRACT §1 actions table.

    ``action_id`` is the decision id, ``decided_at`` the case's ``as_of`` (what the policy
    knew), ``scheduled_at`` the reported execution time when there is one, else the planned
    one, ``propensity`` the policy's probability of the action. The audit trail holds only
    keyed hashes of debtor ids: given the caller's debtors table (``debtors``), each hash is
    matched back to its id by hashing the table's ids with the same key, and decisions of
    debtors not in it are left out; without it, ``debtor_id`` is the hash. Returns the table
    and counts (``decisions``, ``exported``, ``unmatched``).
    """
    import pandas as pd

    from scoring.api.audit import AuditStore
    from scoring.batch import write_atomic

    if settings is None:
        from scoring.settings import get_settings

        settings = get_settings()
    audit = AuditStore.from_settings(settings)
    try:
        rows = list(audit.iter_decisions(since, until))
        mapping = None
        if debtors is not None:
            mapping = {audit.hash_debtor(i): i for i in _debtor_ids(Path(debtors))}
    finally:
        audit.close()

    records: list[dict[str, Any]] = []
    unmatched = 0
    for r in rows:
        debtor = r["debtor_hash"]
        if mapping is not None:
            debtor = mapping.get(debtor)
            if debtor is None:
                unmatched += 1
                continue
        when = r["executed_at"] or r["scheduled_at"]
        records.append(
            {
                "action_id": r["decision_id"],
                "debtor_id": debtor,
                "decided_at": r["as_of"],
                "action": r["action"],
                "scheduled_at": None if r["action"] == "wait" else when,
                "propensity": r["propensity"],
                "outcome": r["outcome"],
                "paid_amount": r["paid_amount"],
                "paid_at": r["paid_at"].isoformat() if r["paid_at"] else None,
                "dispute_reported": r["dispute"],
                "complaint_reported": r["complaint"],
                "model_versions": ";".join(
                    f"{k}={v}" for k, v in sorted((r["model_versions"] or {}).items())
                ),
            }
        )
    df = pd.DataFrame.from_records(records, columns=EXPORT_COLUMNS)
    for c in ("decided_at", "scheduled_at"):
        df[c] = pd.to_datetime(df[c], utc=True)
    df["propensity"] = df["propensity"].astype("float64")
    df["paid_amount"] = df["paid_amount"].astype("float64")
    for c in ("dispute_reported", "complaint_reported"):
        df[c] = df[c].astype("boolean")
    for c in ("action_id", "debtor_id", "action", "outcome", "paid_at", "model_versions"):
        df[c] = df[c].astype("string")
    write_atomic(df, output)
    return df, {"decisions": len(rows), "exported": len(df), "unmatched": unmatched}


def export_command(
    output: Annotated[Path, typer.Option("--output", help="Actions table, .parquet or .csv.")],
    debtors: Annotated[
        Path | None,
        typer.Option(
            "--debtors",
            help="Your debtors table (file or data-set folder): exports your debtor ids "
            "instead of their hashes, and keeps only those debtors' decisions.",
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only decisions with as_of >= this (ISO 8601).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only decisions with as_of < this (ISO 8601).")
    ] = None,
) -> None:
    """Export audited decisions and reported outcomes as a contract actions table."""

    def parse(name: str, v: str | None) -> dt.datetime | None:
        if v is None:
            return None
        try:
            t = dt.datetime.fromisoformat(v)
        except ValueError:
            typer.secho(f"error: {name} {v!r} is not ISO 8601", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        return t if t.tzinfo else t.replace(tzinfo=dt.UTC)

    if output.suffix.lower() not in (".parquet", ".csv"):
        typer.secho("error: --output must end in .parquet or .csv", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    try:
        df, counts = export_decisions(
            output, debtors, parse("--since", since), parse("--until", until)
        )
    except (FileNotFoundError, ValueError, KeyError, RuntimeError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    note = f"; {counts['unmatched']} left out (debtor not in --debtors)" if debtors else ""
    typer.echo(
        f"wrote {output}: {counts['exported']:,} of {counts['decisions']:,} decisions{note}; "
        f"actions {df['action'].value_counts().to_dict()}"
    )
