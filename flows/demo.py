"""The main job: sample data through the ingestion flow under a local Prefect server.

Run with ``make run`` (or ``python -m flows.demo``). It starts ``prefect server
start`` in the background unless one already answers, and the metrics sampler
service (:mod:`ops.metrics.service`: host metrics every few seconds, so a later
failure has history behind it; ``SLUICE_METRICS_SERVICE=false`` skips it),
generates a realistic sample set, ingests it on a local Dask cluster, registers
the deployments and prints what was read, written, quarantined and deduplicated.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

if TYPE_CHECKING:
    from sluice.settings import Settings

console = Console()


POOL = "sluice-process"


def ensure_work_pool(prefect: str, env: dict[str, str], pool: str = POOL) -> bool:
    """Create the process work ``pool`` unless it exists (an existing one keeps its settings); True if created."""
    found = subprocess.run([prefect, "work-pool", "inspect", pool], env=env, capture_output=True, check=False)
    if found.returncode == 0:
        return False
    created = subprocess.run(
        [prefect, "work-pool", "create", pool, "--type", "process"], env=env, capture_output=True, check=False
    )
    return created.returncode == 0


def _why_not(output: str) -> str:
    """The ``error:``/``hint:`` lines of a failed deploy (flows/deploy_check.py), else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    said = [line for line in lines if line.startswith(("error:", "hint:"))]
    return " ".join(said or lines[-1:]) or "prefect deploy failed"


def _deploy(api_url: str, home: Path, env_name: str) -> str | None:
    """Register the deployments of prefect.yaml (the work pool is created if missing); None, or why not."""
    project = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PREFECT_API_URL": api_url, "SLUICE_HOME": str(home), "SLUICE_ENV": env_name}
    prefect = str(Path(sys.executable).parent / "prefect")
    ensure_work_pool(prefect, env)
    done = subprocess.run(
        [prefect, "--no-prompt", "deploy", "--all"], env=env, capture_output=True, text=True, check=False, cwd=project
    )
    return None if done.returncode == 0 else _why_not(done.stderr + "\n" + done.stdout)


def _deployment_names() -> str:
    """The deployments ``prefect deploy --all`` registers, as prefect.yaml lists them."""
    import yaml

    project = yaml.safe_load((Path(__file__).resolve().parents[1] / "prefect.yaml").read_text())
    return ", ".join(
        f"{d['entrypoint'].rsplit(':', 1)[-1].replace('_', '-')}/{d['name']}" for d in project.get("deployments", [])
    )


def _summary(reports: list) -> Table:
    """A row per dataset; every count whole at 80 columns (the flow runs' links are printed below it)."""
    from rich import box

    table = Table(title="Sluice ingestion", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    widest = max([len("dataset"), *(len(r.dataset) for r in reports)])
    table.add_column("dataset", overflow="fold", min_width=min(widest, 24))
    for name in ("files", "read", "written", "quarantined", "duplicate", "version"):
        table.add_column(name, justify="right", no_wrap=True)
    for r in reports:
        table.add_row(
            r.dataset,
            f"{len(r.files):,}",
            f"{r.rows_read:,}",
            f"[green]{r.rows_written:,}",
            f"[yellow]{r.rows_quarantined:,}",
            f"{r.rows_duplicate:,}",
            "-" if r.lake_version is None else str(r.lake_version),
        )
    return table


def _start_sampler(settings: Settings) -> str:
    """Start the background sampler service unless it runs or is turned off; what to say about it."""
    from ops.metrics.errors import MetricsError
    from ops.metrics.service import start_service

    if not settings.metrics.metrics_service:
        return "Metrics sampler: off (SLUICE_METRICS_SERVICE=false)"
    try:
        status = start_service(settings.home, settings)
    except MetricsError as exc:
        return f"Metrics sampler: not started: {exc} ({exc.hint})"
    said = "started" if status.started else "already running"
    return (
        f"Metrics sampler: {said} (pid {status.pid}, every {status.interval:g} s, log {status.log}); "
        "stop it: ops metrics sampler stop"
    )


def main() -> int:
    from sluice.settings import get_settings

    settings = get_settings()
    from demo.prefect_server import ensure_server

    with console.status("Starting the local Prefect server (first start takes ~30 s)…"):
        server = ensure_server(settings.home)
    os.environ["PREFECT_API_URL"] = server.api_url
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    sampler = _start_sampler(settings)
    from demo.samples import make_demo_samples

    with console.status("Generating sample data…"):
        manifests = make_demo_samples(settings.home / "samples")
    from flows.ingest_files import ingest_files

    reports = []
    for dataset in ("orders", "customers"):
        console.print(f"[bold]Ingesting {dataset}[/] on a local Dask cluster…")
        reports.append(ingest_files(dataset, str(settings.home / "samples" / dataset)))
    from flows.alerts_evaluate import alerts_evaluate

    with console.status("Evaluating alert rules on the runs' metrics…"):
        alerts = alerts_evaluate()
    with console.status("Registering deployments…"):
        not_deployed = _deploy(server.api_url, settings.home.resolve(), settings.env)
    console.print(_summary(reports))
    for r in reports:
        console.print(f"{r.dataset} flow run: {server.ui_url}/runs/flow-run/{r.run_id}", soft_wrap=True)
    for r in reports:
        if r.files_skipped and not r.files_committed and not r.files_failed:
            console.print(
                f"{r.dataset}: nothing new: its {len(r.files_skipped)} file(s) are in the lake from an "
                "earlier run (`ops lake history`); remove .sluice to start over"
            )
            continue
        truth = manifests[r.dataset]
        ok = (r.rows_read, r.rows_written, r.rows_quarantined, r.rows_duplicate) == (
            truth.rows_total,
            truth.rows_unique_valid,
            truth.rows_bad,
            truth.rows_duplicate,
        )
        console.print(
            f"{r.dataset}: {r.rows_read:,} read = {r.rows_written:,} written + "
            f"{r.rows_quarantined:,} quarantined + {r.rows_duplicate:,} duplicate "
            + ("[green]matches the generator's ground truth" if ok else "[red]DIFFERS from the ground truth")
        )
    console.print(
        f"alerts: {alerts.samples_collected:,} run metrics collected, {alerts.series:,} series checked, "
        f"{alerts.firing} firing: {', '.join(alerts.firing_rules) or 'none'}"
    )
    if "freshness-sla-breach" in alerts.firing_rules:
        console.print(
            "  [dim]freshness-sla-breach is right to fire: the sample data ends in October 2024, so the "
            "newest row is two years old. `ops alerts list` shows what fires.[/]"
        )
    started = f"started (pid {server.pid}, log {server.log})" if server.started else "already running"
    deployments = f"registered: {_deployment_names()}" if not_deployed is None else f"not registered: {not_deployed}"
    console.print(
        Panel.fit(
            f"Prefect UI: [link={server.ui_url}]{server.ui_url}[/link]  (server {started})\n"
            f"Deployments: {deployments}\n"
            f"{sampler}\n"
            f"Lake: {settings.lake_root()}    Quarantine: {settings.quarantine_root()}\n\n"
            f"For ops and prefect commands: [bold]export PREFECT_API_URL={server.api_url}[/]\n"
            "Next: [bold]ops runs list[/]   [bold]ops quarantine list --summary[/]   [bold]ops lake history orders[/]\n"
            "      [bold]ops metrics list[/]   [bold]ops alerts check[/]\n"
            f"Stop the server: kill $(cat {settings.home / 'prefect-server.pid'})",
            title="Where to look",
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
