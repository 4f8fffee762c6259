"""Loading runbooks and refusing malformed ones with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

import runbooks
from ops.errors import RunbookError
from ops.runbooks.catalog import find_runbook, load_runbooks, parse_runbook
from tests.ops.runbooks.factories import runbook_text, write_runbook


def test_a_runbook_has_its_front_matter_sections_and_commands(tmp_path) -> None:
    write_runbook(tmp_path, "source-down", exceptions="[SourceNotFoundError]")
    (book,) = load_runbooks(tmp_path)
    assert book.matches.exceptions == ["SourceNotFoundError"]
    assert book.sections == ["Diagnose", "Mitigate", "Verify"]
    assert book.commands() == [
        "ops runs list --dataset DATASET",
        "prefect deployment run 'ingest-files/orders-dev'",
        "ops alerts list",
    ]
    assert set(book.steps()) == {"Diagnose", "Mitigate", "Verify"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# no front matter\n", "no YAML front matter"),
        ("---\nid: [\n---\nbody", "not valid YAML"),
        (runbook_text("x").replace("severity: SEV3", "severity: high"), "severity"),
        (runbook_text("x").replace("owners: [data-platform]\n", ""), "owners"),
    ],
)
def test_malformed_runbooks_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(RunbookError, match=message):
        parse_runbook(text, "runbooks/x.md")


def test_an_unknown_runbook_suggests_the_closest(tmp_path) -> None:
    write_runbook(tmp_path, "schema-drift")
    with pytest.raises(RunbookError) as info:
        find_runbook("schema-drfit", load_runbooks(tmp_path))
    assert "schema-drift" in info.value.hint


def test_by_default_the_runbooks_package_is_read(monkeypatch) -> None:
    import runbooks
    from ops.runbooks.catalog import runbooks_dir

    monkeypatch.delenv("SLUICE_RUNBOOKS_DIR", raising=False)
    assert runbooks_dir() == Path(runbooks.__file__).parent
    ids = {b.id for b in load_runbooks()}
    assert {"source-unreachable", "schema-drift"} <= ids and "README" not in ids


def test_sluice_runbooks_dir_overrides_the_package(tmp_path, monkeypatch) -> None:
    write_runbook(tmp_path, "only-here")
    monkeypatch.setenv("SLUICE_RUNBOOKS_DIR", str(tmp_path))
    assert [b.id for b in load_runbooks()] == ["only-here"]


def test_a_missing_runbooks_folder_names_the_setting(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_RUNBOOKS_DIR", str(tmp_path / "absent"))
    with pytest.raises(RunbookError, match="does not exist") as info:
        load_runbooks()
    assert "SLUICE_RUNBOOKS_DIR" in info.value.hint


def test_the_runbooks_readme_indexes_every_shipped_runbook_with_its_title_and_severity():
    folder = Path(runbooks.__file__).parent
    index = (folder / "README.md").read_text(encoding="utf-8")
    for book in load_runbooks(folder):
        assert f"| [{book.id}]({book.id}.md) | {book.title} | {book.severity} |" in index, book.id
