"""Loading runbooks and refusing malformed ones with the reason."""

from __future__ import annotations

import pytest

from ops.errors import RunbookError
from ops.runbooks.catalog import find_runbook, load_runbooks, parse_runbook
from tests.ops.runbooks.factories import runbook_text, write_runbook


def test_a_runbook_has_its_front_matter_sections_and_commands(tmp_path) -> None:
    write_runbook(tmp_path, "source-down", exceptions="[SourceNotFoundError]")
    (book,) = load_runbooks(tmp_path)
    assert book.matches.exceptions == ["SourceNotFoundError"]
    assert book.sections == ["Diagnose", "Mitigate", "Verify"]
    assert book.commands() == ["ops runs list --dataset DATASET", "prefect deployment run 'ingest-files/orders-dev'",
                               "ops alerts list"]
    assert set(book.steps()) == {"Diagnose", "Mitigate", "Verify"}


@pytest.mark.parametrize(("text", "message"), [
    ("# no front matter\n", "no YAML front matter"),
    ("---\nid: [\n---\nbody", "not valid YAML"),
    (runbook_text("x").replace("severity: SEV3", "severity: high"), "severity"),
    (runbook_text("x").replace("owners: [data-platform]\n", ""), "owners"),
])
def test_malformed_runbooks_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(RunbookError, match=message):
        parse_runbook(text, "runbooks/x.md")


def test_an_unknown_runbook_suggests_the_closest(tmp_path) -> None:
    write_runbook(tmp_path, "schema-drift")
    with pytest.raises(RunbookError) as info:
        find_runbook("schema-drfit", load_runbooks(tmp_path))
    assert "schema-drift" in info.value.hint
