"""Sluice's actions: Chaos Toolkit Python providers that deliver data, run ingestion and inject faults.

Each action works on the drill in progress (:func:`chaos.drill.current`) and
returns a small dict for the journal. An action that cannot do its job
raises, and a failed action fails the drill. Actions marked *fault* stamp the
moment the first fault went in (alerting delays are measured from it).

Faults: :func:`degrade_network`, :func:`take_source_down`, :func:`change_schema`,
:func:`redeliver`, :func:`redeliver_partially`, :func:`poison`,
:func:`kill_dask_worker`, :func:`cut_prefect_api`, :func:`fill_lake_disk`.
Alerts: :func:`seed_alert_history`, :func:`evaluate_alerts` (on the drill's own stack).
Rollbacks: :func:`heal`, :func:`resolve_drill_incidents`.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from chaos import source
from chaos.drill import current
from chaos.ingestion import ingest
from ops.errors import ChaosError

P = ParamSpec("P")
R = TypeVar("R")


def fault(fn: Callable[P, R]) -> Callable[P, R]:
    """Mark an action as a fault: the drill notes when the first fault went in."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        current().mark_fault()
        return fn(*args, **kwargs)

    return run


def _arguments(arguments: dict[str, Any]) -> str:
    """`` (rename quantity qty; drop country)``: an action's arguments as the cause names them."""
    shown = []
    for key, value in arguments.items():
        if key == "configuration":
            continue
        items = value if isinstance(value, list) else [value]
        shown += [" ".join(map(str, i.values())) if isinstance(i, dict) else f"{key} {i}" for i in items]
    return f" ({'; '.join(shown)})" if shown else ""


def source_fault(fn: Callable[P, dict[str, Any]]) -> Callable[P, dict[str, Any]]:
    """Mark an action as a fault at the source: the drill notes it, and what it changed, as the incidents' cause."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        drill = current()
        drill.mark_fault()
        said = fn(*args, **kwargs)
        detail = str(said.get("detail") or "")
        drill.source_changes.append(f"{fn.__name__.replace('_', ' ')}{_arguments(kwargs)}: {detail}".rstrip(": "))
        return said

    return run


def deliver_orders(
    rows: int, files: int = 1, seed: int = 0, name: str = "batch", configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Deliver ``rows`` new orders in ``files`` CSV files to the drill's S3 source."""
    return source.deliver_orders(current().stack, rows=rows, files=files, seed=seed, name=name).to_output()


