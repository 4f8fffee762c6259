"""Realistic data for every ``ops`` list/show table, with the numbers each must print whole.

Used by tests/ops/cli/test_width.py.

Each builder fills a fresh Sluice home and returns the commands to render
and, for each, the numbers of its data as the command writes them. The
names, paths and texts are as long as real ones get, so that at 80 columns
the tables have to give way somewhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.models import Incident
from ops.metrics.store import open_store
from sluice.runs.records import FileStatus
from sluice.settings import Settings
from tests.ops.alerts.factories import series
from tests.ops.baselines.fleet import daily_series, with_values
from tests.ops.correlate.factories import fault_frame, write_csv
from tests.ops.factories import (
    QuarantineRow,
    closed_port_url,
    file_outcome,
    invoke,
    run_report,
    save_runs,
    write_lake_commit,
    write_quarantine,
)
from tests.ops.incidents.factories import failure
from tests.ops.postmortems.factories import save_scripted_runs, scripted_incident
from tests.ops.reports.factories import scripted_incidents

LONG_DATASET = "customer_orders_eu_west"
LONG_TITLE = (
    "ingest-files failed: SourceNotFoundError: no files match *.csv.gz under "
    "s3://landing-zone-eu-west-1/drop/customer-orders/2026/03/05/"
)


@dataclass(frozen=True)
class Shown:
    """A command to render, the numbers of its data as it prints them, and the exit codes it may end with."""

    args: tuple[str, ...]
    numbers: tuple[str, ...] = ()
    exit_codes: tuple[int, ...] = (0,)


def _json(*args: str) -> object:
    result = invoke(*args, "-o", "json")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def runs(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    files = [
        file_outcome(
            f"s3://landing-zone-eu-west-1/drop/{LONG_DATASET}/2026/03/05/part-{i:05d}.csv.gz", rows_read=9_876_543 + i
        )
        for i in range(2)
    ]
    files.append(
        file_outcome(
            "s3://landing-zone-eu-west-1/drop/x/broken.csv.gz",
            status=FileStatus.FAILED,
            error="truncated gzip stream after 1,048,576 bytes: CRC check failed",
            rows_read=0,
        )
    )
    big = run_report(
        "4060bb8f-5ecb-4bb4-9e0c-2d1f0c3a9b77",
        dataset=LONG_DATASET,
        rows_read=20_000_000,
        rows_written=19_012_345,
        files=files,
    )
    big.rows_quarantined, big.rows_duplicate, big.bytes_read = 600_123, 387_531, 12_345_678_901
    save_runs(settings, big, run_report("3a590be7-0000-4000-8000-000000000001", rows_read=11))
    counts = ("20,000,000", "19,012,345", "600,123", "387,531")
    return [
        Shown(("runs", "list"), counts),
        Shown(("runs", "show", "4060bb8f"), (*counts, "12,345,678,901", "9,876,543", "9,876,544", "1,048,576")),
    ]


def _grow(session: Session, ref_id: int, occurrences: int, title: str) -> None:
    incident = session.get(Incident, ref_id)
    incident.occurrences, incident.title = occurrences, title


def incidents(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    base = datetime.now(timezone.utc) - timedelta(days=5)
    with transaction(open_engine(store_url(settings.home))) as session:
        made = scripted_incidents(session, base)
        _grow(session, made[1].id, 12_345, LONG_TITLE)
        _grow(session, made[3].id, 1_234_567, LONG_TITLE.upper())
    report = _json("report", "--since", "30d")
    minutes = tuple(
        f"{v:,.1f}"
        for v in (
            report["mtta"]["mean_minutes"],
            report["mtta"]["median_minutes"],
            report["mttr"]["mean_minutes"],
            report["mttr"]["median_minutes"],
        )
    )
    offenders = tuple(f"{o['occurrences']:,}" for o in report["repeat_offenders"])
    ranked = tuple(str(c["score"]) for c in _json("runbook", "match", "INC-2")["candidates"])
    return [
        Shown(("incident", "list"), ("12,345", "1,234,567")),
        Shown(("incident", "show", "INC-4"), ("1,234,567",)),
        Shown(("action", "list"), ()),
        Shown(("report", "--since", "30d"), (*minutes, *offenders)),
        Shown(("runbook", "match", "INC-2"), ranked),
    ]


def alerts(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    labels = {"flow": "ingest-files", "environment": "staging", "worker": "tcp://127.0.0.1:40000"}
    quiet = [series(np.full(15, 5.0), dataset=f"{LONG_DATASET}_{i}", **labels) for i in range(3)]
    loud = series(np.r_[np.full(9, 5.0), np.full(6, 1_234_567.0)], dataset=LONG_DATASET, **labels)
    open_store(home=settings.home).write_series([*quiet, loud])
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {id: rows-far-too-many-for-this-dataset, summary: s, selector: m, "
        "direction: above, threshold: {static: 12345.5}, trigger: {window: 15m, fraction: 0.5}, "
        "recovery: {window: 1h, fraction: 0}, severity: SEV2, runbook: invalid-contract-or-config}\n"
    )
    assert invoke("alerts", "check", "--rules", str(rules), "--at", "2026-03-02T01:00:00Z").exit_code == 0
    return [
        Shown(
            ("alerts", "check", "--rules", str(rules), "--at", "2026-03-02T01:00:00Z", "--dry-run"),
            ("1.235e+06", "1.235e+04"),
        ),
        Shown(("alerts", "list", "--history", "5"), ("1.235e+06",)),
        Shown(("alerts", "rules", "--rules", str(rules)), ("12345.5", "50%/15m", "≤0%/1h")),
        Shown(("alerts", "rules"), ()),
    ]


def baselines(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    fleet = [daily_series(name=f"{LONG_DATASET}_{i}", seed=i) for i in range(2)]
    open_store(home=settings.home).write_series([with_values(s, s.values * 12_345.6) for s in fleet])
    end = "2026-03-16T00:00:00Z"
    fitted = _json("baseline", "fit", "sluice_rows_read", "--since", "14d", "--end", end)["fitted"]
    shown = _json("baseline", "show", "--at", end)
    hourly = _json("baseline", "show", f'sluice_rows_read{{dataset="{LONG_DATASET}_0"}}', "--at", end, "--hours", "6")
    band = tuple(f"{v[k]:,.4g}" for v in shown for k in ("expected", "lower", "upper", "scale"))
    return [
        Shown(("baseline", "show", "--at", end), band),
        Shown(
            ("baseline", "show", f'sluice_rows_read{{dataset="{LONG_DATASET}_0"}}', "--at", end, "--hours", "6"),
            tuple(f"{row[k]:,.4g}" for row in hourly for k in ("lower", "expected", "upper")),
        ),
        Shown(("baseline", "versions"), (str(len(fitted)),)),
    ]


def correlate(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    fault = fault_frame(extra={f"{LONG_DATASET}_queue_depth_{i}": np.linspace(0, 1e6, 600) for i in range(2)})
    path = write_csv(fault, tmp_path / "metrics.csv")
    args = ("correlate", "--metrics", str(path), "--failure-at", str(int(fault.frame.times[fault.failure] // 1e9)))
    found = _json(*args)
    return [Shown(args, tuple(f"{s['score']:.3g}" for s in found["suspects"][:10]))]


def metrics(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    values = np.r_[np.full(30, 12_345_678.0), np.full(30, 0.0421)]
    open_store(home=settings.home).write_series(
        [
            series(
                values,
                metric="sluice_rows_read_total",
                dataset=LONG_DATASET,
                flow="ingest-files",
                environment="staging",
                worker="tcp://127.0.0.1:40000",
            )
        ]
    )
    window = ("--start", "2026-03-02T00:00:00Z", "--end", "2026-03-02T06:00:00Z")
    return [
        Shown(("metrics", "list"), ("60",)),
        Shown(("metrics", "query", "sluice_rows_read_total", *window, "--tail", "40"), ("12,345,678", "0.0421")),
    ]


def notifications(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    from ops.notify.outbox import enqueue

    monkeypatch.setenv("SLUICE_PAGERDUTY_ROUTING_KEY", "R0UTING0KEY")
    monkeypatch.setenv("SLUICE_SLACK_WEBHOOK_URL", "https://hooks.slack.example.com/services/T0/B0/X")
    with transaction(open_engine(store_url(settings.home))) as session:
        incident = session.merge(_triggered(session))
        for note in enqueue(session, incident, "trigger"):
            note.attempts, note.last_error = (
                12_345,
                ("PagerDuty unreachable: ConnectError: [Errno 111] Connection refused after 4 requests over 1,234 ms"),
            )
    listed = _json("notify", "list")
    return [Shown(("notify", "list"), (*(f"{n['attempts']:,}" for n in listed), "1,234"))]


def _triggered(session: Session) -> Incident:
    from ops.incidents.service import trigger

    return trigger(session, failure(1, title=LONG_TITLE, runbook_id="source-unreachable")).incident


def postmortems(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    with transaction(open_engine(store_url(settings.home))) as session:
        scripted_incident(session, title=LONG_TITLE)
    save_scripted_runs(settings.metadata_db_url())
    assert invoke("postmortem", "create", "INC-1").exit_code == 0
    assert invoke("postmortem", "publish", "INC-1", "--out", str(tmp_path / ("pm-" * 20) / "INC-1.md")).exit_code == 0
    return [Shown(("postmortem", "list"), ())]


def quarantine(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    source = f"s3://landing-zone-eu-west-1/drop/{LONG_DATASET}/2026/03/05/part-00001.csv.gz"
    rows = [
        QuarantineRow(
            dataset="orders",
            run_id="4060bb8f-5ecb-4bb4-9e0c-2d1f0c3a9b77",
            source_file=source,
            source_row=1_234_567 + i,
            reason="unparseable_timestamp",
            column="ordered_at",
            value="05/03/2026 10:00:00 +0100 (Central European Standard Time)",
            record={"order_id": "O-000123456", "ordered_at": "05/03/2026 10:00:00 +0100"},
        )
        for i in range(3)
    ]
    write_quarantine(settings, rows)
    numbers = ("1,234,567", "1,234,568", "1,234,569")
    return [
        Shown(("quarantine", "list"), numbers),
        Shown(("quarantine", "list", "--summary"), ("3",)),
        Shown(("quarantine", "show", "orders", "1234567"), ("1,234,567",)),
    ]


def lake(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    counts = {
        "rows_read": 20_000_000,
        "rows_written": 19_012_345,
        "rows_quarantined": 600_123,
        "rows_duplicate": 387_532,
    }
    uri = write_lake_commit(
        settings, "orders", run_id="4060bb8f-5ecb-4bb4-9e0c-2d1f0c3a9b77", counts=counts, sources=12
    )
    (Path(uri) / f"part-00001-{'f' * 36}-c000.snappy.parquet").write_bytes(b"x" * 123_456)
    return [
        Shown(("lake", "history", "orders"), ("20,000,000", "19,012,345", "600,123", "387,532", "12")),
        Shown(("lake", "vacuum", "orders", "--dry-run"), ("120.6 KiB",)),
    ]


def chaos(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    from chaos.journal import DrillRecord

    verdicts = [
        {
            "name": "conservation-every-source-row-once-even-under-duplicate-delivery",
            "kind": "conservation",
            "severity": "SEV1",
            "held": False,
            "checks": 1_234,
            "detail": "read 1,234,567 rows, accounted 1,234,560: 7 rows unaccounted for after the rerun",
        }
    ]
    with transaction(open_engine(store_url(settings.home))) as session:
        for i in range(3):
            session.add(
                DrillRecord(
                    drill_id=f"0a1b2c3d4e5{i}",
                    experiment="prefect-api-unreachable",
                    title="t",
                    environment="staging",
                    status="failed",
                    score=0.8125,
                    hypotheses_held=13,
                    hypotheses_total=16,
                    started_at=datetime(2026, 3, 2 + i, tzinfo=timezone.utc),
                    incidents="INC-12,INC-13",
                    verdicts=json.dumps(verdicts),
                )
            )
    return [
        Shown(("chaos", "list"), ()),
        Shown(("chaos", "report"), ("13/16", "0.81")),
        Shown(("chaos", "report", "--drill", "0a1b2c3d4e50"), ("13/16", "0.81", "1,234,567", "1,234,560")),
        Shown(("chaos", "run", "lake-disk-full", "--env", "dev", "--dry-run"), ()),
    ]


def contracts(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    import shutil

    import yaml

    before, now = tmp_path / "contracts-before", tmp_path / "contracts-now"
    shutil.copytree(settings.contracts_root(), before)
    shutil.copytree(settings.contracts_root(), now)
    orders = yaml.safe_load((before / "orders.yaml").read_text())
    orders["version"] = 123
    orders["columns"] += [{"name": "loyalty_programme_membership_tier_code", "type": "string"}]
    orders["columns"][4]["type"] = "int64"
    orders["columns"][4]["allowed_values"] = None
    (now / "orders.yaml").write_text(yaml.safe_dump(orders))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(now))
    return [
        Shown(("contract", "list"), ("123", "13")),
        Shown(("contract", "show", "orders"), ("123",)),
        Shown(("contract", "diff", str(before / "orders.yaml"), "orders"), ("123",)),
        Shown(("contract", "check", "--previous", str(before)), ("123",), exit_codes=(1,)),
    ]


def everything_else(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    monkeypatch.setenv("PREFECT_API_URL", closed_port_url())  # the doctor's first check fails: exit 1
    return [Shown(("runbook", "list")), Shown(("version",)), Shown(("doctor",), exit_codes=(1,))]


BUILDERS = (
    runs,
    incidents,
    alerts,
    baselines,
    correlate,
    metrics,
    notifications,
    postmortems,
    quarantine,
    lake,
    chaos,
    contracts,
    everything_else,
)
