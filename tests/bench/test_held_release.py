"""``bench/held_release.py`` at small sizes: both sides run and end with the same rows at each size."""

from __future__ import annotations

from bench.held_release import main


def test_a_small_release_bench_ends_with_the_same_rows_on_both_sides_at_each_size(tmp_path, capsys) -> None:
    args = ["--held", "4000,2000", "--batches", "4", "--moved", "50", "--rounds", "1", "--workdir", str(tmp_path)]
    main(args)

    lines = capsys.readouterr().out.strip().splitlines()
    summaries = [line for line in lines if line.startswith("summary ")]
    assert [s.split(":")[0] for s in summaries] == ["summary 2,000 held", "summary 4,000 held"]
    assert all(s.endswith("same rows: True") for s in summaries)
    assert lines[-1].startswith("peak RSS from 2,000 to 4,000 held rows (2x): Sluice ")
