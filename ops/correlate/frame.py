"""Building the wide frame: from a CSV file or from store series, then made ready for ranking.

:func:`read_metrics_csv` reads a ``time`` column (unix seconds or ISO 8601)
plus one numeric column per metric. :func:`frame_from_series` puts store
series on one grid. :func:`prepare_frame` fills short gaps, turns counters
into per-second rates and leaves out (and reports) empty and constant columns.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ops.baselines.counters import CounterConfig
from ops.correlate.models import Skipped, WideFrame
from ops.errors import CorrelateInputError
from ops.metrics.models import Series, from_ns, to_ns

TIME_COLUMNS = ("time", "timestamp")
MAX_ROWS = 20_000
"""Store windows are put on a grid of at most this many rows (the step grows to fit)."""


def parse_instant(text: str) -> datetime:
    """Unix seconds (``1652565600``, ``1652565600.5``) or ISO 8601 (UTC when it has no offset).

    Raises:
        CorrelateInputError: the text is neither.
    """
    value = text.strip()
    try:
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise CorrelateInputError(
            f"{text!r} is not a time", hint="give unix seconds (1652565600) or ISO 8601 (2022-05-14T22:00:00Z)"
        ) from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return next(csv.reader(handle), [])
    except FileNotFoundError:
        raise CorrelateInputError(f"no such file: {path}", hint="pass the path of a wide CSV to --metrics") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CorrelateInputError(f"cannot read {path}: {exc}", hint="--metrics takes a UTF-8 CSV file") from None


def ensure_header_is_valid(header: list[str], path: Path) -> str:
    """The name of the time column; raises when there is none, or when names repeat or are blank."""
    if not header:
        raise CorrelateInputError(f"{path} is empty", hint="the first line names the columns: time,metric_a,...")
    names = [h.strip() for h in header]
    repeated = sorted(n for n, k in Counter(names).items() if k > 1)
    if repeated:
        raise CorrelateInputError(
            f"{path}: column names repeat: {', '.join(repeated)}", hint="give every metric column its own name"
        )
    if any(not n for n in names):
        raise CorrelateInputError(f"{path}: a column has no name", hint="name every column in the header line")
    time_name = next((n for n in names if n.lower() in TIME_COLUMNS), None)
    if time_name is None:
        raise CorrelateInputError(
            f"{path} has no time column (columns: {', '.join(names[:8])})",
            hint="the first line must name a 'time' column: unix seconds or ISO 8601",
        )
    if len(names) < 2:
        raise CorrelateInputError(f"{path} has a time column but no metric columns", hint="add one column per metric")
    return time_name


def read_metrics_csv(path: Path) -> WideFrame:
    """A wide CSV as a frame: the time column plus one numeric column per metric.

    Raises:
        CorrelateInputError: the file is missing or empty; a line has the wrong number of
            fields; there is no time column; a time does not parse or repeats; a column is not numeric.
    """
    time_name = ensure_header_is_valid(_header(path), path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=True, skipinitialspace=True, encoding="utf-8-sig")
    except pd.errors.ParserError as exc:
        raise CorrelateInputError(
            f"{path}: rows do not match the header: {exc}".strip(),
            hint="every line needs as many fields as the header names",
        ) from None
    except pd.errors.EmptyDataError:
        raise CorrelateInputError(f"{path} is empty", hint="the first line names the columns") from None
    table.columns = [c.strip() for c in table.columns]
    if table.empty:
        raise CorrelateInputError(f"{path} has a header but no rows", hint="the window needs data rows")
    times = _parse_times(table[time_name], path)
    metrics = [c for c in table.columns if c != time_name]
    values = _numeric(table[metrics], path)
    order = np.argsort(times, kind="stable")
    times = times[order]
    ensure_times_unique(times, path)
    return WideFrame(times, metrics, values[:, order])


def _parse_times(column: pd.Series, path: Path) -> np.ndarray:
    text = column.str.strip()
    seconds = pd.to_numeric(text, errors="coerce")
    if seconds.notna().all():
        return (seconds.to_numpy(dtype="float64") * 1e9).round().astype("int64")
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise CorrelateInputError(
            f"{path}: time {column.iloc[row]!r} on data row {row + 1} does not parse",
            hint="times are unix seconds or ISO 8601, one form for the whole column",
        )
    return parsed.dt.tz_localize(None).to_numpy("datetime64[ns]").view("int64")


def _numeric(table: pd.DataFrame, path: Path) -> np.ndarray:
    out = np.empty((table.shape[1], table.shape[0]))
    problems = []
    for j, name in enumerate(table.columns):
        parsed = pd.to_numeric(table[name].str.strip(), errors="coerce")
        bad = parsed.isna() & table[name].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            problems.append(f"{name} ({table[name].iloc[row]!r} on data row {row + 1})")
        out[j] = parsed.to_numpy(dtype="float64")
    if problems:
        raise CorrelateInputError(
            f"{path}: non-numeric values in {len(problems)} column(s): {'; '.join(problems[:5])}",
            hint="metric columns hold numbers only (empty means missing); drop label or text columns",
        )
    return out


def ensure_times_unique(times: np.ndarray, path: Path | str) -> None:
    repeated = np.flatnonzero(np.diff(times) == 0)
    if len(repeated):
        at = from_ns(int(times[repeated[0]])).isoformat()
        raise CorrelateInputError(
            f"{path}: {len(repeated)} time(s) repeat, the first {at}",
            hint="give one row per instant (aggregate or drop duplicates first)",
        )


def column_name(series: Series, varying: Sequence[str]) -> str:
    """``metric`` plus the labels that tell this series from the others read with it."""
    shown = ",".join(f'{k}="{series.labels[k]}"' for k in varying if k in series.labels)
    return f"{series.metric}{{{shown}}}" if shown else series.metric


def _step_ns(series: Sequence[Series], span: int) -> int:
    gaps = np.concatenate([np.diff(s.timestamps) for s in series if len(s) > 1] or [np.empty(0, dtype="int64")])
    gaps = gaps[gaps > 0]
    step = int(np.median(gaps)) if len(gaps) else 1_000_000_000
    step = max(step // 1_000_000 * 1_000_000, 1_000_000)  # whole milliseconds
    return max(step, -(-span // MAX_ROWS))


def frame_from_series(series: Sequence[Series], step_ns: int | None = None) -> WideFrame:
    """Store series on one grid of ``step_ns`` (default: their median sampling interval).

    Each series' samples go to the grid row at or before them (the last one wins).

    Raises:
        CorrelateInputError: there are no points at all.
    """
    series = [s for s in series if len(s)]
    if not series:
        raise CorrelateInputError(
            "no metric points in the window",
            hint="check the selector and the window (--before/--after); `ops metrics list` shows what the store holds",
        )
    first = min(int(s.timestamps[0]) for s in series)
    last = max(int(s.timestamps[-1]) for s in series)
    step = step_ns or _step_ns(series, last - first)
    times = first + np.arange((last - first) // step + 1, dtype="int64") * step
    values = np.full((len(series), len(times)), np.nan)
    for j, s in enumerate(series):
        values[j, (s.timestamps - first) // step] = s.values
    keys = sorted({k for s in series for k in s.labels})
    varying = [k for k in keys if len({s.labels.get(k) for s in series}) > 1]
    names = [column_name(s, varying) for s in series]
    return WideFrame(times, names, values, [dict(s.labels) for s in series])


def fill_gaps(values: np.ndarray) -> np.ndarray:
    """Each missing value takes the last value before it (or the first after, at the start)."""
    n = values.shape[1]
    ok = np.isfinite(values)
    idx = np.where(ok, np.arange(n), 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    filled = np.take_along_axis(values, idx, axis=1)
    first = np.argmax(ok, axis=1)
    head = np.arange(n)[None, :] < first[:, None]
    return np.where(head, values[np.arange(len(values)), first][:, None], filled)


def counter_columns(frame: WideFrame, config: CounterConfig = CounterConfig()) -> np.ndarray:
    """Columns that are monotone counters over the window: named ``*_total``, or steps that almost never fall."""
    step = np.diff(frame.values, axis=1)
    seen = np.isfinite(step).sum(axis=1)
    drops = (step < 0).sum(axis=1)
    rises = (step > 0).sum(axis=1)
    shaped = (
        (seen >= config.min_rows) & (drops <= config.max_drop_share * seen) & (rises >= config.min_rise_share * seen)
    )
    named = np.array([n.split("{", 1)[0].endswith("_total") for n in frame.names], dtype=bool)
    counters: np.ndarray = shaped | (named & (drops <= config.max_drop_share * np.maximum(seen, 1)))
    return counters


def to_rates(times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per-second increments; a fall (a counter reset) is missing, and the first row copies the second."""
    dv = np.diff(values, axis=1)
    dt = np.diff(times).astype("float64") / 1e9
    rate = np.where(dv >= 0, dv / dt, np.nan)
    return np.concatenate((rate[:, :1], rate), axis=1)


