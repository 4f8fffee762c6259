"""The root ``ops`` app and the registration of every command group."""

import typer

from ops.cli import (
    action,
    alerts,
    audit,
    backfill,
    baseline,
    catalog,
    cdc,
    chaos,
    contract,
    correlate,
    doctor,
    dpia,
    erase,
    glossary,
    hold,
    incident,
    ingest,
    lake,
    lineage,
    manifest,
    metrics,
    notify,
    pii,
    postmortem,
    profile,
    protect,
    quarantine,
    report,
    runbook,
    runs,
    sla,
    stream,
    version,
)

app = typer.Typer(
    name="ops",
    help="On-call tooling for Sluice: health checks, ingestion, contracts, quarantine, lake, manifests, runs, metrics, "
    "baselines, alerts, root-cause correlation, legal holds and erasure.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

app.command(name="version")(version.version)
app.command(name="doctor")(doctor.doctor)
app.command(name="ingest")(ingest.ingest)
app.command(name="backfill")(backfill.backfill)
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(lake.app, name="lake")
app.add_typer(audit.app, name="audit")
app.add_typer(lineage.app, name="lineage")
app.add_typer(manifest.app, name="manifest")
app.add_typer(cdc.app, name="cdc")
app.add_typer(stream.app, name="stream")
app.add_typer(contract.app, name="contract")
app.add_typer(glossary.app, name="glossary")
app.add_typer(catalog.app, name="catalog")
app.add_typer(dpia.app, name="dpia")
app.add_typer(hold.app, name="hold")
app.add_typer(erase.app, name="erase")
app.add_typer(pii.app, name="pii")
app.add_typer(protect.app, name="protect")
app.add_typer(runs.app, name="runs")
app.add_typer(baseline.app, name="baseline")
app.add_typer(metrics.app, name="metrics")
app.add_typer(alerts.app, name="alerts")
app.add_typer(incident.app, name="incident")
app.add_typer(runbook.app, name="runbook")
app.add_typer(postmortem.app, name="postmortem")
app.add_typer(action.app, name="action")
app.add_typer(report.app, name="report")
app.command(name="profile")(profile.profile)
app.add_typer(sla.app, name="sla")
app.add_typer(notify.app, name="notify")
app.command(name="correlate")(correlate.correlate)
app.add_typer(chaos.app, name="chaos")
