"""Lag-based scaling: between ``min_consumers`` and ``max_consumers`` consumers of one group, as the lag says.

:func:`desired_consumers` is the policy, a plain function of the lag history:
one consumer more when the lag stayed above ``high_water`` for ``sustain``
samples in a row, one fewer when it stayed below ``low_water`` as long, and
no change for ``cooldown`` samples after a change (hysteresis: the band
between the marks never moves the count).

:func:`supervise` runs it: every ``interval_s`` it reads the lag, asks the
policy, starts a consumer (a thread running the consume loop in the same
group) or stops the newest one (it commits what its buffer holds, then
leaves the group). Each consumer commits its own positions under the
dataset's lease, so several consumers still write every message once: Kafka
splits the partitions among them, a Redis group its entries, a queue its
deliveries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sluice.errors import ConfigError
from sluice.sources.streams.base import ensure_positive
from sluice.sources.streams.consume import ConsumeOutcome
from sluice.sources.streams.sink import BatchOutcome


@dataclass(frozen=True)
class ScalingPolicy:
    """The bounds of the consumer count and when the lag (in messages) moves it."""

    min_consumers: int = 1
    max_consumers: int = 1
    high_water: int = 1_000
    low_water: int = 100
    sustain: int = 3  # samples in a row past a mark before the count moves
    cooldown: int = 3  # samples after a change before the next one

    def __post_init__(self) -> None:
        ensure_positive(self.min_consumers, "min_consumers")
        ensure_positive(self.sustain, "sustain")
        if self.max_consumers < self.min_consumers:
            raise ConfigError(
                f"max_consumers {self.max_consumers} is below min_consumers {self.min_consumers}",
                hint="set max_consumers to min_consumers or more",
            )
        if not 0 <= self.low_water < self.high_water:
            raise ConfigError(
                f"low_water {self.low_water} is not below high_water {self.high_water}",
                hint="the lag that removes a consumer must be under the lag that adds one",
            )
        if self.cooldown < 0:
            raise ConfigError(f"cooldown is {self.cooldown}", hint="set cooldown to 0 samples or more")


def desired_consumers(lags: Sequence[int | None], current: int, policy: ScalingPolicy, since_change: int) -> int:
    """How many consumers should run after the lag samples ``lags`` (oldest first), with ``current`` running.

    ``since_change`` counts the samples taken since the count last changed. An
    unknown lag (``None``) among the last ``sustain`` samples moves nothing.
    """
    bounded = min(max(current, policy.min_consumers), policy.max_consumers)
    if bounded != current:
        return bounded
    recent = list(lags[-policy.sustain :])
    if since_change < policy.cooldown or len(recent) < policy.sustain or any(lag is None for lag in recent):
        return current
    known = [lag for lag in recent if lag is not None]
    if all(lag > policy.high_water for lag in known):
        return min(current + 1, policy.max_consumers)
    if all(lag < policy.low_water for lag in known):
        return max(current - 1, policy.min_consumers)
    return current


@dataclass(frozen=True)
class SuperviseSpec:
    """How often the lag is read, and how long to run: until idle for ``idle_s`` (``follow_s=0``), or a time."""

    interval_s: float = 5.0
    follow_s: float | None = 0.0  # 0: until idle (no lag, no batch for idle_s, at the floor); None: until cancelled
    idle_s: float = 5.0


@dataclass
class Supervised:
    """What a supervised run did: every consumer's outcome merged, and the consumer count after each sample."""

    outcome: ConsumeOutcome = field(default_factory=ConsumeOutcome)
    counts: list[int] = field(default_factory=list)
    lags: list[int | None] = field(default_factory=list)


# run(index, stop, on_batch): consume until stop is set, telling on_batch each committed batch
RunConsumer = Callable[[int, threading.Event, Callable[[BatchOutcome], None]], ConsumeOutcome]


class _Worker(threading.Thread):
    def __init__(self, index: int, run: RunConsumer, on_batch: Callable[[BatchOutcome], None]) -> None:
        super().__init__(name=f"stream-consumer-{index}", daemon=True)
        self.index, self._run, self._on_batch = index, run, on_batch
        self.stop_event = threading.Event()
        self.outcome: ConsumeOutcome | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.outcome = self._run(self.index, self.stop_event, self._on_batch)
        except BaseException as exc:  # noqa: BLE001 - raised by the supervisor
            self.error = exc


