"""``ops chaos``: list, validate and run chaos experiments; report drills and resilience scores.

Experiments are Chaos Toolkit files in ``chaos/experiments`` (``chaos validate
FILE`` accepts them too). ``ops chaos run`` runs one as a ``chaos-drill`` flow
run against a Prefect server (``PREFECT_API_URL``, or a local one it starts),
with a live view of its steps and verdicts. Drill journals are kept in the
chaos store, in the incident store's database (``SLUICE_INCIDENTS_URL``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from ops.cli._tables import key, number, print_fitted, text
from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    cell,
    console,
    error_message,
    exit_with_error,
    exit_with_success,
    load_settings,
    note,
    print_json,
    warn,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from chaos.runner import DrillPlan

app = typer.Typer(
    help="Chaos drills: list, validate and run experiments; report verdicts and resilience scores.",
    no_args_is_help=True,
)

ExperimentArg = Annotated[str, typer.Argument(help="An experiment of the suite (e.g. duplicate-delivery) or a file.")]
STATUS_STYLE = {"passed": "bold green", "failed": "bold red", "aborted": "bold yellow"}


@app.command("list")
@with_cli_exception_handling
def list_experiments(*, output: OutputOption = OutputFormat.TABLE) -> None:
    """List the experiments of the suite with their targets and environments."""
    from chaos.experiment import load, suite

    found = [load(path) for path in suite()]
    rows = [
        {
            "name": e.name,
            "title": e.title,
            "targets": [t.value for t in e.extension.targets],
            "environments": e.extension.environments,
            "path": str(e.path),
        }
        for e in found
    ]
    if output is OutputFormat.JSON:
        print_json(rows)
        return
    print_fitted(
        [key("Experiment"), text("Title"), text("Targets"), text("Environments", min_width=8)],
        [
            [cell(r["name"]), cell(r["title"]), cell(", ".join(r["targets"])), cell(", ".join(r["environments"]))]
            for r in rows
        ],
    )


@app.command("validate")
@with_cli_exception_handling
def validate(
    experiments: Annotated[
        list[str] | None, typer.Argument(help="Experiments or files. (default: the whole suite)")
    ] = None,
    *,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Check experiments with the Chaos Toolkit and with Sluice's rules; exit 1 at the first invalid one."""
    from chaos.experiment import load, suite

    names = experiments or [str(p) for p in suite()]
    checked = [load(name) for name in names]
    if output is OutputFormat.JSON:
        print_json([{"name": e.name, "path": str(e.path), "valid": True} for e in checked])
        return
    for e in checked:
        note(
            f"{e.path}: valid ({len(e.hypothesis_probes())} hypotheses, "
            f"{len(e.data.get('method') or [])} steps, {len(e.data.get('rollbacks') or [])} rollbacks)"
        )


def _print_plan(p: DrillPlan) -> None:
    cleared = "cleared by override" if p.overridden else "cleared"
    console.print(
        Text(f"{p.title} ({p.experiment}) in {p.environment}: {cleared}; targets {', '.join(p.targets)}", style="bold")
    )
    print_fitted(
        [key("Phase"), text("Step"), key("Type"), key("Background")],
        [[cell(s.phase), cell(s.name), cell(s.type), cell("yes" if s.background else "")] for s in p.steps],
    )
    for missing in p.missing:
        warn(f"cannot run on this host: {missing} ({missing.fix})")
    note("dry run: nothing was touched")


def _run_flow(experiment: str, env: str, override: bool, live: bool) -> list[dict[str, Any]]:
    from prefect import tags

    from chaos.flow import chaos_drill
    from chaos.runner import listening
    from flows.hooks import DRILL_TAG
    from ops.cli._chaos_view import DrillView

    view = DrillView(console)
    with listening(view.on_event), tags(DRILL_TAG):
        if live:
            with view:
                state = chaos_drill(
                    experiments=[experiment], env=env, override_blast_radius=override, return_state=True
                )
        else:
            state = chaos_drill(experiments=[experiment], env=env, override_blast_radius=override, return_state=True)
    if not view.finished:
        exit_with_error(
            f"the drill did not run: {state.message or state.name}",
            hint="ops chaos run EXPERIMENT --env ENV --dry-run checks it without running",
        )
    return view.finished


