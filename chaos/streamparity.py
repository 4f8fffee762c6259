"""Does the lake hold each produced message exactly once? The judge of every stream drill.

Set against what the drill produced (:class:`~chaos.streams.DrillStream`),
read straight from the drill's lake, quarantine and broker:

- **lake**: every good order id once in ``<dataset>`` (``missing``,
  ``doubled``), and no id the drill did not produce as a good message
  (``strangers``: a poison message that landed, or something else's rows);
- **commits**: no message committed by two commits, judged by what each
  commit records of its batch (a Redis stream's position ranges never
  overlap, a RabbitMQ queue's ident digests are never recorded twice), so a
  duplicate is caught even where the lake's own key check would hide it;
- **poison**: the quarantine holds, for the stream's source, as many
  entries of each reason as poison of that reason went in, and the
  RabbitMQ dead-letter queue as many messages as were dead-lettered.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sluice.errors import LakeError
from sluice.lake.log import history
from sluice.lake.table import lake_dataset, open_table, table_uri
from sluice.sources.streams.base import Offset
from sluice.sources.streams.positions import STREAM_META

if TYPE_CHECKING:
    from chaos.stack import DrillStack
    from chaos.streams import DrillStream

SHOWN = 3


@dataclass
class StreamParity:
    """The lake, the quarantine and the dead letters against what was produced."""

    produced: int
    landed: int = 0
    missing: list[int] = field(default_factory=list)
    doubled: list[int] = field(default_factory=list)
    strangers: list[int] = field(default_factory=list)
    committed_twice: list[str] = field(default_factory=list)
    quarantined: Counter[str] = field(default_factory=Counter)
    expected_poison: Counter[str] = field(default_factory=Counter)
    dead_letters: int = 0
    expected_dead: int = 0

    @property
    def poison_short(self) -> bool:
        """Poison not (yet) in the quarantine or the dead letters."""
        short = any(self.quarantined[r] < n for r, n in self.expected_poison.items())
        return short or self.dead_letters < self.expected_dead

    @property
    def poison_over(self) -> bool:
        """More quarantined or dead-lettered than the poison produced: good messages went astray."""
        over = any(n > self.expected_poison.get(r, 0) for r, n in self.quarantined.items())
        return over or self.dead_letters > self.expected_dead

    @property
    def wrong(self) -> bool:
        """Broken at any moment: something twice, something that was never produced, good messages astray."""
        return bool(self.doubled or self.strangers or self.committed_twice or self.poison_over)

    @property
    def held(self) -> bool:
        return not (self.wrong or self.missing or self.poison_short)

    def _poison(self) -> str:
        found = [f"{n} {r}" for r, n in sorted(self.quarantined.items())]
        dead = f", {self.dead_letters} dead-lettered" if self.expected_dead or self.dead_letters else ""
        return f"quarantined {', '.join(found) or 'none'}{dead}"

    def summary(self) -> str:
        if self.held:
            return f"the lake holds each of the {self.produced:,} good message(s) once; {self._poison()}"
        parts = []
        for label, ids in (("missing", self.missing), ("twice in the lake", self.doubled)):
            if ids:
                parts.append(f"{len(ids)} {label} (e.g. {', '.join(map(str, ids[:SHOWN]))})")
        if self.strangers:
            parts.append(f"{len(self.strangers)} never produced as good (e.g. {self.strangers[:SHOWN]})")
        if self.committed_twice:
            parts.append(f"{len(self.committed_twice)} committed twice (e.g. {'; '.join(self.committed_twice[:2])})")
        if self.poison_short or self.poison_over:
            want = ", ".join(f"{n} {r}" for r, n in sorted(self.expected_poison.items())) or "none"
            dead = f" and {self.expected_dead} dead-lettered" if self.expected_dead else ""
            parts.append(f"{self._poison()}, expected {want}{dead}")
        return f"{self.landed:,} of {self.produced:,} good message(s) in the lake: " + "; ".join(parts)


def lake_ids(stack: DrillStack) -> Counter[int]:
    """Order ids in the drill's lake table, with how often each is there."""
    table = open_table(table_uri(str(stack.lake_root), stack.dataset))
    if table is None:
        return Counter()
    return Counter(int(v) for v in table.to_pyarrow_table(columns=["order_id"]).column("order_id").to_pylist())


def quarantined(stack: DrillStack, source: str) -> Counter[str]:
    """Quarantine entries of ``source`` in the drill's quarantine, by reason."""
    table = open_table(stack.quarantine_uri)
    if table is None:
        return Counter()
    found = lake_dataset(table, partitions=[("dataset", "=", stack.dataset)]).to_table(
        columns=["source_file", "reason"]
    )
    pairs = zip(found.column("source_file").to_pylist(), found.column("reason").to_pylist(), strict=True)
    return Counter(str(reason) for file, reason in pairs if file == source)


def stream_commits(stack: DrillStack, source: str) -> list[dict[str, object]]:
    """What each lake commit of ``source``'s batches recorded of it, oldest first (none: not written yet)."""
    try:
        entries = history(table_uri(str(stack.lake_root), stack.dataset))
    except LakeError:
        return []
    metas = [e.metadata.get(STREAM_META) for e in reversed(entries)]
    return [m for m in metas if isinstance(m, dict) and m.get("source") == source]


def committed_twice(commits: list[dict[str, object]]) -> list[str]:
    """Messages two commits both recorded: an ident digest twice, or overlapping position ranges."""
    digests = Counter(d for c in commits for d in c.get("ids", []) or [])  # type: ignore[attr-defined]
    twice = [f"ident {d[:12]}" for d, n in digests.items() if n > 1]
    spans: dict[str, list[tuple[Offset, Offset]]] = {}
    for c in commits:
        first, last = c.get("from"), c.get("to")
        if isinstance(first, dict) and isinstance(last, dict):
            for part, at in first.items():
                spans.setdefault(part, []).append((Offset.parse(str(at)), Offset.parse(str(last[part]))))
    for part, found in spans.items():
        found.sort()
        twice += [f"{part} {b[0].text()}..{a[1].text()}" for a, b in itertools.pairwise(found) if b[0] <= a[1]]
    return twice


def stream_parity(stack: DrillStack, streams: list[DrillStream]) -> StreamParity:
    """Judge the drill's lake against every stream of the drill (see the module doc)."""
    good = {i for s in streams for i in s.produced}
    lake = lake_ids(stack)
    parity = StreamParity(produced=len(good))
    parity.landed = sum(1 for i in good if lake[i])
    parity.missing = sorted(i for i in good if not lake[i])
    parity.doubled = sorted(i for i, n in lake.items() if n > 1)
    parity.strangers = sorted(i for i in lake if i not in good)
    for stream in streams:
        parity.committed_twice += committed_twice(stream_commits(stack, stream.source))
        parity.quarantined += quarantined(stack, stream.source)
        parity.expected_poison += stream.poison
        parity.dead_letters += stream.dead_lettered()
        parity.expected_dead += stream.dead_letters
    return parity
