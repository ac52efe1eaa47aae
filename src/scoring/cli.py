"""The ``scoring`` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Debt-collection risk scores and next best action.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DataDir = Annotated[
    Path, typer.Option("--data", help="Data set folder (CONTRACT §1: debtors, invoices, actions).")
]


def _fail(msg: str, code: int = 1) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.command()
def validate(data: DataDir) -> None:
    """Check a data set against the contract; list every problem and exit 1 if any."""
    from scoring.contract import ContractError, load_tables

    try:
        tables = load_tables(data)
    except ContractError as exc:
        _fail(str(exc))
    counts = ", ".join(f"{len(df):,} {name}" for name, df in tables.items())
    typer.echo(f"{data}: valid ({counts})")


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path(
        "data/synthetic/default"
    ),
    debtors: Annotated[int, typer.Option("--debtors", min=1, help="Number of debtors.")] = 20000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same data).")] = 1,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Generate a synthetic data set that follows the contract."""
    from scoring.contract import load_tables
    from scoring.synthetic import generate as gen

    world = gen(debtors, seed=seed, progress=progress)
    world.write(out)
    tables = load_tables(out)
    counts = ", ".join(f"{len(df):,} {name}" for name, df in tables.items())
    typer.echo(f"wrote {out} ({counts}); validated")


@app.command()
def train(
    data: DataDir,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Training configuration YAML (default: the packaged one)."),
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials", min=1, help="Optuna trials per model (default: from the configuration)."
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=1, help="Tuning time budget per model, seconds."),
    ] = None,
    register: Annotated[bool, typer.Option(help="Register the new model versions.")] = True,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train every model from a data set, log the run to MLflow and register new versions."""
    from scoring.contract import ContractError
    from scoring.models.dataset import TrainingDataError
    from scoring.pipeline import train as run_train

    try:
        res = run_train(
            data, config, trials=trials, timeout=timeout, progress=progress, register=register
        )
    except (ContractError, TrainingDataError, FileNotFoundError, ValueError) as exc:
        _fail(f"training failed, nothing registered: {exc}")
    typer.echo(f"run {res.run_id} finished in {res.seconds:.0f} s")
    for key in res.models:
        m = res.metrics
        typer.echo(
            f"  {key}: test AUC {m[f'{key}_test_roc_auc']:.4f}, Brier {m[f'{key}_test_brier']:.4f}, "
            f"ECE {m[f'{key}_test_ece']:.4f}, {res.models[key].info['trees']} trees"
        )
    for key, v in res.versions.items():
        typer.echo(f"  registered {key} version {v} (alias challenger)")


@app.command()
def promote(
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the challenger is worse.")
    ] = False,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Model key(s); default: all.")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Why (recorded with the promotion).")] = "",
    who: Annotated[
        str | None, typer.Option("--who", help="Who promotes (default: the OS user).")
    ] = None,
) -> None:
    """Move the alias champion to the challenger where it is not worse on the test period."""
    from scoring import registry

    registry.setup_mlflow()
    keys = tuple(model) if model else registry.ALL_MODELS
    unknown = [k for k in keys if k not in registry.ALL_MODELS]
    if unknown:
        _fail(f"--model: unknown model(s) {unknown}; choose among {list(registry.ALL_MODELS)}", 2)
    for d in registry.promote(keys, force=force, who=who, note=note):
        mark = "promoted" if d.promoted else "kept"
        typer.echo(
            f"{d.key}: {mark} (champion v{d.champion} / challenger v{d.challenger}): {d.reason}"
        )


@app.command()
def batch(
    data: DataDir,
    as_of: Annotated[
        str, typer.Option("--as-of", help="Instant of the decisions, ISO 8601 with offset.")
    ],
    output: Annotated[Path, typer.Option("--output", help="Output file, .parquet or .csv.")],
    alias: Annotated[
        str, typer.Option("--alias", help="Registry alias of the models to use.")
    ] = "champion",
    lang: Annotated[str, typer.Option("--lang", help="Language of the reasons: fr or en.")] = "fr",
    explore: Annotated[
        bool,
        typer.Option(help="Sample actions (logged propensities); --no-explore takes the best."),
    ] = True,
) -> None:
    """Decide for every case of a data set at an instant and write one row per case."""
    from scoring.batch import run_batch
    from scoring.contract import ContractError

    if lang not in ("fr", "en"):
        _fail(f"--lang must be fr or en, not {lang!r}", 2)
    try:
        out = run_batch(data, as_of, output, alias=alias, lang=lang, explore=explore)
    except (ContractError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    except Exception as exc:  # registry errors: no champion yet, unreachable server
        if "alias" in str(exc).lower() or "not found" in str(exc).lower():
            _fail(f"no model under alias {alias!r}: run `scoring train` first ({exc})")
        raise
    mix = out["action"].value_counts().to_dict() if len(out) else {}
    typer.echo(f"wrote {output}: {len(out):,} cases; actions {mix}")


# HTTP service commands (scoring.api.commands imports only typer at module level)
from scoring.api.commands import export_command, serve_command  # noqa: E402

app.command("serve")(serve_command)
app.command("export-decisions")(export_command)


def main() -> None:  # pragma: no cover
    sys.exit(app())
