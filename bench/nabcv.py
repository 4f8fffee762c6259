"""Choosing detector settings by leave-one-category-out cross-validation on a NAB corpus.

A *candidate* is one complete setting of the detector (window lengths,
thresholds, which parts are combined). Every candidate scores every file once;
the folds below only choose among those cached outputs, so no file is scored
twice.

* **In-sample**: the candidate and the threshold that maximise the corpus
  score on all files, scored on the same files (what tuning on the corpus
  would report). Of the thresholds that give the best detections, the middle
  of their interval is kept (:func:`margin_threshold`).
* **Out-of-fold**: for each NAB category in turn, the candidate and the
  threshold are chosen on the *other* categories only (:func:`select`: the
  candidate by its own leave-one-category-out score among those categories,
  so a setting is judged by how it carries to a category it was not tuned
  on); the held-out category's rows become detections at that threshold. The detections of all
  held-out categories are then scored together as one corpus, with the same
  null and perfect detectors as in-sample, so the two figures are directly
  comparable. No setting ever sees the category it is scored on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bench import nabscore

Outputs = Mapping[str, Mapping[str, np.ndarray]]  # candidate -> file name -> scores


@dataclass(frozen=True)
class Choice:
    """A candidate and a threshold chosen on some files, and the normalised score they reach there."""

    candidate: str
    threshold: float
    normalized: float


@dataclass(frozen=True)
class Fold:
    held_out: str
    files: int
    choice: Choice


@dataclass(frozen=True)
class CvResult:
    """In-sample and out-of-fold normalised scores of one profile."""

    profile: nabscore.Profile
    in_sample: Choice
    out_of_fold: float
    folds: tuple[Fold, ...]

    @property
    def gap(self) -> float:
        return self.in_sample.normalized - self.out_of_fold


def category(name: str) -> str:
    """``realTweets/Twitter_volume_AAPL.csv`` -> ``realTweets``."""
    return name.split("/", 1)[0] if "/" in name else ""


def choose(files: Sequence[nabscore.LabelledFile], outputs: Outputs, profile: nabscore.Profile) -> Choice:
    """The candidate and threshold with the best normalised score on ``files`` (first candidate on ties)."""
    null, perfect = references(files, profile)
    best: Choice | None = None
    for name, scores in outputs.items():
        sweep = nabscore.sweep_arrays(files, scores, profile)
        i = int(np.argmax(sweep.scores))
        normalized = 100.0 * (sweep.scores[i] - null) / (perfect - null) if perfect != null else 0.0
        if best is None or normalized > best.normalized:
            best = Choice(name, margin_threshold(sweep.thresholds, i), float(normalized))
    if best is None:
        raise ValueError("no candidate to choose from")
    return best


def margin_threshold(thresholds: np.ndarray, i: int) -> float:
    """The middle of the interval of thresholds that give the same detections as ``thresholds[i]``.

    Every threshold in ``(thresholds[i + 1], thresholds[i]]`` scores the same on
    the files it was chosen on; the middle of that interval leaves the widest
    margin on both sides for files it has not seen.
    """
    if i + 1 >= len(thresholds):
        return float(thresholds[i]) / 2.0 if i > 0 else float(thresholds[i])
    return float(thresholds[i] + thresholds[i + 1]) / 2.0


_REFERENCES: dict[tuple[tuple[str, ...], nabscore.Profile], tuple[float, float]] = {}


def references(files: Sequence[nabscore.LabelledFile], profile: nabscore.Profile) -> tuple[float, float]:
    """Raw corpus scores of the null detector (never fires) and the perfect one (cached per file set)."""
    key = (tuple(f.name for f in files), profile)
    if key not in _REFERENCES:
        reference = nabscore.score_profile(files, {f.name: np.zeros(f.rows) for f in files}, profile)
        _REFERENCES[key] = (reference.null_score, reference.perfect_score)
    return _REFERENCES[key]


def normalized_at(
    files: Sequence[nabscore.LabelledFile], detections: Mapping[str, np.ndarray], profile: nabscore.Profile
) -> float:
    """Normalised corpus score of fixed 0/1 detections (no threshold search)."""
    null, perfect = references(files, profile)
    raw = sum(nabscore.file_score(f, detections[f.name], 0.5, profile) for f in files)
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def out_of_fold(
    files: Sequence[nabscore.LabelledFile], scores: Mapping[str, np.ndarray], profile: nabscore.Profile
) -> float:
    """One candidate's leave-one-category-out score: each category at the threshold chosen on the others."""
    detections: dict[str, np.ndarray] = {}
    for held in sorted({category(f.name) for f in files}):
        train = [f for f in files if category(f.name) != held]
        threshold = choose(train, {"": scores}, profile).threshold
        for f in files:
            if category(f.name) == held:
                detections[f.name] = (scores[f.name] >= threshold).astype(float)
    return normalized_at(files, detections, profile)


def select(files: Sequence[nabscore.LabelledFile], outputs: Outputs, profile: nabscore.Profile) -> Choice:
    """The candidate whose own leave-one-category-out score on ``files`` is best, and its threshold on ``files``.

    A candidate is judged by how its threshold carries from some categories to
    another, not by its best score on the files themselves (which rewards
    settings that fit them). With one candidate or one category, only the
    threshold is chosen.
    """
    if len(outputs) > 1 and len({category(f.name) for f in files}) > 1:
        inner = {name: out_of_fold(files, scores, profile) for name, scores in outputs.items()}
        best = max(inner, key=lambda name: inner[name])  # the first candidate on ties
        outputs = {best: outputs[best]}
    return choose(files, outputs, profile)


def cross_validate(files: Sequence[nabscore.LabelledFile], outputs: Outputs, profile: nabscore.Profile) -> CvResult:
    """Leave-one-category-out: :func:`select` on the other categories, scored on the held-out one.

    In-sample is :func:`select` on every file, scored on them.
    """
    detections: dict[str, np.ndarray] = {}
    folds = []
    for held in sorted({category(f.name) for f in files}):
        train = [f for f in files if category(f.name) != held]
        test = [f for f in files if category(f.name) == held]
        choice = select(train, outputs, profile)
        for f in test:
            detections[f.name] = (outputs[choice.candidate][f.name] >= choice.threshold).astype(float)
        folds.append(Fold(held, len(test), choice))
    return CvResult(profile, select(files, outputs, profile), normalized_at(files, detections, profile), tuple(folds))