@dataclass
class _Pool:
    run: RunConsumer
    active: list[_Worker] = field(default_factory=list)
    done: list[_Worker] = field(default_factory=list)
    started: int = 0
    committed: int = 0  # batches every consumer committed so far
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, batch: BatchOutcome) -> None:
        with self._lock:
            self.committed += 1

    def resize(self, wanted: int) -> None:
        while len(self.active) < wanted:
            worker = _Worker(self.started, self.run, self.count)
            self.started += 1
            worker.start()
            self.active.append(worker)
        while len(self.active) > wanted:
            worker = self.active.pop()
            worker.stop_event.set()
            self.done.append(worker)

    def held_back(self) -> bool:
        """Whether a consumer stopped on a batch held back (completeness): the run stops with it."""
        return any(w.outcome is not None and w.outcome.held_back for w in [*self.active, *self.done])

    def failed(self) -> BaseException | None:
        return next((w.error for w in [*self.active, *self.done] if w.error is not None), None)

    def finish(self) -> ConsumeOutcome:
        self.resize(0)
        for worker in self.done:
            worker.join()
        out = ConsumeOutcome()
        for worker in self.done:
            if worker.outcome is not None:
                out.batches += worker.outcome.batches
                out.held_back += worker.outcome.held_back
                out.pauses += worker.outcome.pauses
                out.seconds = max(out.seconds, worker.outcome.seconds)
        return out


def supervise(
    run: RunConsumer,
    lag: Callable[[], int | None],
    policy: ScalingPolicy,
    spec: SuperviseSpec,
    *,
    on_sample: Callable[[int, int | None], None] | None = None,
) -> Supervised:
    """Run ``policy.min_consumers`` consumers, then scale them by ``lag`` (see the module doc).

    ``run(index, stop, on_batch)`` consumes until ``stop`` is set, telling
    ``on_batch`` each batch it commits, and returns its outcome;
    ``on_sample(consumers, lag)`` is told every sample.

    Raises:
        Whatever a consumer raised, once every consumer has stopped.
    """
    pool, out = _Pool(run), Supervised()
    started = last_seen = time.monotonic()
    seen_batches, since_change = -1, 0
    pool.resize(policy.min_consumers)
    try:
        while pool.failed() is None and not pool.held_back():
            time.sleep(spec.interval_s)
            now, found = time.monotonic(), lag()
            out.lags.append(found)
            wanted = desired_consumers(out.lags, len(pool.active), policy, since_change)
            since_change = 0 if wanted != len(pool.active) else since_change + 1
            pool.resize(wanted)
            out.counts.append(wanted)
            if on_sample is not None:
                on_sample(wanted, found)
            batches = pool.committed
            if batches != seen_batches:
                seen_batches, last_seen = batches, now
            at_floor = wanted == policy.min_consumers
            if run_finished(spec, now - started, now - last_seen, found, at_floor):
                break
    finally:
        out.outcome = pool.finish()
    error = pool.failed()
    if error is not None:
        raise error
    return out


UNKNOWN_LAG_QUIET = 3  # idle periods without a batch that stand for a drained stream when the lag is unknown


def run_finished(spec: SuperviseSpec, running_s: float, quiet_s: float, lag: int | None, at_floor: bool) -> bool:
    """Past ``follow_s``; or with ``follow_s=0``, idle: no lag, no batch for ``idle_s``, scaled back to the floor.

    A lag that could not be read (``None``: the broker did not answer in time) is not a drained
    stream: the run then ends only after ``UNKNOWN_LAG_QUIET`` idle periods without a batch.
    """
    if spec.follow_s is None:
        return False
    if spec.follow_s == 0:
        drained = lag == 0 or (lag is None and quiet_s >= UNKNOWN_LAG_QUIET * spec.idle_s)
        return quiet_s >= spec.idle_s and drained and at_floor
    return running_s >= spec.follow_s