def run_ingest(label: str, isolated_api: bool = False, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``ingest-files`` over the source once; a failed flow run is an outcome, not an action failure.

    With ``isolated_api`` the run happens in a child process that reaches the
    Prefect API only through the drill's API fault proxy.
    """
    return ingest(current(), label=label, isolated_api=isolated_api).to_dict()


@fault
def degrade_network(
    latency: float = 0.0,
    bandwidth: int | None = None,
    reset_probability: float = 0.0,
    reset_after_bytes: int = 0,
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Slow the S3 source down and reset some connections mid-response (through the fault proxy)."""
    faults = current().stack.proxy.inject(
        latency=latency, bandwidth=bandwidth, reset_probability=reset_probability, reset_after_bytes=reset_after_bytes
    )
    return {"detail": f"S3 through the proxy: {faults}", "faults": dataclasses.asdict(faults)}


@fault
def take_source_down(seconds: float, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The S3 endpoint goes away (connections refused) for ``seconds``, then comes back by itself."""
    current().stack.proxy.outage(seconds)
    return {"detail": f"S3 refuses connections for {seconds:g} s", "down_for_seconds": seconds}


@fault
def stall_source(seconds: float, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The S3 endpoint accepts connections but answers nothing (blackhole) for ``seconds``, then recovers."""
    current().stack.proxy.stall(seconds)
    return {"detail": f"S3 accepts connections but answers nothing for {seconds:g} s", "stalled_for_seconds": seconds}


@source_fault
def change_schema(
    changes: list[dict[str, str]], rows_per_file: int = 300, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Deliver files whose columns were renamed, dropped, added or changed type."""
    return source.change_schema(current().stack, changes=changes, rows_per_file=rows_per_file).to_output()


@source_fault
def redeliver(suffix: str = "again", configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Deliver every file at the source a second time under a new name."""
    return source.redeliver(current().stack, suffix=suffix).to_output()


@source_fault
def redeliver_partially(
    share: float = 0.5, new_rows: int = 200, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Deliver part of an earlier file again, mixed with new rows."""
    return source.redeliver_partially(current().stack, share=share, new_rows=new_rows).to_output()


@source_fault
def poison(kinds: list[str], rows_per_file: int = 400, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Deliver files with bad encodings, undecodable bytes, malformed rows or huge fields."""
    return source.poison(current().stack, kinds=kinds, rows_per_file=rows_per_file).to_output()


@fault
def kill_dask_worker(
    task: str = "stage_file_group", timeout: float = 120, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Wait for a task matching ``task`` to run, then SIGKILL its worker process (run it in the background)."""
    from chaos.workers import kill_worker_when_busy

    stack = current().stack
    kill = kill_worker_when_busy(stack.dask_address, task=task, timeout=timeout)
    stack.killed_workers.append(kill.worker)
    return kill.to_output()


@fault
def cut_prefect_api(
    seconds: float, after_running: float = 0.5, timeout: float = 120, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Once a drill run is Running, make the Prefect API unreachable (through its proxy) for ``seconds``."""
    from chaos.prefect_api import wait_for_running

    drill = current()
    proxy = drill.stack.prefect_api_proxy()
    run_id = wait_for_running(drill.tag, timeout=timeout)
    time.sleep(after_running)
    proxy.outage(seconds)
    return {
        "detail": f"Prefect API down for {seconds:g} s while flow run {run_id} ran",
        "flow_run_id": run_id,
        "down_for_seconds": seconds,
    }


def mount_lake_disk(size_mb: int = 16, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Put a tmpfs of ``size_mb`` MiB under the drill's (still empty) lake folder."""
    from chaos.disk import mount_tmpfs

    stack = current().stack
    mount_tmpfs(stack.lake_root, size_mb)
    stack.mounted = stack.lake_root
    return {
        "detail": f"a {size_mb} MiB tmpfs under {stack.lake_root}",
        "mounted": str(stack.lake_root),
        "size_mb": size_mb,
    }


@fault
def fill_lake_disk(leave_kb: int = 8, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fill the lake's small disk until only ``leave_kb`` KiB are free."""
    from chaos.disk import fill

    stack = current().stack
    if stack.mounted is None:
        raise ChaosError("the lake has no small disk to fill", hint="run mount_lake_disk before the first run")
    stack.ballast = fill(stack.mounted, leave_bytes=leave_kb * 1024)
    return {"detail": f"the lake disk is full but {leave_kb} KiB", "ballast": str(stack.ballast), "free_kb": leave_kb}


def _host_faults() -> Any:
    from chaos.hostfaults import HostFaults

    stack = current().stack
    if stack.host_faults is None:
        stack.host_faults = HostFaults()
    return stack.host_faults


@fault
def hog_cpu(per_core: int = 8, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """``per_core`` busy processes per core of the host, until the rollback heals them."""
    count = _host_faults().hog_cpu(per_core)
    return {"detail": f"{count} busy processes ({per_core} per core) hog the host's CPU", "processes": count}


@fault
def grow_memory_balloon(
    share: float = 0.125, seconds: float = 5.0, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A process that takes ``share`` of the host's memory over ``seconds`` and holds it until the rollback."""
    megabytes = _host_faults().balloon(share, seconds)
    return {"detail": f"a balloon holds {megabytes:,} MB ({share:.0%} of the host's memory)", "megabytes": megabytes}


def evaluate_host_alert(
    rule: str, rise: float, window: str = "10s", configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Evaluate host rule ``rule`` scaled to the drill: the host's level before the fault plus ``rise``, over
    ``window`` (waited out from now on: the fault actions before return once the fault is at full strength), on
    the host samples the drill takes. What fires opens a drill incident linking the rule's runbook."""
    from chaos.alerts import ensure_rules, evaluate_host, scaled_rule
    from chaos.hostfaults import level_before
    from ops.metrics.store import open_store
    from ops.metrics.timerange import parse_duration
    from sluice.settings import get_settings

    drill = current()
    span = parse_duration(window)
    selector = ensure_rules([rule]).rules[0].selector
    store = open_store(get_settings().metrics, home=get_settings().home)
    level = level_before(store, selector, drill.fault_started_at or drill.started_at, timedelta(minutes=1))
    time.sleep(span.total_seconds() + 2.0)  # the window ends now, after the fault reached full strength
    return evaluate_host(drill, scaled_rule(rule, threshold=level + rise, window=window), store).to_output() | {
        "level_before": level
    }


def sample_steady_state(seconds: float = 20.0, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Let the drill's sampling record ``seconds`` of the stack at rest before the fault: the history an alert's
    level and a correlation's baseline are read from (a drill's stack is fresh; a real one has run for days)."""
    drill = current()
    if drill.fault_started_at is not None:
        raise ChaosError("the fault is already in", hint="sample the steady state before the first fault")
    stack = drill.stack  # starts the stack, and its sampling, if it has not started yet
    time.sleep(seconds)
    return {"detail": f"sampled {seconds:g} s of the stack at rest", "seconds": seconds, "root": str(stack.root)}


def await_host_alert(
    rule: str,
    rise: float,
    window: str = "2s",
    within_seconds: float = 120.0,
    configuration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate host rule ``rule`` scaled to the drill (the host's level before the fault plus ``rise``, over
    ``window``) every second, as an alert evaluator does, until it fires or ``within_seconds`` pass: for a fault
    whose effect comes later than the action that injects it (a worker killed once it runs a task, a network
    degraded before the run that crosses it). What fires opens a drill incident linking the rule's runbook."""
    from chaos.alerts import ensure_rules, evaluate_host, scaled_rule
    from chaos.hostfaults import level_before
    from ops.metrics.store import open_store
    from sluice.settings import get_settings

    drill = current()
    selector = ensure_rules([rule]).rules[0].selector
    store = open_store(get_settings().metrics, home=get_settings().home)
    level = level_before(store, selector, drill.fault_started_at or drill.started_at, timedelta(minutes=1))
    scaled = scaled_rule(rule, threshold=level + rise, window=window)
    deadline, rounds = time.monotonic() + within_seconds, 0
    while True:
        found, rounds = evaluate_host(drill, scaled, store).to_output(), rounds + 1
        if found["firing"] or time.monotonic() > deadline:
            return found | {"level_before": level, "rounds": rounds}
        time.sleep(1.0)


def seed_alert_history(
    runs: int = 48, every: str = "1h", rows: int = 600, seed: int = 0, configuration: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write the run metrics of ``runs`` clean runs before the drill into its metric store (dynamic rules need them)."""
    from chaos.alerts import ensure_history, seed_history

    spec = ensure_history(runs=runs, every=every, rows=rows, seed=seed)
    written = seed_history(current().stack, spec)
    return {
        "detail": f"{spec.runs} clean runs of about {spec.rows} rows, one every {every}: {written} samples",
        "runs": spec.runs,
        "samples": written,
    }


def evaluate_alerts(rules: list[str] | None = None, configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate the alert rules (every default rule, or ``rules``) on the drill's own run records.

    What fires opens a drill incident linking the rule's runbook, as the
    ``alerts-evaluate`` flow does for the environment.
    """
    from chaos.alerts import ensure_rules, evaluate

    return evaluate(current(), ensure_rules(rules)).to_output()


def heal(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rollback: every fault off. Proxies forward again (after any outage), frozen brokers run, the disk has room."""
    drill = current()
    if not drill.has_stack:
        return {"detail": "nothing to heal: the stack never started"}
    drill.stack.heal()
    return {"detail": "S3 and Prefect API proxies forward again; the lake disk has room"}


def resolve_drill_incidents(configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rollback: resolve the incidents this drill's runs opened, with a note on their timeline."""
    from chaos.incidents import resolve_drill_incidents as resolve
    from ops.incidents.db import open_engine, store_url, transaction
    from sluice.settings import get_settings

    with transaction(open_engine(store_url(get_settings().home))) as session:
        refs = resolve(session, current())
    return {"detail": f"resolved {', '.join(refs)}" if refs else "no drill incident to resolve", "resolved": refs}
