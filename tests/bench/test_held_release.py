"""``bench/held_release.py`` at a small size: both sides run and end with the same rows."""

from __future__ import annotations

from bench.held_release import main


def test_a_small_release_bench_ends_with_the_same_rows_on_both_sides(tmp_path, capsys) -> None:
    main(["--held", "4000", "--batches", "4", "--moved", "50", "--rounds", "1", "--workdir", str(tmp_path / "w")])

    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("summary: rewrite/Sluice time ratio") and summary.endswith("same rows: True")
