"""A stream batch against the source's own account of it: the messages its positions span, per partition.

A batch's messages in one partition run from the position after the one the
lake holds (or from the batch's first, when the lake holds none) to the
batch's last. The source says how many messages that span holds
(:class:`SpanCount`): Kafka from the offsets, re-reading the offsets the batch
lacks (:mod:`sluice.sources.streams.kafka_totals`); Redis by counting the
stream's entries between the two ids. The span's count beside the messages
delivered is one :class:`~sluice.runs.completeness.TotalsCheck` per
partition, judged by the contract's ``completeness`` policy; under ``strict`` a
batch with a gap is held back (:func:`held_back`): nothing of it is committed
or acknowledged, and the next run reads it again from the lake's positions.

Where the source's count cannot be exact the check says so instead
(``not_comparable``): a compacted topic, entries deleted inside the span, a
queue (RabbitMQ), which has no positions. A stream states no sums.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from sluice.runs.completeness import WARNING, TotalsCheck, incomplete
from sluice.sources.streams.base import Offset, StreamBatch
from sluice.validate.completeness import CompletenessPolicy, CompletenessSpec

if TYPE_CHECKING:
    from sluice.runs.records import RunReport
    from sluice.sources.streams.sink import BatchOutcome

NO_POSITIONS = "a queue has no positions: nothing counts what it sent"
NO_ACCOUNT = "the source gives no account of its positions"


@dataclass(frozen=True)
class SpanCount:
    """One partition of a batch: the span of positions it covers, the messages delivered, and the source's count.

    ``sent`` is how many messages the source holds in the span (``None``: it cannot say exactly, ``basis`` says
    why); ``basis`` says how the count was taken otherwise.
    """

    partition: str
    first: Offset
    last: Offset
    delivered: int
    sent: int | None
    basis: str


@runtime_checkable
class AccountsForSpans(Protocol):
    """A source that can count the messages a batch's positions span (Kafka, Redis)."""

    def account(self, batch: StreamBatch, held: dict[str, Offset]) -> list[SpanCount]:
        """Per partition of ``batch`` (messages past ``held``, the lake's positions), the source's count."""
        ...


def delivered(batch: StreamBatch) -> Counter[str]:
    """Messages of ``batch`` per partition."""
    cols = batch.columns
    if cols is not None:
        counts = Counter(cols.part.tolist())
        return Counter({cols.names[i]: n for i, n in counts.items()})
    return Counter(m.partition for m in batch.messages)


def span_start(partition: str, first: Offset, held: dict[str, Offset]) -> Offset | None:
    """The lake's position of ``partition`` the span starts after; ``None``: it starts at the batch's ``first``."""
    at = held.get(partition)
    return at if at is not None and at < first else None


def _check(spec: CompletenessSpec, source: str, count: SpanCount) -> TotalsCheck:
    return TotalsCheck(
        source=f"{source} {count.partition} {count.first.text()}..{count.last.text()}",
        origin=count.basis,
        source_rows=count.sent,
        read_rows=count.delivered,
        policy=spec.policy.value,
        not_comparable=count.basis if count.sent is None else "",
    )


def stream_checks(
    spec: CompletenessSpec, source: str, batch: StreamBatch, held: dict[str, Offset], account: object
) -> list[TotalsCheck]:
    """The checks of the messages of ``batch`` the lake does not hold yet (none when the policy is off)."""
    if not spec.on or not len(batch):
        return []
    if batch.by_ident or not isinstance(account, AccountsForSpans):
        reason = NO_POSITIONS if batch.by_ident else NO_ACCOUNT
        return [
            TotalsCheck(source=f"{source} {p}", read_rows=n, policy=spec.policy.value, not_comparable=reason)
            for p, n in sorted(delivered(batch).items())
        ]
    return [_check(spec, source, c) for c in account.account(batch, held)]


def held_back(checks: list[TotalsCheck]) -> bool:
    """Whether a batch with these checks must not be committed: one disagrees under ``strict``."""
    return any(c.policy == CompletenessPolicy.STRICT.value and not c.agrees for c in checks)


def record_stream_totals(report: RunReport, committed: list[BatchOutcome], withheld: list[BatchOutcome]) -> bool:
    """The run's control totals from its batches, those held back included; ``True`` when one was held back.

    A disagreement under ``warn`` counts in the warning ``completeness:mismatch``; a batch held back under
    ``strict`` fails the run (its message says which span, and both sides).
    """
    report.control_totals = [c for b in [*committed, *withheld] for c in b.totals]
    disagree = sum(not c.agrees for c in report.control_totals if c.policy == CompletenessPolicy.WARN.value)
    if disagree:
        report.warnings[WARNING] = report.warnings.get(WARNING, 0) + disagree
    error = incomplete(report.dataset, [c for b in withheld for c in b.totals])
    if error is not None:
        report.status, report.error = "failed", str(error)
    return error is not None
