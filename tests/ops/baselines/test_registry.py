"""Versioned baseline persistence."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ops.baselines.fit import fit_series
from ops.baselines.registry import BaselineRegistry
from ops.metrics.models import Selector
from tests.ops.baselines.fleet import daily_series, noise_series


def test_saved_baselines_read_back_equal(tmp_path: Path) -> None:
    registry = BaselineRegistry(tmp_path / "baselines")
    fitted = fit_series(daily_series())
    assert registry.save([fitted]) == 1
    (back,) = registry.current()
    assert back.version == 1
    np.testing.assert_array_equal(back.profile, fitted.profile)
    assert replace(back, profile=fitted.profile, version=0) == replace(fitted, profile=fitted.profile)


def test_each_save_is_a_new_version_and_the_newest_wins(tmp_path: Path) -> None:
    registry = BaselineRegistry(tmp_path / "baselines")
    first, other = fit_series(daily_series()), fit_series(noise_series())
    registry.save([first, other])
    registry.save([replace(first, level=first.level + 10)])
    current = {b.labels["dataset"]: b for b in registry.current()}
    assert current["daily"].version == 2 and current["daily"].level == first.level + 10
    assert current["noise"].version == 1
    assert registry.current(as_of=1)[0].level == first.level
    assert [v.series for v in registry.versions()] == [2, 1]
    assert [b.labels["dataset"] for b in registry.current(Selector.parse('{dataset="noise"}'))] == ["noise"]


def test_prune_keeps_versions_still_current(tmp_path: Path) -> None:
    registry = BaselineRegistry(tmp_path / "baselines")
    daily, noise = fit_series(daily_series()), fit_series(noise_series())
    registry.save([daily, noise])
    registry.save([daily])
    registry.save([daily])
    assert registry.prune(keep=1) == 1  # version 2 goes; 1 still holds the current noise baseline
    assert sorted(v.version for v in registry.versions()) == [1, 3]
