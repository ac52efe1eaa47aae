"""``scoring serve`` and ``scoring export-decisions`` (registered in :mod:`scoring.cli`).

Only ``typer`` is imported at module level so that ``scoring --help`` stays fast.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes (each loads the models).")
    ] = 1,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format",
            help="json (one object per line, with the request id), text, or auto: text on a "
            "terminal, json otherwise.",
        ),
    ] = "auto",
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
    import logging.config
    import sys

    import uvicorn

    from scoring.api.logs import log_config

    if log_format not in ("auto", "json", "text"):
        typer.secho("error: --log-format must be auto, json or text", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    config = log_config(log_level, log_format)
    logging.config.dictConfig(config)
    if workers > 1:
        _multiprocess_metrics()
        _prepare_registry()
    uvicorn.run(
        "scoring.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=config,
        # hostile clients: bounded headers, idle connections closed, bounded concurrency (the
        # body itself is capped by SCORING_MAX_BODY_BYTES, after the key is checked)
        h11_max_incomplete_event_size=16 * 1024,
        timeout_keep_alive=5,
        limit_concurrency=limit_concurrency,
    )


def _prepare_registry() -> None:
    """Create the embedded MLflow store once, before the workers start: two workers creating
    a fresh SQLite store at the same moment race (one fails its first model load)."""
    import logging

    try:
        from mlflow import MlflowClient

        from scoring import registry

        registry.setup_mlflow()
        MlflowClient().search_registered_models(max_results=1)
    except Exception as exc:  # the workers report an unusable registry themselves
        logging.getLogger("scoring.api").warning("registry not prepared: %s", exc)


def _multiprocess_metrics() -> None:
    """Workers share their metrics through PROMETHEUS_MULTIPROC_DIR (a fresh folder unless
    set; emptied at start, as prometheus_client requires)."""
    import os
    import shutil
    import tempfile

    d = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if d:
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d, exist_ok=True)
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="scoring-metrics-")


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
    from scoring.audit import export_decisions

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
