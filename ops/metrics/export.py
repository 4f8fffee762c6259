"""Series written out as files: long format, one row per point.

Columns: ``timestamp`` (UTC), ``metric``, one column per label name found in
any exported series (empty where a series lacks that label), and ``value``.
Parquet keeps ``timestamp`` typed (timestamp[ns, UTC]); CSV writes it in ISO 8601.
Long rather than wide, so that series with different label sets or timestamps
need no alignment and every row stands alone.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ops.metrics.models import Series

TIMESTAMP = pa.timestamp("ns", tz="UTC")


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


def long_table(series: Sequence[Series]) -> pa.Table:
    """Every point of ``series`` as a row of a long table (see the module docstring)."""
    label_names = sorted({name for s in series for name in s.labels})
    owner = pa.array(np.repeat(np.arange(len(series), dtype="int32"), [len(s) for s in series]), pa.int32())

    def repeated(values: list[str]) -> pa.Array:
        return pa.DictionaryArray.from_arrays(owner, pa.array(values, pa.string())).cast(pa.string())

    columns: dict[str, pa.Array] = {
        "timestamp": pa.array(_concat([s.timestamps for s in series], "int64"), pa.int64()).cast(TIMESTAMP),
        "metric": repeated([s.metric for s in series]),
    }
    for name in label_names:
        columns[name if name not in ("timestamp", "metric", "value") else f"label_{name}"] = repeated(
            [s.labels.get(name, "") for s in series]
        )
    columns["value"] = pa.array(_concat([s.values for s in series], "float64"), pa.float64())
    return pa.table(columns)


def write_export(series: Sequence[Series], out: Path, fmt: ExportFormat) -> int:
    """Write ``series`` to ``out`` in ``fmt``; returns the rows written."""
    import pyarrow.parquet as pq
    from pyarrow import csv

    table = long_table(series)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt is ExportFormat.PARQUET:
        pq.write_table(table, out, compression="zstd")
    else:
        csv.write_csv(table.set_column(0, "timestamp", _iso(table["timestamp"])), out)
    return int(table.num_rows)


def _iso(timestamps: pa.ChunkedArray) -> pa.ChunkedArray:
    """ISO 8601 text, with only as many fractional digits as the timestamps need."""
    ns = pc.cast(timestamps, pa.int64())
    unit = next(
        (
            u
            for u, size in (("s", 10**9), ("ms", 10**6), ("us", 10**3))
            if len(ns) == 0 or pc.all(pc.equal(pc.remainder(ns, size), 0)).as_py()
        ),
        "ns",
    )
    coarse = pc.cast(timestamps, pa.timestamp(unit, tz="UTC"))
    return pc.strftime(coarse, format="%Y-%m-%dT%H:%M:%SZ")


def _concat(arrays: list[np.ndarray], dtype: str) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.empty(0, dtype)
