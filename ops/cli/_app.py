"""The root ``ops`` app and the registration of every command group."""

import typer

from ops.cli import alerts, baseline, doctor, incident, runbook, lake, metrics, quarantine, runs, version

app = typer.Typer(
    name="ops",
    help="On-call tooling for Sluice: health checks, quarantine, lake, runs, metrics, baselines and alerts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

app.command(name="version")(version.version)
app.command(name="doctor")(doctor.doctor)
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(lake.app, name="lake")
app.add_typer(runs.app, name="runs")
app.add_typer(baseline.app, name="baseline")
app.add_typer(metrics.app, name="metrics")
app.add_typer(alerts.app, name="alerts")
app.add_typer(incident.app, name="incident")
app.add_typer(runbook.app, name="runbook")
app.add_typer(__import__("ops.cli.chaos", fromlist=["app"]).app, name="chaos")
