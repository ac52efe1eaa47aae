"""The ``scoring`` command line."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Debt-collection risk scores and next best action.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class Engine(StrEnum):
    """Where the work runs."""

    local = "local"
    dask = "dask"


class Lang(StrEnum):
    fr = "fr"
    en = "en"


DataDir = Annotated[
    Path, typer.Option("--data", help="Data set folder (CONTRACT §1: debtors, invoices, actions).")
]
#: the registry alias of the models a command uses (the same option everywhere)
AliasOpt = Annotated[
    str,
    typer.Option("--alias", help="Registry alias of the models to use (champion, challenger)."),
]
EngineOpt = Annotated[
    Engine, typer.Option("--engine", help="local (in-process) or dask (a Dask cluster).")
]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"scoring {version('scoring')}")
        except PackageNotFoundError:  # pragma: no cover - run from a source tree
            typer.echo("scoring (not installed)")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """Debt-collection risk scores and next best action."""


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
    engine: EngineOpt = Engine.local,
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
            engine=engine.value,
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
    m = res.metrics
    for label in ("default", "dispute"):
        cands = {
            c: m.get(f"invoices_{label}_{c}_test_roc_auc") for c in ("case", "invoices", "blend")
        }
        if cands["invoices"] is not None:
            shown = ", ".join(f"{c} {v:.4f}" for c, v in cands.items() if v is not None)
            typer.echo(f"  {label} probability from: {res.selection.get(label, 'case')} "
                       f"(chosen on validation; test AUC {shown})")  # fmt: skip
    if "invoices_payment_calibration_max_gap" in m:
        typer.echo(
            f"  invoice payment dates: predicted vs observed share paid by week, max gap "
            f"{100 * m['invoices_payment_calibration_max_gap']:.1f} points (test period)"
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
        list[str] | None,
        typer.Option(
            "--key",
            "--model",
            help="Model key(s): default_risk, dispute_risk, policy; default: all. "
            "(--model is the former spelling.)",
        ),
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
        _fail(f"--key: unknown model(s) {unknown}; choose among {list(registry.ALL_MODELS)}", 2)
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
    alias: AliasOpt = "champion",
    lang: Annotated[Lang, typer.Option("--lang", help="Language of the reasons.")] = Lang.fr,
    explore: Annotated[
        bool,
        typer.Option(help="Sample actions (logged propensities); --no-explore takes the best."),
    ] = True,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    engine: EngineOpt = Engine.local,
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler address (default: a local cluster)."),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option("--partitions", min=1, help="Dask partitions (default: 4 per worker)."),
    ] = None,
    invoices: Annotated[
        Path | None,
        typer.Option(
            "--invoices",
            help="Also write one row per open invoice (payment date, dispute probability and "
            "reasons), .parquet or .csv.",
        ),
    ] = None,
) -> None:
    """Decide for every case of a data set at an instant and write one row per case."""
    from scoring.batch import run_batch
    from scoring.contract import ContractError
    from scoring.registry import RegistryError

    try:
        out = run_batch(
            data, as_of, output, alias=alias, lang=lang.value, explore=explore,
            engine=engine.value, scheduler=scheduler, partitions=partitions, progress=progress,
            invoices_output=invoices,
        )  # fmt: skip
    except (ContractError, ValueError, FileNotFoundError, RegistryError) as exc:
        _fail(str(exc))
    mix = out["action"].value_counts().to_dict() if len(out) else {}
    typer.echo(f"wrote {output}: {len(out):,} cases; actions {mix}")
    if invoices is not None:
        typer.echo(f"wrote {invoices}: one row per open invoice")


@app.command()
def forecast(
    data: DataDir,
    as_of: Annotated[
        str, typer.Option("--as-of", help="Instant of the forecast, ISO 8601 with offset.")
    ],
    weeks: Annotated[int, typer.Option("--weeks", help="Weeks to forecast (1-52).")] = 13,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            help="Weekly table (.csv or .parquet); the chart (.png) and the summary with the "
            "DSO forecast (.json) are written next to it.",
        ),
    ] = None,
    alias: AliasOpt = "champion",
    simulations: Annotated[
        int, typer.Option("--simulations", min=100, help="Monte Carlo draws of the intervals.")
    ] = 1000,
) -> None:
    """Cash-in forecast of the open invoices per week, with 80 % and 95 % intervals, by
    segment; the amount expected never to be paid; the DSO forecast."""
    from scoring.batch import run_forecast
    from scoring.contract import ContractError
    from scoring.registry import RegistryError

    try:
        fc = run_forecast(data, as_of, weeks, output, alias, simulations)
    except (ContractError, ValueError, FileNotFoundError, RegistryError) as exc:
        _fail(str(exc))
    w = fc.weekly[fc.weekly["segment"] == "all"]
    typer.echo(f"cash forecast at {fc.as_of.isoformat()} ({len(w)} weeks, EUR)")
    typer.echo(
        w[["week", "week_start", "expected", "p10", "p90", "p2_5", "p97_5"]]
        .round(0)
        .to_string(index=False)
    )
    sm = fc.summary
    typer.echo(
        f"open book {sm['open_amount']:,.0f} EUR in {sm['open_invoices']:,.0f} invoices; "
        f"expected cash-in {sm['expected_cash_in']:,.0f} "
        f"(80 %: {sm['cash_in_p10']:,.0f} - {sm['cash_in_p90']:,.0f}); expected never paid "
        f"(unpaid 90 days after due) {sm['expected_never_paid']:,.0f}"
    )
    typer.echo(
        f"DSO now {sm['dso_now']:.1f} days, in {len(w)} weeks {sm['dso_forecast_end']:.1f} days "
        f"(at constant sales of {sm['daily_sales']:,.0f} EUR a day); not yet open (due after "
        f"as_of + 15 days, not forecast): {sm['not_yet_open_amount']:,.0f} EUR"
    )
    if output is not None:
        typer.echo(f"wrote {output}, {Path(output).with_suffix('.png')}, "
                   f"{Path(output).with_suffix('.json')}")  # fmt: skip


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
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
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
    res = write_kpi_report(tables, out, cfg, decisions, progress=progress)
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


def _utc(value: str):
    """An ISO 8601 date or time as an aware UTC datetime (without a zone: UTC)."""
    import datetime as dt

    t = dt.datetime.fromisoformat(value.strip())
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _report_time(value: str | None) -> str | None:
    """Check a --since/--until value (read by :func:`_utc` when the report is built)."""
    if value is None:
        return None
    try:
        _utc(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date or time: use ISO 8601, e.g. 2026-03-01, "
            "2026-03-01T08:00 (UTC) or 2026-03-01T08:00+01:00"
        ) from None
    return value.strip()


@app.command()
def report(
    model: Annotated[
        str,
        typer.Option(
            "--alias",
            "--model",
            help="Registry alias of the models to report on (--model is the former spelling).",
        ),
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
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
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
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATETIME",
            callback=_report_time,
            help="Audited decisions taken at or after this time (ISO 8601: 2026-03-01, "
            "2026-03-01T08:00, 2026-03-01T08:00+01:00); without a zone, UTC. Default: from "
            "the start of the audit trail.",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="DATETIME",
            callback=_report_time,
            help="Audited decisions taken before this time (excluded; same format as "
            "--since). Default: up to now.",
        ),
    ] = None,
    include_key: Annotated[
        list[str] | None,
        typer.Option(
            "--include-key",
            metavar="PATTERN",
            help="Keep only the decisions asked for by an API key whose name matches this "
            "pattern (* and ?, case-insensitive); repeat for several. Default: every key.",
        ),
    ] = None,
    exclude_key: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude-key",
            metavar="PATTERN",
            help="Leave out the decisions of API keys whose name matches this pattern; "
            "repeat for several. Default: *test* (test traffic).",
        ),
    ] = None,
    keep_all_keys: Annotated[
        bool,
        typer.Option(
            "--keep-all-keys",
            help="Leave out no API key (not even *test*); not with --exclude-key.",
        ),
    ] = False,
    min_n: Annotated[
        int,
        typer.Option(
            "--min-n",
            min=1,
            help="Below this many observations a KPI or rate is reported as too few.",
        ),
    ] = 30,
) -> None:
    """Write the self-contained compliance report (HTML, opens offline).

    Audited decisions: by period (--since, --until), by API key name (--include-key, ...)."""
    from scoring.compliance_report import DEFAULT_EXCLUDED_KEYS, ReportError, build_report
    from scoring.registry import RegistryError

    if since is not None and until is not None and _utc(since) >= _utc(until):
        raise typer.BadParameter(
            f"the period is empty: {since} is not before --until {until}",
            param_hint="'--since'",
        )
    for opt, patterns in (("--include-key", include_key), ("--exclude-key", exclude_key)):
        if any(not p.strip() for p in patterns or []):
            raise typer.BadParameter("a key-name pattern cannot be empty", param_hint=f"'{opt}'")
    if keep_all_keys and exclude_key:
        raise typer.BadParameter(
            "--keep-all-keys leaves out no key: drop --exclude-key or --keep-all-keys",
            param_hint="'--exclude-key'",
        )
    excluded = () if keep_all_keys else tuple(exclude_key or DEFAULT_EXCLUDED_KEYS)
    try:
        path = build_report(
            model,
            out,
            data_dir=data,
            threshold=threshold,
            progress=progress,
            since=_utc(since) if since is not None else None,
            until=_utc(until) if until is not None else None,
            include_keys=list(include_key) if include_key else None,
            exclude_keys=excluded,
            min_n=min_n,
        )
    except (ReportError, ValueError, FileNotFoundError, RegistryError) as exc:
        _fail(str(exc))
    typer.echo(f"wrote {path}")


@app.command()
def models() -> None:
    """The champion and challenger of every model: version, registration date, test metrics,
    who promoted it."""
    import pandas as pd

    from scoring import registry

    registry.setup_mlflow()
    try:
        table = registry.models_overview()
    except registry.RegistryError as exc:
        _fail(str(exc))
    shown = table.dropna(axis=1, how="all").fillna("-")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        typer.echo(shown.to_string(index=False))
    if table["version"].isna().all():
        typer.echo("(nothing registered yet: run `scoring train --data DIR`)")
        return
    split = registry.read_split()
    if split is not None:
        versions = ", ".join(f"{k} v{v}" for k, v in sorted(split["versions"].items()))
        typer.echo(
            f"split in production: {100 * split['share']:.0f}% of debtors decided by {versions} "
            "(scoring experiment status)"
        )


audit_app = typer.Typer(help="The service's audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit trail's hash chain (SCORING_AUDIT_URL, default <home>/audit.db): every
    record unchanged and linked, no link removed; names the first broken link (exit 1)."""
    from scoring.audit import AuditConfigError, AuditStore, verify_chain
    from scoring.settings import get_settings

    try:
        store = AuditStore.from_settings(get_settings())
    except AuditConfigError as exc:
        _fail(str(exc))
    try:
        res = verify_chain(store.engine)
    finally:
        store.close()
    before = ", ".join(f"{n} {k}(s)" for k, n in res["before_chain"].items())
    if res["first_break"] is not None:
        b = res["first_break"]
        what = f" ({b['kind']} {b['ref']})" if b["kind"] else ""
        typer.echo(f"audit chain BROKEN at link {b['seq']}{what}: {b['problem']}", err=True)
    if res["not_linked"]:
        loose = ", ".join(f"{n} {k}(s)" for k, n in res["not_linked"].items())
        typer.echo(f"records written without a link (around the service): {loose}", err=True)
    if not res["ok"]:
        raise typer.Exit(1)
    typer.echo(
        f"audit chain OK: {res['links']:,} links, every record unchanged"
        + (f"; older than the chain (not covered): {before}" if before else "")
    )


