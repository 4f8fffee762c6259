"""``ops correlate`` end to end: offline CSV, incidents on a real store, JSON shape, plot, bad input."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.service import trigger
from ops.metrics.store import open_store
from tests.ops.correlate.factories import as_series, fault_frame, write_csv
from tests.ops.factories import invoke, sluice_home
from tests.ops.incidents.factories import failure


def offline(tmp_path, *extra: str, **fault_args) -> tuple[object, list[str]]:
    fault = fault_frame(**fault_args)
    path = write_csv(fault, tmp_path / "metrics.csv")
    return fault, [
        "correlate",
        "--metrics",
        str(path),
        "--failure-at",
        str(int(fault.frame.times[fault.failure] // 1_000_000_000)),
        *extra,
    ]


def test_offline_json_has_the_stable_shape_best_first(tmp_path):
    _, args = offline(tmp_path, "-o", "json", extra={"idle_cpu": np.full(600, 1.0)})

    result = invoke(*args)

    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["failure_at"] == "2026-03-05T10:06:40+00:00"
    suspects = out["suspects"]
    assert suspects[0]["metric"] == "db_cpu" and suspects[0]["resource"] == "cpu"
    assert [s["score"] for s in suspects] == sorted((s["score"] for s in suspects), reverse=True)
    assert {"metric", "score", "evidence"} <= set(suspects[0])
    evidence = suspects[0]["evidence"]
    assert {"z", "timing", "change_at", "correlation", "granger", "factors", "reasons"} <= set(evidence)
    assert evidence["timing"] == "simultaneous" and evidence["granger"] is None
    assert out["skipped"] == [{"column": "idle_cpu", "reason": "constant: every value is 1"}]
    assert "skipped 1 column(s): idle_cpu (constant" in result.stderr


def test_offline_with_a_target_and_iso_failure_time(tmp_path):
    rng = np.random.default_rng(2)
    latency = 0.1 + rng.gamma(2.0, 0.01, 600)
    latency[402:] += 0.5
    fault = fault_frame(extra={"latency": latency})
    path = write_csv(fault, tmp_path / "m.csv", iso=True)

    result = invoke(
        "correlate",
        "--metrics",
        str(path),
        "--failure-at",
        "2026-03-05T10:06:40Z",
        "--target",
        "latency",
        "--top",
        "3",
        "-o",
        "json",
    )

    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["target"] == "latency" and len(out["suspects"]) == 3
    top = out["suspects"][0]
    assert top["metric"] == "db_cpu" and top["evidence"]["correlation"]["signal"] == "latency"
    assert top["evidence"]["granger"]["tested"] is True


def test_the_table_names_the_top_suspect_and_why(tmp_path):
    _, args = offline(tmp_path)

    result = invoke(*args)

    assert result.exit_code == 0, result.output
    assert "db_cpu" in result.stdout and "why #1: rose" in result.stdout


def test_plot_is_written(tmp_path):
    _, args = offline(tmp_path, "--plot", str(tmp_path / "out" / "suspects.png"))

    result = invoke(*args)

    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "suspects.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "fault_args,failure_at,message",
    [
        ({}, "1000", "error: the failure time 1970-01-01T00:16:40+00:00 is outside the data"),
        ({"failure": 2}, None, "error: too short a window: 600 rows, 2 before the failure"),
        ({"rows": 6, "failure": 4}, None, "error: too short a window: 6 rows"),
    ],
)
def test_bad_windows_exit_1_with_a_reason(tmp_path, fault_args, failure_at, message):
    _, args = offline(tmp_path, **fault_args)
    if failure_at:
        args[-1] = failure_at

    result = invoke(*args)

    assert result.exit_code == 1
    assert message in result.stderr and "hint:" in result.stderr and "Traceback" not in result.output
    assert not re.search(r"\d s\b", result.stderr), result.stderr  # durations as the options take them: 45s, 2m


@pytest.mark.parametrize(
    "text,message",
    [
        ("time,a,b\n1,2,x\n2,3,4\n", "non-numeric values"),
        ("time,a\n1,2\n2,3,4\n", "rows do not match the header"),
        (
            "time," + ",".join(f"c{i}" for i in range(3)) + "\n" + "".join(f"{t},1,2,3\n" for t in range(50)),
            "no metric varies in the window, so there is nothing to rank (skipped c0: constant",
        ),
    ],
)
def test_bad_files_exit_1_with_a_reason(tmp_path, text, message):
    (tmp_path / "m.csv").write_text(text)

    result = invoke("correlate", "--metrics", str(tmp_path / "m.csv"), "--failure-at", "30")

    assert result.exit_code == 1 and message in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["correlate"],
        ["correlate", "INC-1", "--flow-run", "abc"],
        ["correlate", "--metrics", "m.csv"],
        ["correlate", "INC-1", "--failure-at", "1"],
        ["correlate", "--metrics", "m.csv", "--failure-at", "last tuesday"],
        ["correlate", "INC-1", "--before", "forever"],
    ],
)
def test_usage_errors_exit_2(args, monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke(*args)

    assert result.exit_code == 2, result.output
    assert "Usage:" in result.output


def test_an_incident_gets_its_correlation_on_the_timeline(monkeypatch, tmp_path):
    settings = sluice_home(monkeypatch, tmp_path)
    fault = fault_frame(culprit="web_mem", size=3e8)
    labels = {"flow": "ingest-files", "dataset": "orders", "host": "h1"}
    open_store(home=settings.home).write_series(as_series(fault, labels))
    with transaction(open_engine(store_url(settings.home))) as session:
        trigger(session, failure(at=fault.failure_at))

    result = invoke("correlate", "INC-1", "-o", "json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["suspects"][0]["metric"] == "sluice_host_web_mem"
    shown = json.loads(invoke("incident", "show", "INC-1", "-o", "json").stdout)
    (entry,) = [e for e in shown["timeline"] if e["kind"] == "correlation"]
    assert entry["text"].startswith("correlation: top suspect sluice_host_web_mem (resource=memory)")


def test_an_unknown_incident_exits_1(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    result = invoke("correlate", "INC-9")

    assert result.exit_code == 1 and "error: no incident INC-9" in result.stderr