@app.command("run")
@with_cli_exception_handling
def run(
    experiment: ExperimentArg,
    *,
    env: Annotated[str, typer.Option("--env", help="The environment to drill: dev, staging or prod.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and clear the drill, show its steps, touch nothing.")
    ] = False,
    override: Annotated[
        bool,
        typer.Option(
            "--override-blast-radius",
            help="Drill an environment that is not allow-listed for chaos (SLUICE_CHAOS_ENVIRONMENTS).",
        ),
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Run one experiment as a drill, with a live view of its steps and verdicts; exit 1 unless it passes.

    A host without what the drill needs (the chaos extra; a tmpfs for the disk drill) exits 2 at once.
    """
    from chaos.prerequisites import prerequisites_error
    from chaos.runner import plan

    checked = plan(experiment, env, override=override)
    if dry_run:
        if output is OutputFormat.JSON:
            print_json(checked)
            return
        _print_plan(checked)
        return
    if checked.missing:
        problem = prerequisites_error(checked.experiment, checked.missing)
        exit_with_error(error_message(problem), hint=problem.hint, code=2)
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from demo.prefect_server import ensure_server

    server = ensure_server(load_settings().home, api_url=PREFECT_API_URL.value() or None)
    os.environ["PREFECT_API_URL"] = server.api_url  # for the drill's child processes
    with temporary_settings({PREFECT_API_URL: server.api_url}):  # this process read its settings at import
        done = _run_flow(experiment, env, override, live=output is OutputFormat.TABLE)
    if output is OutputFormat.JSON:
        print_json(done)
    result = done[-1]
    if result["status"] != "passed":
        exit_with_error(
            f"drill {result['status']}: {result['summary']}",
            hint="ops chaos report --last 1 shows its verdicts; the journal is in the incident store",
        )


def _print_trend(trend: list[Any]) -> None:
    print_fitted(
        [key("Week"), number("Drills"), number("Passed"), number("Score")],
        [
            [cell(t.period), cell(t.drills), cell(t.passed), cell("-" if t.score is None else f"{t.score:.2f}")]
            for t in trend
        ],
        title="Resilience over time",
    )


@app.command("report")
@with_cli_exception_handling
def report(
    *,
    last: Annotated[int, typer.Option("--last", min=1, help="How many of the latest drills.")] = 10,
    experiment: Annotated[str | None, typer.Option("--experiment", help="Only drills of this experiment.")] = None,
    drill: Annotated[
        str | None, typer.Option("--drill", help="One drill: its verdicts (and journal with --output json).")
    ] = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Also show each drill's environment and incidents on a narrow terminal.")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Drills with their verdicts and resilience score (share of hypotheses held, weighted by severity)."""
    from chaos.journal import journal_of, list_drills, view
    from chaos.report import trend
    from ops.cli._stores import chaos_engine
    from ops.incidents.db import transaction

    with transaction(chaos_engine()) as session:
        if drill:
            journal = journal_of(session, drill)
            if journal is None:
                exit_with_error(f"no drill {drill}", hint="ops chaos report lists the drills")
            if output is OutputFormat.JSON:
                print_json(journal)
                return
        views = [view(r) for r in list_drills(session, last=None if drill else last, experiment=experiment)]
    views = [v for v in views if v.drill_id == drill] if drill else views
    points = trend(views)
    if output is OutputFormat.JSON:
        print_json({"drills": views, "trend": points})
        return
    if not views:
        exit_with_success("no drills yet: ops chaos run EXPERIMENT --env staging")
    _print_drills(views, wide=wide)
    if drill:
        _print_verdicts(views[0])
    else:
        _print_trend(points)


def _print_drills(views: list[Any], *, wide: bool) -> None:
    print_fitted(
        [
            key("Started"),
            key("Drill"),
            text("Experiment"),
            key("Env", wide=True),
            key("Status"),
            number("Held"),
            number("Score"),
            text("Incidents", wide=True),
        ],
        [
            [
                cell(v.started_at),
                cell(v.drill_id),
                cell(v.experiment),
                cell(v.environment),
                Text(v.status, style=STATUS_STYLE.get(v.status, "")),
                cell(f"{v.hypotheses_held}/{v.hypotheses_total}"),
                cell("-" if v.score is None else f"{v.score:.2f}"),
                cell(", ".join(v.incidents)),
            ]
            for v in views
        ],
        wide=wide,
        title="Drills, newest first",
    )


def _print_verdicts(v: Any) -> None:
    print_fitted(
        [text("Verdict"), key("Kind"), key("Severity"), key("Result"), text("Detail")],
        [
            [
                cell(item["name"]),
                cell(item["kind"]),
                cell(item["severity"]),
                Text("held" if item["held"] else "broken", style="green" if item["held"] else "bold red"),
                cell(item["detail"]),
            ]
            for item in v.verdicts
        ],
        title="Verdicts",
    )