@audit_app.command("migrate")
def audit_migrate(
    sql: Annotated[
        bool,
        typer.Option("--sql", help="Print the SQL of the migration instead of running it."),
    ] = False,
) -> None:
    """Bring the audit trail's schema (SCORING_AUDIT_URL, default <home>/audit.db) to this
    release's revision; prints the revision before and after. The service does it when it
    starts; this is for operators who migrate before rolling out."""
    from scoring.audit import (
        AuditConfigError,
        AuditStore,
        make_engine,
        upgrade_schema,
        upgrade_schema_sql,
    )
    from scoring.settings import get_settings

    url = AuditStore.url_of(get_settings())
    engine = make_engine(url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        if sql:
            upgrade_schema_sql(engine, url)
            return
        res = upgrade_schema(engine)
    except AuditConfigError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    before = res.before or "none (empty database)"
    if res.adopted:
        before = "none (tables of a release before migrations: stamped at the baseline)"
    typer.echo(f"audit schema of {shown}")
    typer.echo(f"  before: {before}")
    typer.echo(
        f"  after:  {res.after}" + ("  (already current)" if res.after == res.before else "")
    )


experiment_app = typer.Typer(
    help="Champion and challenger side by side in production (test and learn).",
    no_args_is_help=True,
)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("start")
def experiment_start(
    share: Annotated[
        float,
        typer.Option(
            "--share", min=0.01, max=0.5, help="Share of debtors the challenger decides (0.01-0.5)."
        ),
    ] = 0.1,
    note: Annotated[str, typer.Option("--note", help="Why (recorded with the split).")] = "",
    who: Annotated[
        str | None, typer.Option("--who", help="Who starts it (default: the OS user).")
    ] = None,
) -> None:
    """Send a share of debtors (stable hash of the debtor id) to the challenger release; every
    replica follows within its poll interval, no restart."""
    import getpass

    from scoring import registry

    registry.setup_mlflow()
    try:
        rec = registry.write_split(share, who or getpass.getuser(), note)
    except (registry.RegistryError, ValueError) as exc:
        _fail(f"cannot start the split: {exc}", 1)
        return
    versions = ", ".join(f"{k} v{v}" for k, v in sorted(rec["versions"].items()))
    typer.echo(f"split started: {100 * share:.0f}% of debtors decided by {versions}")


@experiment_app.command("stop")
def experiment_stop(
    note: Annotated[str, typer.Option("--note", help="Why (recorded with the split).")] = "",
    who: Annotated[
        str | None, typer.Option("--who", help="Who stops it (default: the OS user).")
    ] = None,
) -> None:
    """Stop the split: the champion decides for every debtor again (at each replica's next
    poll, no restart)."""
    import getpass

    from scoring import registry

    registry.setup_mlflow()
    if registry.read_split() is None:
        typer.echo("no split in force")
        return
    registry.write_split(0.0, who or getpass.getuser(), note)
    typer.echo("split stopped: the champion decides for every debtor")


@experiment_app.command("status")
def experiment_status() -> None:
    """The split in force, if any."""
    from scoring import registry

    registry.setup_mlflow()
    rec = registry.read_split()
    if rec is None:
        typer.echo("no split in force: the champion decides for every debtor")
        return
    versions = ", ".join(f"{k} v{v}" for k, v in sorted(rec["versions"].items()))
    typer.echo(
        f"{100 * rec['share']:.0f}% of debtors decided by the challenger release ({versions}); "
        f"started {rec.get('at')} by {rec.get('by')}"
        + (f": {rec['reason']}" if rec.get("reason") else "")
    )


keys_app = typer.Typer(help="API keys of the HTTP service.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


class Role(StrEnum):
    scoring = "scoring"
    compliance = "compliance"
    admin = "admin"


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="Name of the key (shown in the audit).")],
    role: Annotated[
        list[Role], typer.Option("--role", help="Role(s) of the key (repeat for several).")
    ],
) -> None:
    """Create an API key in the key file (SCORING_API_KEYS_FILE or <home>/api_keys.yaml) and
    print it once: only its SHA-256 hash is stored."""
    from scoring.api.auth import KeyConfigError, add_key, key_file_path
    from scoring.settings import get_settings

    path = key_file_path(get_settings())
    try:
        plain = add_key(path, name, [r.value for r in role])
    except KeyConfigError as exc:
        _fail(str(exc), 2)
    typer.echo(f"created key {name!r} ({'+'.join(r.value for r in role)}) in {path}")
    typer.echo(plain)
    typer.echo("(shown this once; send it in the X-API-Key header)", err=True)


def main() -> None:  # pragma: no cover
    sys.exit(app())
