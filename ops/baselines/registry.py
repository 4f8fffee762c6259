"""Versioned persistence of baselines: one Parquet file per fit, under ``<SLUICE_HOME>/baselines``.

Every fit (and every re-baselining after a confirmed level shift) writes a
new version, ``v000001.parquet``, ``v000002.parquet``, ... holding the
baselines it produced. Files are written to a temporary name and renamed, so
a reader never sees half a version. The current baseline of a series is its
row in the newest version that holds it; older versions stay readable
(``as_of``) until ``prune`` removes them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ops.baselines.model import Baseline
from ops.metrics.models import Selector, labels_from_key, labels_key

VERSION_FILE = re.compile(r"v(\d{6,})\.parquet")

SCHEMA = pa.schema(
    [
        ("version", pa.int64()),
        ("metric", pa.string()),
        ("labels", pa.string()),
        ("model", pa.string()),
        ("method", pa.string()),
        ("seasons", pa.list_(pa.string())),
        ("slot_seconds", pa.float64()),
        ("step_seconds", pa.float64()),
        ("profile", pa.list_(pa.float64())),
        ("level", pa.float64()),
        ("scale", pa.float64()),
        ("counter", pa.bool_()),
        ("points", pa.int64()),
        ("coverage", pa.float64()),
        ("train_start", pa.timestamp("us", tz="UTC")),
        ("train_end", pa.timestamp("us", tz="UTC")),
        ("fitted_at", pa.timestamp("us", tz="UTC")),
        ("backtest", pa.string()),
        ("rebaselined_at", pa.timestamp("us", tz="UTC")),
        ("smooth", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class VersionInfo:
    version: int
    series: int
    fitted_at: datetime | None
    path: str


class BaselineRegistry:
    """The baselines under ``root``; see the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _files(self) -> list[tuple[int, Path]]:
        if not self.root.is_dir():
            return []
        found = [(int(m[1]), p) for p in self.root.iterdir() if (m := VERSION_FILE.fullmatch(p.name))]
        return sorted(found)

    def save(self, baselines: Sequence[Baseline]) -> int:
        """Write ``baselines`` as a new version and return its number (0 when there was nothing to save)."""
        if not baselines:
            return 0
        self.root.mkdir(parents=True, exist_ok=True)
        files = self._files()
        version = files[-1][0] + 1 if files else 1
        table = pa.Table.from_pylist([_row(b, version) for b in baselines], schema=SCHEMA)
        target = self.root / f"v{version:06d}.parquet"
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        pq.write_table(table, partial)
        os.replace(partial, target)
        return version

    def versions(self) -> list[VersionInfo]:
        out = []
        for version, path in self._files():
            meta = pq.read_metadata(path)
            fitted = pq.read_table(path, columns=["fitted_at"])["fitted_at"]
            newest = max(fitted.to_pylist(), default=None)
            out.append(VersionInfo(version, meta.num_rows, newest, str(path)))
        return out

    def current(self, selector: Selector | None = None, *, as_of: int | None = None) -> list[Baseline]:
        """The newest baseline (up to version ``as_of``) of every series ``selector`` matches, by series key."""
        newest: dict[tuple[str, str], Baseline] = {}
        for version, path in self._files():
            if as_of is not None and version > as_of:
                break
            for row in pq.read_table(path, schema=SCHEMA).to_pylist():
                labels = labels_from_key(row["labels"])
                if selector is None or selector.matches(row["metric"], labels):
                    newest[(row["metric"], row["labels"])] = _baseline(row, labels)
        return [newest[k] for k in sorted(newest)]

    def prune(self, keep: int) -> int:
        """Delete all but the newest ``keep`` versions' files that no current baseline needs; returns how many."""
        files = self._files()
        needed = {b.version for b in self.current()}
        removed = 0
        for version, path in files[:-keep] if keep else files:
            if version not in needed:
                path.unlink()
                removed += 1
        return removed


def _row(b: Baseline, version: int) -> dict[str, object]:
    return {
        "version": version,
        "metric": b.metric,
        "labels": labels_key(b.labels),
        "model": b.model,
        "method": b.method,
        "seasons": list(b.seasons),
        "slot_seconds": b.slot_seconds,
        "step_seconds": b.step_seconds,
        "profile": np.asarray(b.profile, dtype=float).tolist(),
        "level": b.level,
        "scale": b.scale,
        "counter": b.counter,
        "points": b.points,
        "coverage": b.coverage,
        "train_start": b.train_start,
        "train_end": b.train_end,
        "fitted_at": b.fitted_at,
        "backtest": json.dumps(b.backtest, sort_keys=True),
        "rebaselined_at": b.rebaselined_at,
        "smooth": b.smooth,
    }


def _baseline(row: dict[str, object], labels: dict[str, str]) -> Baseline:
    fields = dict(row)
    fields.update(
        labels=labels,
        seasons=tuple(row["seasons"] or ()),  # type: ignore[arg-type]
        profile=np.asarray(row["profile"], dtype=float),
        backtest=json.loads(str(row["backtest"])),
    )
    return replace(
        Baseline(**{k: v for k, v in fields.items() if k != "version"}),  # type: ignore[arg-type]
        version=int(row["version"]),  # type: ignore[call-overload]
    )
