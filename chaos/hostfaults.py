"""Faults on the host itself: a CPU hog and a memory balloon, and the host alert rule that must ring for them.

Each fault runs in child processes of the drill (spawned, so they share
nothing with it) until :meth:`HostFaults.heal` kills them. The alert is a
default rule on host metrics (``host-cpu-saturated``, ``host-memory-high``)
scaled to the drill (:func:`chaos.alerts.scaled_rule`): its threshold is the
host's own level before the fault plus a rise the fault must exceed, over a
window of seconds, evaluated on the host-level series the drill samples into
the metrics store of ``SLUICE_HOME`` (:mod:`chaos.correlation`).
"""

from __future__ import annotations

import multiprocessing
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from multiprocessing.process import BaseProcess

import numpy as np
import psutil

from chaos.hogs import balloon, start_spinners
from ops.errors import ChaosError
from ops.metrics.models import Selector
from ops.metrics.store import MetricsStore

GROWN_WITHIN = 180.0
"""Seconds a balloon may take to grow, or busy processes to start, before the action gives up."""


@dataclass
class HostFaults:
    """The fault processes of one drill."""

    processes: list[BaseProcess] = field(default_factory=list)
    spinners: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def hog_cpu(self, per_core: int) -> int:
        """``per_core`` busy loops per core, returned once every one has run on a core; returns how many."""
        count = per_core * (psutil.cpu_count() or 1)
        self.spinners.extend(start_spinners(count))
        deadline = time.monotonic() + GROWN_WITHIN
        while (spinning := sum(_has_run(p) for p in self.spinners)) < len(self.spinners):
            if time.monotonic() > deadline:  # they start slowly on the host they are hogging
                raise ChaosError(
                    f"only {spinning} of {count} busy processes ran within {GROWN_WITHIN:.0f} s",
                    hint="check the host's process limits (`ulimit -u`) and load",
                )
            time.sleep(0.1)
        return count

    def balloon(self, share: float, seconds: float) -> int:
        """A process holding ``share`` of the host's memory, grown over ``seconds``; returns its megabytes."""
        megabytes = int(psutil.virtual_memory().total * share) >> 20
        context = multiprocessing.get_context("spawn")
        process = context.Process(target=balloon, args=(megabytes, seconds), daemon=True)
        process.start()
        self.processes.append(process)
        deadline = time.monotonic() + GROWN_WITHIN
        while (held := _rss(process)) < megabytes * 0.95 * (1 << 20):
            if not process.is_alive() or time.monotonic() > deadline:
                why = f"it exited with code {process.exitcode}" if not process.is_alive() else "it is still growing"
                raise ChaosError(
                    f"the memory balloon did not grow to {megabytes:,} MB within {GROWN_WITHIN:.0f} s: it holds "
                    f"{held >> 20:,} MB and {why}",
                    hint="check the host's free memory (`free -m`), or give a smaller share",
                )
            time.sleep(0.2)
        return megabytes

    def heal(self) -> int:
        """Kill every fault process; returns how many there were."""
        killed = len(self.processes) + len(self.spinners)
        for process in self.processes:
            process.kill()
            process.join(timeout=10)
        for spinner in self.spinners:
            spinner.kill()
            spinner.wait(timeout=10)
        self.processes.clear()
        self.spinners.clear()
        return killed


def _has_run(spinner: subprocess.Popen[bytes]) -> bool:
    """Whether the busy loop has had a core yet; raises when it exited instead."""
    if spinner.poll() is None:
        try:
            times = psutil.Process(spinner.pid).cpu_times()
            return times.user + times.system > 0
        except psutil.Error:
            pass
    raise ChaosError(
        f"a busy process exited with code {spinner.poll()} instead of spinning",
        hint="check that /bin/sh runs here and the host's process limits (`ulimit -u`)",
    )


def _rss(process: BaseProcess) -> int:
    try:
        return int(psutil.Process(process.pid).memory_info().rss) if process.pid else 0
    except psutil.Error:
        return 0


def level_before(store: MetricsStore, selector: str, before: datetime, span: timedelta) -> float:
    """The median of ``selector``'s host-level series in the ``span`` before ``before``.

    Raises:
        ChaosError: the store holds none (the drill's sampling is off: the Prometheus backend).
    """
    wanted = Selector.parse(selector)
    host_level = Selector(wanted.metric, (*wanted.matchers, *Selector.parse('{dataset="",flow=""}').matchers))
    series = store.query_range(host_level, before - span, before)
    values = np.concatenate([s.values for s in series]) if series else np.empty(0)
    values = values[np.isfinite(values)]
    if not len(values):
        raise ChaosError(
            f"no host samples of {selector} before the fault",
            hint="drills sample the host into the embedded store; set SLUICE_METRICS_BACKEND=embedded",
        )
    return float(np.median(values))


def now() -> datetime:
    return datetime.now(timezone.utc)
