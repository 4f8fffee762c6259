"""The chaos page's experiment sections come from the experiment files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools.sitegen import SiteError
from tools.sitegen.chaos_ref import experiments_markdown

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = """title: Files delivered twice land once
description: >
  Every file arrives twice.
extensions:
  - name: sluice
    targets: [s3-source, lake]
    environments: [dev, staging]
steady-state-hypothesis:
  title: once
  probes:
    - {type: probe, name: conservation-every-source-row-once}
"""


def test_an_experiment_section_shows_what_it_touches_and_checks(tmp_path: Path) -> None:
    (tmp_path / "duplicate-delivery.yaml").write_text(EXPERIMENT, encoding="utf-8")
    text = experiments_markdown(tmp_path)
    assert text.startswith("### `duplicate-delivery` {#experiment-duplicate-delivery}\n")
    assert "**Files delivered twice land once.**\nEvery file arrives twice." in text
    assert "- touches: `s3-source`, `lake`" in text and "- may run in: `dev`, `staging`" in text
    assert "- hypotheses: `conservation-every-source-row-once`" in text


@pytest.mark.parametrize(
    "content", [b"title: [unclosed", b"- a list", b"description: no title", b"\xff\xfe", b"title: x\nwhen: 2026-13-45"]
)
def test_a_file_that_is_not_an_experiment_stops_the_build_naming_it(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "broken.yaml").write_bytes(content)
    with pytest.raises(SiteError, match=re.escape("experiment broken.yaml")):
        experiments_markdown(tmp_path)


def test_every_experiment_of_the_suite_has_a_section() -> None:
    text = experiments_markdown(ROOT / "chaos" / "experiments")
    for path in (ROOT / "chaos" / "experiments").glob("*.yaml"):
        assert f"{{#experiment-{path.stem}}}" in text
