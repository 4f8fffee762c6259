"""Score a ``timestamp,value`` CSV with the streaming ensemble detector (``ops baseline score``).

The score is :func:`ops.baselines.ensemble.score_ensemble`: the robust-residual
detector of the dynamic thresholds, combined with range and pattern novelty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ops.baselines.detector import DetectorConfig, arrival_clock, to_seconds
from ops.baselines.ensemble import EnsembleConfig, combine, score_parts
from ops.errors import BaselineInputError

DEFAULT_CONFIG = EnsembleConfig()


@dataclass(frozen=True)
class ScoreSummary:
    rows: int
    missing_values: int
    season: str
    max_score: float
    rows_over_half: int
    output: str
    late_rows: int = 0
    duplicate_timestamps: int = 0

    @property
    def warnings(self) -> list[str]:
        """What the caller should hear about the input's clock: late rows and repeated timestamps."""
        out = []
        if self.late_rows:
            out.append(
                f"{self.late_rows} row(s) arrived with a timestamp earlier than one already read; "
                "scored in file order at the latest time seen"
            )
        if self.duplicate_timestamps:
            out.append(f"{self.duplicate_timestamps} row(s) repeat the previous row's timestamp; each was scored")
        return out


def read_series(path: Path) -> tuple[pd.Series, np.ndarray]:
    """Timestamps (UTC) and float values from a ``timestamp,value`` CSV.

    Raises:
        BaselineInputError: missing file or columns, unparseable timestamps,
            or text in the value column; the message names the rows. Rows
            out of time order and repeated timestamps are kept, in file order
            (see :func:`ops.baselines.detector.arrival_clock`).
    """
    if not path.is_file():
        raise BaselineInputError(f"{path} does not exist", hint="pass a CSV with columns timestamp,value")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BaselineInputError(f"{path} is not a readable CSV: {exc}") from None
    missing = {"timestamp", "value"} - set(frame.columns)
    if missing:
        raise BaselineInputError(
            f"{path} lacks column(s) {sorted(missing)}; found {list(frame.columns)}",
            hint="the header must be timestamp,value",
        )
    if frame.empty:
        raise BaselineInputError(f"{path} has no rows")
    stamps = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce", format="mixed")
    _ensure_timestamps(stamps, frame["timestamp"])
    text = frame["value"].str.strip()
    values = pd.to_numeric(text.where(text != "", None), errors="coerce")
    bad = values.isna() & (text != "") & ~text.str.lower().isin(["nan", "null", "none"])
    if bad.any():
        rows = (np.flatnonzero(bad.to_numpy()) + 2)[:5].tolist()
        raise BaselineInputError(f"non-numeric values at line(s) {rows}", hint="leave a missing reading empty")
    return stamps, values.to_numpy(dtype=float)


def _naive(stamps: pd.Series) -> np.ndarray:
    """UTC instants as naive datetime64[ns]."""
    naive: np.ndarray = stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return naive


def season_name(index: int, config: DetectorConfig) -> str:
    if index <= 0:
        return "none"
    period = config.season.periods[index - 1]
    return {86_400.0: "daily", 7 * 86_400.0: "weekly"}.get(period, f"{period:g} s")


def _ensure_timestamps(stamps: pd.Series, raw: pd.Series) -> None:
    if stamps.isna().any():
        first = int(np.flatnonzero(stamps.isna().to_numpy())[0])
        raise BaselineInputError(
            f"unparseable timestamp {raw.iloc[first]!r} at line {first + 2}",
            hint="use ISO 8601, e.g. 2024-03-05 10:00:00",
        )


def score_csv(source: Path, target: Path, config: EnsembleConfig = DEFAULT_CONFIG) -> ScoreSummary:
    """Write ``timestamp,value,anomaly_score`` for every row of ``source`` (strictly causal, in file order).

    Late rows and repeated timestamps are scored and counted in the summary.
    """
    stamps, values = read_series(source)
    naive = _naive(stamps)
    clock = arrival_clock(to_seconds(naive))
    parts = score_parts(naive, values, config)
    score = combine(parts.robust.score, parts.range, parts.pattern, config)
    raw = pd.read_csv(source, dtype=str, keep_default_na=False, usecols=["timestamp", "value"])
    raw["anomaly_score"] = np.round(score, 6)
    target.parent.mkdir(parents=True, exist_ok=True)
    raw.to_csv(target, index=False)
    seasons = pd.Series(parts.robust.season).dropna()
    return ScoreSummary(
        rows=len(values),
        missing_values=int(np.isnan(values).sum()),
        season=season_name(int(seasons.iloc[-1]), config.robust) if len(seasons) else "none",
        max_score=float(score.max()),
        rows_over_half=int((score >= 0.5).sum()),
        output=str(target),
        late_rows=clock.late,
        duplicate_timestamps=clock.duplicate,
    )
