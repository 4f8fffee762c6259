"""Numenta Anomaly Benchmark (NAB) scoring.

The rules, from Lavin & Ahmad (2015) and the NAB repository:

* Every row of every data file carries an anomaly score in [0, 1]. A row is a
  *detection* when its score is at or above one threshold shared by the whole
  corpus; the threshold is the one that maximises the corpus total.
* The first 15 % of each file (at most 15 % of 5,000 rows, as in NAB) is a
  probationary period: its rows are not scored.
* Labelled anomaly windows ``[start, end]`` are given as timestamps. Only the
  earliest detection inside a window counts: a true positive worth
  ``A_TP * sigma(y) / sigma(-1)``, with ``y = -(end - i + 1) / width`` so that
  ``y = -1`` at the window's first row and ``y`` tends to 0 at its last row,
  and ``sigma(y) = 2 / (1 + exp(5 y)) - 1`` (``-1`` for ``y >= 3``).
* A detection outside every window is a false positive worth
  ``A_FP * sigma(y)`` with ``y = (i - end_prev) / (width_prev - 1)`` the
  distance past the preceding window, scaled by that window's width: just after
  a window it costs almost nothing, far from it (``y >= 3``) or with no window
  before it, it costs ``A_FP``.
* A window without a detection costs ``A_FN``.
* Normalised score = ``100 (S - S_null) / (S_perfect - S_null)``, where the
  null detector never fires and the perfect one fires once, at the first
  scored row of every window. Each profile optimises its own threshold.

The threshold search is exact: every distinct score is a candidate, and the
whole corpus is swept at once in ``O(n log n)`` (rows sorted by score, running
totals for false positives and a running maximum per window).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PROBATION_PERCENT = 0.15
PROBATION_CAP_ROWS = 5000


@dataclass(frozen=True)
class Profile:
    """Weights of one application profile."""

    name: str
    a_tp: float
    a_fp: float
    a_fn: float


STANDARD = Profile("Standard", 1.0, 0.11, 1.0)
REWARD_LOW_FP = Profile("Reward low FP", 1.0, 0.22, 1.0)
REWARD_LOW_FN = Profile("Reward low FN", 1.0, 0.11, 2.0)
PROFILES: tuple[Profile, ...] = (STANDARD, REWARD_LOW_FP, REWARD_LOW_FN)


@dataclass(frozen=True)
class LabelledFile:
    """One data file: its row timestamps and its windows as inclusive row ranges."""

    name: str
    timestamps: np.ndarray
    windows: tuple[tuple[int, int], ...]

    @property
    def rows(self) -> int:
        return len(self.timestamps)


@dataclass(frozen=True)
class SweepPoint:
    """The corpus at one threshold: total raw score and the counts behind it."""

    threshold: float
    score: float
    detected: int
    missed: int
    false_positives: int


@dataclass(frozen=True)
class ProfileResult:
    """A profile's best threshold, its raw and normalised scores."""

    profile: Profile
    best: SweepPoint
    null_score: float
    perfect_score: float

    @property
    def normalized(self) -> float:
        span = self.perfect_score - self.null_score
        return 100.0 * (self.best.score - self.null_score) / span if span else 0.0


def scaled_sigmoid(y: np.ndarray | float) -> np.ndarray:
    """NAB's weighting curve: ``2 / (1 + e^(5y)) - 1``, and ``-1`` from ``y >= 3`` on."""
    y = np.asarray(y, dtype=float)
    with np.errstate(over="ignore"):
        value = 2.0 / (1.0 + np.exp(5.0 * y)) - 1.0
    return np.where(y >= 3.0, -1.0, value)


def probation_length(rows: int, percent: float = PROBATION_PERCENT, cap_rows: int = PROBATION_CAP_ROWS) -> int:
    """Number of leading rows left unscored: ``min(floor(percent * rows), percent * cap_rows)``."""
    return int(min(math.floor(percent * rows), percent * cap_rows))


def window_rows(timestamps: np.ndarray, windows: Sequence[Sequence[str]]) -> tuple[tuple[int, int], ...]:
    """Inclusive row ranges of timestamp windows; a window holding no row is dropped."""
    ts = np.asarray(timestamps, dtype="datetime64[ns]")
    out = []
    for start, end in windows:
        lo = int(np.searchsorted(ts, np.datetime64(pd.Timestamp(start), "ns"), side="left"))
        hi = int(np.searchsorted(ts, np.datetime64(pd.Timestamp(end), "ns"), side="right")) - 1
        if lo <= hi:
            out.append((lo, hi))
    return tuple(sorted(out))


