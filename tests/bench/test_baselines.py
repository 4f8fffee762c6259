"""The baselines benchmark end to end on a small fleet: it runs, reports every figure, and the bands work."""

from __future__ import annotations

import re

from bench import baselines


def test_small_fleet_prints_every_figure_and_catches_the_injected_spikes(capsys) -> None:
    assert baselines.main(["--series", "24", "--days", "14", "--stl-sample", "1"]) == 0
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(
        r"ratio fit/stl=[\d,]+x fit=[\d,]+ series/s eval=[\d,]+ series/s peak_rss=[\d.]+GiB "
        r"series=24 targets fit>=100 eval>=10000 met=(yes|no)",
        last,
    )
    caught, injected = map(int, re.search(r"spikes caught (\d+)/(\d+)", out).groups())
    assert injected == 24 * 3 and caught >= 0.9 * injected


def test_fleet_generation_is_deterministic_and_shaped_as_documented() -> None:
    one, two = baselines.make_fleet(5, 14, seed=3), baselines.make_fleet(5, 14, seed=3)
    assert all((a.values == b.values).all() for a, b in zip(one.history, two.history, strict=True))
    assert {len(s) for s in one.history} == {14 * 288} and {len(s) for s in one.tomorrow} == {288}
