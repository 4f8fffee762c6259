"""Memory and CPU of a process tree while a benchmark runs: peak RSS and PSS, CPU seconds, an RSS timeline."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass

import psutil

GIB = 1024**3
STEP = 5.0  # seconds per window of the printed RSS timeline


def _pss(pid: int) -> int:
    """Proportional set size in bytes from ``/proc/PID/smaps_rollup`` (0 where unreadable)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class ProcessMeter:
    """Samples RSS and CPU time of this process and its descendants in a background thread.

    Processes under ``excluded_roots`` (the Prefect test server) are metered apart.
    CPU seconds count only what was spent while the meter ran.
    """

    def __init__(self, excluded_roots: set[int] | None = None, interval: float = 0.1) -> None:
        self.excluded_roots, self.interval = excluded_roots or set(), interval
        self.peak = self.peak_main = self.peak_child = self.peak_excluded = self.peak_pss = 0
        self._cpu: dict[int, tuple[bool, float, float]] = {}  # pid -> (excluded, first seen, last seen)
        self._main, self._ticks, self._t0 = os.getpid(), 0, time.perf_counter()
        self.samples: list[tuple[float, int, int]] = []  # (seconds since start, total RSS, largest child RSS)
        self._procs: list[psutil.Process] = []
        self._excluded: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _refresh(self) -> None:
        """Re-list the process tree (once a second: listing children scans all of /proc)."""
        me = psutil.Process()
        self._procs = [me, *me.children(recursive=True)]
        self._excluded = set()
        for pid in self.excluded_roots:
            with contextlib.suppress(psutil.NoSuchProcess):
                root = psutil.Process(pid)
                self._excluded |= {root.pid, *(c.pid for c in root.children(recursive=True))}

    def sample(self, *, first: bool = False) -> None:
        if first or self._ticks % 10 == 0:
            self._refresh()
        self._ticks += 1
        ours = excluded_rss = child = pss = 0
        for proc in self._procs:
            try:
                rss, times = proc.memory_info().rss, proc.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if self._ticks % 10 == 1 and proc.pid not in self._excluded:
                pss += _pss(proc.pid)
            cpu = times.user + times.system
            is_excluded = proc.pid in self._excluded
            start = self._cpu.get(proc.pid, (is_excluded, cpu if first else 0.0, 0.0))[1]
            self._cpu[proc.pid] = (is_excluded, start, cpu)
            if is_excluded:
                excluded_rss += rss
            elif proc.pid == self._main:
                ours += rss
                self.peak_main = max(self.peak_main, rss)
            else:
                ours, child = ours + rss, max(child, rss)
        self.samples.append((time.perf_counter() - self._t0, ours, child))
        self.peak, self.peak_excluded = max(self.peak, ours), max(self.peak_excluded, excluded_rss)
        if self._ticks % 10 == 1:
            self.peak_pss = max(self.peak_pss, pss)
        self.peak_child = max(self.peak_child, child)

    def timeline(self, step: float) -> str:
        """Peak total RSS (GiB) in each ``step``-second window, and when the overall peak happened."""
        windows: dict[int, int] = {}
        for t, ours, _child in self.samples:
            windows[int(t // step)] = max(windows.get(int(t // step), 0), ours)
        at = max(self.samples, key=lambda s: s[1])[0] if self.samples else 0.0
        return " ".join(f"{v / GIB:.1f}" for _k, v in sorted(windows.items())) + f" (peak at {at:.0f} s)"

    def cpu_seconds(self, *, excluded: bool = False, main_only: bool = False) -> float:
        return sum(
            last - start
            for pid, (ex, start, last) in self._cpu.items()
            if ex == excluded and (pid == self._main or not main_only)
        )

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> ProcessMeter:
        self.sample(first=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._ticks = 0
        self.sample()


@dataclass(frozen=True)
class Measured:
    """What a :class:`ProcessMeter` saw, in plain numbers (it crosses process boundaries)."""

    peak: int
    peak_main: int
    peak_child: int
    peak_pss: int
    peak_excluded: int
    cpu: float
    cpu_main: float
    cpu_excluded: float
    timeline: str

    @classmethod
    def of(cls, mem: ProcessMeter) -> Measured:
        return cls(
            mem.peak,
            mem.peak_main,
            mem.peak_child,
            mem.peak_pss,
            mem.peak_excluded,
            mem.cpu_seconds(),
            mem.cpu_seconds(main_only=True),
            mem.cpu_seconds(excluded=True),
            mem.timeline(STEP),
        )