def prepare_frame(frame: WideFrame, min_values: int = 20) -> WideFrame:
    """Counters as rates, gaps filled; empty, sparse and constant columns left out and listed in ``skipped``."""
    values = np.where(np.isfinite(frame.values), frame.values, np.nan)
    counters = (
        counter_columns(WideFrame(frame.times, frame.names, values))
        if frame.rows > 2
        else np.zeros(len(frame.names), dtype=bool)
    )
    if counters.any():
        values[counters] = to_rates(frame.times, values[counters])
    count = np.isfinite(values).sum(axis=1)
    seen = np.isfinite(values)
    ended = np.where(seen.any(axis=1), frame.rows - np.argmax(seen[:, ::-1], axis=1), 0) if values.size else None
    began = np.argmax(seen, axis=1) if values.size else None
    filled = fill_gaps(values) if values.size else values
    safe = np.where(np.isfinite(filled), filled, 0.0)
    constant = safe.max(axis=1, initial=-np.inf) == safe.min(axis=1, initial=np.inf)
    skipped = list(frame.skipped)
    for j, name in enumerate(frame.names):
        if count[j] == 0:
            skipped.append(Skipped(name, "empty: no values in the window"))
        elif count[j] < min_values:
            skipped.append(Skipped(name, f"too sparse: {count[j]} values (at least {min_values} needed)"))
        elif constant[j]:
            skipped.append(Skipped(name, f"constant: every value is {filled[j, 0]:g}"))
    keep = (count >= max(min_values, 1)) & ~constant
    rate = np.asarray(frame.rate) | counters
    prepared = WideFrame(frame.times, frame.names, filled, frame.labels, rate, skipped, ended, began)
    return prepared.select(keep)


def window_bounds(frame: WideFrame) -> tuple[datetime, datetime]:
    return from_ns(int(frame.times[0])), from_ns(int(frame.times[-1]))


def failure_ns(at: datetime) -> int:
    return to_ns(at)
