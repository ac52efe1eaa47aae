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
    act = tables["actions"]
    if len(act) == 0:
        typer.echo(
            "  note: no actions: `scoring train` will train the risk models but no policy", err=True
        )
    elif act["propensity"].isna().all():
        typer.echo(
            "  note: no action has a propensity: off-policy estimates will not be available",
            err=True,
        )


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path(
        "data/synthetic/default"
    ),
    debtors: Annotated[int, typer.Option("--debtors", min=1, help="Number of debtors.")] = 20000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same data).")] = 1,
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="Behavioural law of the world (see docs/scenarios.md); `list` prints them.",
        ),
    ] = "baseline",
    list_scenarios: Annotated[
        bool, typer.Option("--list-scenarios", help="Print the scenarios and exit.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Generate a synthetic data set that follows the contract."""
    from scoring.synthetic.scenarios import SCENARIOS

    if list_scenarios or scenario == "list":
        width = max(len(n) for n in SCENARIOS)
        for name, sc in SCENARIOS.items():
            typer.echo(f"{name:<{width}}  {sc.description}")
        return
    if scenario not in SCENARIOS:
        _fail(
            f"unknown scenario {scenario!r}; valid scenarios: {', '.join(SCENARIOS)} "
            "(`--scenario list` describes them)",
            code=2,
        )
    from scoring.contract import load_tables
    from scoring.synthetic import generate as gen

    world = gen(debtors, seed=seed, progress=progress, scenario=scenario)
    world.write(out)
    tables = load_tables(out)
    counts = ", ".join(f"{len(df):,} {name}" for name, df in tables.items())
    typer.echo(f"wrote {out} (scenario {scenario}: {counts}); validated")


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
    engine: Annotated[str, typer.Option("--engine", help="local (in-process) or dask.")] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler address (default: a local cluster)."),
    ] = None,
) -> None:
    """Train every model from a data set, log the run to MLflow and register new versions."""
    from scoring.contract import ContractError
    from scoring.models.dataset import TrainingDataError
    from scoring.pipeline import train as run_train

    try:
        res = run_train(
            data,
            config,
            trials=trials,
            timeout=timeout,
            progress=progress,
            register=register,
            engine=engine,
            scheduler=scheduler,
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
    for key, why in res.not_trained.items():
        typer.echo(f"  NOT trained: {key}: {why}", err=True)


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
        if d.champion is None and d.challenger is None:
            typer.echo(f"{d.key}: no version registered yet (run `scoring train --data DIR`)")
            continue
        mark = "promoted" if d.promoted else "kept"
        champ = f"v{d.champion}" if d.champion is not None else "none"
        typer.echo(f"{d.key}: {mark} (champion {champ} / challenger v{d.challenger}): {d.reason}")


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
    engine: Annotated[str, typer.Option("--engine", help="local (in-process) or dask.")] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler address (default: a local cluster)."),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option("--partitions", min=1, help="Dask partitions (default: 4 per worker)."),
    ] = None,
) -> None:
    """Decide for every case of a data set at an instant and write one row per case."""
    from scoring.batch import run_batch
    from scoring.contract import ContractError

    if lang not in ("fr", "en"):
        _fail(f"--lang must be fr or en, not {lang!r}", 2)
    try:
        out = run_batch(
            data, as_of, output, alias=alias, lang=lang, explore=explore, engine=engine,
            scheduler=scheduler, partitions=partitions,
        )  # fmt: skip
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


@app.command()
def kpis(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Data set folder (CONTRACT §1); omit to use only the audit."),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the tables (CSV) and charts (PNG).")
    ] = Path("reports/kpis"),
    config: Annotated[
        Path | None,
        typer.Option("--config", help="KPI targets YAML (default: the packaged kpis.yaml)."),
    ] = None,
    audit: Annotated[
        bool,
        typer.Option(help="Also compute the KPIs of the service's decisions (audit trail)."),
    ] = True,
) -> None:
    """Collection KPIs per month and segment next to their targets, as tables and a chart."""
    from scoring.contract import ContractError, load_tables
    from scoring.kpis import (
        KPI_LABELS,
        audit_engine,
        load_kpi_config,
        read_audit_decisions,
        write_kpi_report,
    )

    if data is None and not audit:
        _fail("nothing to compute: give --data DIR and/or --audit", 2)
    try:
        cfg = load_kpi_config(config)
        tables = load_tables(data) if data is not None else None
    except (ContractError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    decisions = None
    if audit:
        try:
            engine = audit_engine()
            decisions = read_audit_decisions(engine)
        except Exception as exc:  # noqa: BLE001 - an unreachable audit store is reported
            _fail(f"cannot read the audit trail: {exc}")
        if engine is not None:
            engine.dispose()
    if tables is None and (decisions is None or decisions.empty):
        _fail("the audit trail holds no decision yet; give --data DIR")
    res = write_kpi_report(tables, out, cfg, decisions)
    for key, title in (("summary", "data set"), ("audit_summary", "service decisions")):
        if key not in res:
            continue
        s = res[key]
        typer.echo(f"KPIs ({title}; complete months), config {cfg.version}:")
        labels = [lab for lab in KPI_LABELS.values() if lab in set(s["label"])]
        wide = s.pivot(index="label", columns="segment", values="shown").reindex(labels)
        wide["target"] = s.drop_duplicates("label").set_index("label")["target"]
        typer.echo(wide.to_string())
        missed = s[s["met"] == False]  # noqa: E712 - None means no target
        for r in missed.to_dict("records"):
            typer.echo(f"  target missed: {r['segment']} {r['label']} {r['shown']} ({r['target']})")
    if audit and (decisions is None or decisions.empty):
        typer.echo("(no decision in the audit trail yet)")
    typer.echo("wrote " + ", ".join(str(p) for p in res["paths"]))


@app.command()
def report(
    model: Annotated[
        str, typer.Option("--model", help="Registry alias of the models to report on.")
    ] = "champion",
    out: Annotated[Path, typer.Option("--out", help="Output HTML file.")] = Path("report.html"),
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Data set to evaluate on (metrics, disparities, KPIs); default: the one the "
            "models were trained on, if it is still there.",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            min=0.0,
            max=1.0,
            help="Probability at which a case counts as flagged (FPR/FNR); default: the "
            "observed rate of the evaluation period, per model.",
        ),
    ] = None,
) -> None:
    """Write the self-contained compliance report (HTML, opens offline)."""
    from scoring.compliance_report import ReportError, build_report

    try:
        path = build_report(model, out, data_dir=data, threshold=threshold)
    except (ReportError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    except Exception as exc:  # registry errors: no such alias, unreachable server
        if "alias" in str(exc).lower() or "not found" in str(exc).lower():
            _fail(f"no model under alias {model!r}: run `scoring train` first ({exc})")
        raise
    typer.echo(f"wrote {path}")


def main() -> None:  # pragma: no cover
    sys.exit(app())
