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


def main() -> None:  # pragma: no cover
    sys.exit(app())
