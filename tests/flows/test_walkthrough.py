"""The README's walk-through on a fresh home, with a real fault on the machine before ``make fail``:
``make run`` (its sampler service and an ingestion), a CPU hog or a memory balloon, ``make fail``, then
``ops correlate INC-1`` names the injected resource first, and ``ops baseline fit`` and ``ops alerts check``
work from the service's history."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psutil
import pytest
from rich.console import Console

from chaos.hogs import balloon, start_spinners
from demo.samples import make_demo_samples
from flows.demo import _start_sampler
from flows.failing_run import fail_once
from flows.ingest_files import ingest_files
from ops.correlate import resource_of
from ops.metrics.models import Selector
from ops.metrics.service import stop_service
from ops.metrics.store import open_store
from sluice.settings import Settings, get_settings
from tests.ops.factories import invoke

pytestmark = [pytest.mark.integration, pytest.mark.serial]
HOST = Selector.parse('sluice_host_cpu_percent{dataset="",flow=""}')
BASELINE_ROWS = 40
FAULT_ROWS = 12


@contextmanager
def provoked(fault: str, seconds: float) -> Iterator[None]:
    """A CPU hog (8 busy processes per core) or a balloon of an eighth of the host's memory, while the block runs."""
    if fault == "cpu":
        spinners = start_spinners(8 * (psutil.cpu_count() or 1))
        try:
            yield
        finally:
            for spinner in spinners:
                spinner.kill()
                spinner.wait()
        return
    megabytes = psutil.virtual_memory().total // 8 >> 20
    worker = multiprocessing.get_context("spawn").Process(target=balloon, args=(megabytes, seconds / 2))
    worker.start()
    try:
        yield
    finally:
        worker.kill()
        worker.join()


def wait_for_rows(settings: Settings, rows: int, within: float = 180.0) -> None:
    """Poll until the service has ``rows`` more host samples (a deadline against a hang, not a timing check)."""
    store = open_store(settings.metrics, home=settings.home)

    def count() -> int:
        return sum(i.points or 0 for i in store.series(HOST))

    target, deadline = count() + rows, time.monotonic() + within
    while count() < target and time.monotonic() < deadline:
        time.sleep(0.25)


def wait_until(check: Callable[[], bool], within: float = 120.0) -> bool:
    deadline = time.monotonic() + within
    while not check() and time.monotonic() < deadline:
        time.sleep(0.5)
    return check()


@pytest.fixture()
def made_run(prefect_api, sluice_home, dask_address, monkeypatch) -> Iterator[Settings]:
    """``make run`` on a fresh home: the sampler service (every 0.5 s) and the orders sample ingested."""
    monkeypatch.setenv("SLUICE_METRICS_SERVICE_SECONDS", "0.5")
    monkeypatch.setenv("SLUICE_DASK_ADDRESS", dask_address)
    settings = get_settings(fresh=True)
    said = _start_sampler(settings)
    assert said.startswith("Metrics sampler: started (pid"), said
    try:
        make_demo_samples(settings.home / "samples")
        ingest_files("orders", str(settings.home / "samples" / "orders"))
        yield settings
    finally:
        stop_service(settings.home)


@pytest.mark.parametrize("fault", ["cpu", "memory"])
def test_after_the_walk_through_correlate_names_the_fault_provoked_before_make_fail(made_run, fault, monkeypatch):
    wait_for_rows(made_run, BASELINE_ROWS)
    with provoked(fault, seconds=FAULT_ROWS * 0.5):
        wait_for_rows(made_run, FAULT_ROWS)
        assert fail_once(made_run.home, Console(record=True, width=120)) == 0
        wait_for_rows(made_run, 4)
    monkeypatch.setenv("SLUICE_CLI_RAISE", "1")

    result = invoke("correlate", "INC-1", "-o", "json", "--top", "5")

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    top = [s["metric"] for s in shown["suspects"]]
    assert resource_of(top[0]) == fault, "\n".join(
        f"{s['metric']} {s['score']:.3g}: {'; '.join(s['evidence']['reasons'][:2])}" for s in shown["suspects"]
    )
    (said,) = shown["notes"]
    assert 'dataset="orders"' in said and "host-level series" in said
    timeline = json.loads(invoke("incident", "show", "INC-1", "-o", "json").stdout)["timeline"]
    assert any(
        e["kind"] == "correlation" and e["text"].startswith(f"correlation: top suspect {top[0]}") for e in timeline
    )


def test_after_the_walk_through_baselines_fit_and_the_failed_run_fires_its_alert(made_run, monkeypatch):
    wait_for_rows(made_run, 30)
    assert fail_once(made_run.home, Console(record=True, width=120)) == 0
    store = open_store(made_run.metrics, home=made_run.home)
    assert wait_until(lambda: bool(store.series(Selector.parse('sluice_run_failed{dataset="orders"}'))))

    fitted = invoke("baseline", "fit", '{__name__=~"sluice_host_.+",dataset=""}', "--since", "1h", "-o", "json")
    checked = invoke("alerts", "check", "-o", "json")

    assert fitted.exit_code == 0, fitted.output
    assert {b["metric"] for b in json.loads(fitted.stdout)["fitted"]} >= {"sluice_host_memory_used_bytes"}
    assert checked.exit_code in (0, 1), checked.output
    assert "run-failures" in checked.stdout, checked.stdout