def row_weights(rows: int, windows: Sequence[tuple[int, int]], profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the value a detection there would earn, and the window index (-1 outside).

    Inside a window the value is the true-positive weight; outside it is the
    (negative) false-positive weight, relative to the preceding window. The
    arrays are cached per (rows, windows, profile) and read-only.
    """
    return _row_weights(rows, tuple((int(lo), int(hi)) for lo, hi in windows), profile)


@functools.lru_cache(maxsize=1024)
def _row_weights(rows: int, windows: tuple[tuple[int, int], ...], profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    weight = np.full(rows, -profile.a_fp)
    window = np.full(rows, -1, dtype=np.int64)
    max_tp = float(scaled_sigmoid(-1.0))
    for k, (lo, hi) in enumerate(windows):
        width = hi - lo + 1
        i = np.arange(lo, hi + 1)
        weight[lo : hi + 1] = scaled_sigmoid(-(hi - i + 1) / width) * profile.a_tp / max_tp
        window[lo : hi + 1] = k
        nxt = windows[k + 1][0] if k + 1 < len(windows) else rows
        j = np.arange(hi + 1, nxt)
        weight[hi + 1 : nxt] = scaled_sigmoid(np.abs(j - hi) / max(width - 1, 1)) * profile.a_fp
    weight.flags.writeable = False
    window.flags.writeable = False
    return weight, window


@dataclass(frozen=True)
class _Ranked:
    """One file's scored rows (after probation), highest score first, with each row's gain to the corpus total.

    A row outside every window gains its (negative) false-positive weight. A
    row inside a window gains how much it raises that window's best detection
    so far (the first one replaces the missed-window cost ``-A_FN``). The
    gains depend only on the order of the file's own rows, so a corpus sweep
    merges the files' ranked rows and adds up their gains.
    """

    scores: np.ndarray
    gains: np.ndarray
    first: np.ndarray  # the first row of its window in this order
    inside: np.ndarray
    windows: int


_RANKED: dict[tuple[str, Profile, int], tuple[np.ndarray, _Ranked]] = {}
_RANKED_LIMIT = 8192


def _ranked(f: LabelledFile, scores: np.ndarray, profile: Profile) -> _Ranked:
    """:class:`_Ranked` of one file.

    Read-only score arrays (which cannot change behind the cache's back) are
    ranked once and cached by identity while the cache holds fewer than
    ``_RANKED_LIMIT`` entries; any other array is ranked on every call.
    """
    s = np.asarray(scores, dtype=float)
    cacheable = isinstance(scores, np.ndarray) and not scores.flags.writeable
    key = (f.name, profile, id(scores))
    hit = _RANKED.get(key) if cacheable else None
    if hit is not None and hit[0] is scores:
        return hit[1]
    if s.shape != (f.rows,):
        raise ValueError(f"{f.name}: {s.shape[0] if s.ndim else 0} scores for {f.rows} rows")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{f.name}: scores must be finite")
    weight, window = row_weights(f.rows, f.windows, profile)
    keep = slice(probation_length(f.rows), None)
    s, w, win = s[keep], weight[keep], window[keep]
    order = np.argsort(-s, kind="stable")
    s, w, win = s[order], w[order], win[order]
    inside = win >= 0
    gain = np.where(inside, 0.0, w)
    first = np.zeros(len(s), dtype=bool)
    if inside.any():
        grouped = pd.Series(w[inside]).groupby(win[inside])
        best = grouped.cummax().to_numpy()
        before = pd.Series(best).groupby(win[inside]).shift(1).fillna(-profile.a_fn).to_numpy()
        gain[inside] = best - before
        first[np.flatnonzero(inside)] = ~pd.Series(win[inside]).duplicated().to_numpy()
    ranked = _Ranked(s, gain, first, inside, len(np.unique(win[inside])))
    if cacheable:
        if len(_RANKED) >= _RANKED_LIMIT:
            _RANKED.clear()
        _RANKED[key] = (scores, ranked)
    return ranked


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype)


@dataclass(frozen=True)
class Sweep:
    """The corpus at every candidate threshold, highest threshold first, as parallel arrays."""

    thresholds: np.ndarray
    scores: np.ndarray
    detected: np.ndarray
    false_positives: np.ndarray
    windows: int

    def point(self, i: int) -> SweepPoint:
        return SweepPoint(
            float(self.thresholds[i]),
            float(self.scores[i]),
            int(self.detected[i]),
            self.windows - int(self.detected[i]),
            int(self.false_positives[i]),
        )


def sweep_arrays(files: Sequence[LabelledFile], scores: Mapping[str, np.ndarray], profile: Profile) -> Sweep:
    """:func:`sweep` as arrays; index 0 is "no detection at all" (threshold above every score).

    Each file's rows are ranked once (:func:`_ranked`); the corpus merges them
    by score and sums their gains, so every tie group of scores ends at the
    corpus total for that threshold.
    """
    parts = [_ranked(f, scores[f.name], profile) for f in files]
    s = _concat([p.scores for p in parts], float)
    order = np.argsort(-s, kind="stable")
    s = s[order]
    gain = _concat([p.gains for p in parts], float)[order]
    first = _concat([p.first for p in parts], bool)[order]
    inside = _concat([p.inside for p in parts], bool)[order]
    n_windows = sum(p.windows for p in parts)
    base = -profile.a_fn * n_windows
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True]) if len(s) else np.empty(0, int)
    top = float(s[0]) + 1.0 if len(s) else 1.0
    return Sweep(
        thresholds=np.r_[max(top, 1.0 + 1e-9), s[ends]],
        scores=np.r_[base, (base + np.cumsum(gain))[ends]],
        detected=np.r_[0, np.cumsum(first)[ends]].astype(np.int64),
        false_positives=np.r_[0, np.cumsum(~inside)[ends]].astype(np.int64),
        windows=n_windows,
    )


def sweep(files: Sequence[LabelledFile], scores: Mapping[str, np.ndarray], profile: Profile) -> list[SweepPoint]:
    """The corpus score at every candidate threshold, highest threshold first.

    The first point is "no detection at all" (threshold above every score).
    """
    arrays = sweep_arrays(files, scores, profile)
    return [arrays.point(i) for i in range(len(arrays.thresholds))]


def best_threshold(files: Sequence[LabelledFile], scores: Mapping[str, np.ndarray], profile: Profile) -> SweepPoint:
    """The sweep point with the highest total (the highest such threshold on ties)."""
    arrays = sweep_arrays(files, scores, profile)
    return arrays.point(int(np.argmax(arrays.scores)))


def perfect_scores(files: Sequence[LabelledFile]) -> dict[str, np.ndarray]:
    """Scores of the perfect detector: 1 at the first scored row of every window, 0 elsewhere."""
    out = {}
    for f in files:
        s = np.zeros(f.rows)
        start = probation_length(f.rows)
        for lo, hi in f.windows:
            if hi >= start:
                s[max(lo, start)] = 1.0
        out[f.name] = s
    return out


def score_profile(files: Sequence[LabelledFile], scores: Mapping[str, np.ndarray], profile: Profile) -> ProfileResult:
    """Optimise the threshold for one profile and normalise against the null and perfect detectors."""
    null = {f.name: np.zeros(f.rows) for f in files}
    return ProfileResult(
        profile=profile,
        best=best_threshold(files, scores, profile),
        null_score=float(sweep_arrays(files, null, profile).scores[0]),
        perfect_score=best_threshold(files, perfect_scores(files), profile).score,
    )


def score_corpus(
    files: Sequence[LabelledFile], scores: Mapping[str, np.ndarray], profiles: Sequence[Profile] = PROFILES
) -> list[ProfileResult]:
    """Every profile's result, each with its own optimal threshold."""
    return [score_profile(files, scores, p) for p in profiles]


def file_score(f: LabelledFile, scores: np.ndarray, threshold: float, profile: Profile) -> float:
    """One file's raw score at a given threshold (detections are ``score >= threshold``)."""
    weight, window = row_weights(f.rows, f.windows, profile)
    keep = np.arange(f.rows) >= probation_length(f.rows)
    fired = keep & (np.asarray(scores) >= threshold)
    total = float(weight[fired & (window < 0)].sum())
    for k in np.unique(window[keep & (window >= 0)]):
        hits = weight[fired & (window == k)]
        total += float(hits.max()) if hits.size else -profile.a_fn
    return total


def load_windows(path: str | Path) -> dict[str, list[list[str]]]:
    """``windows.json``: ``<category>/<name>.csv`` -> list of ``[start, end]`` timestamps."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def labelled_file(name: str, timestamps: np.ndarray, windows: Sequence[Sequence[str]]) -> LabelledFile:
    """A :class:`LabelledFile` from raw timestamps and timestamp windows."""
    ts = np.asarray(timestamps, dtype="datetime64[ns]")
    return LabelledFile(name, ts, window_rows(ts, windows))
