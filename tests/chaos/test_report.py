"""The drill artifact's loop section: each incident from fault to postmortem draft, whole at any width."""

from __future__ import annotations

from chaos.actions import _arguments
from chaos.report import LoopView, loop_markdown


def loop(ref: str = "INC-7", draft_lines: int = 3) -> LoopView:
    return LoopView(
        ref,
        "grow-a-memory-balloon at 10:00:05",
        "host-memory-high, INC-7 opened 10:00:20",
        "dask-worker-lost",
        "top suspect sluice_host_memory_used_bytes (resource=memory); 1. a | b",
        "",
        "\n".join(f"line {i}" for i in range(draft_lines)),
    )


def test_the_loop_lists_fault_alert_suspects_cause_and_runbook_per_incident_then_the_drafts():
    lines = loop_markdown([loop()])

    assert "## The loop" in lines
    (row,) = [line for line in lines if line.startswith("| INC-7 ")]
    assert "grow-a-memory-balloon at 10:00:05" in row and "host-memory-high" in row and "dask-worker-lost" in row
    assert "(resource=memory); 1. a \\| b" in row and "| - |" in row  # a pipe in a cell is escaped; no cause
    assert lines[lines.index("### Postmortem draft of INC-7") + 2 :] == ["line 0", "line 1", "line 2"]


def test_a_long_draft_is_cut_with_the_command_that_writes_it_whole():
    lines = loop_markdown([loop(draft_lines=50)], draft_lines=40)

    assert "line 39" in lines and "line 40" not in lines
    assert lines[-1] == "… 10 more lines: `ops postmortem create INC-7`"


def test_no_incident_no_loop_section():
    assert loop_markdown([]) == []


def test_a_source_change_is_named_by_its_arguments():
    changes = {"changes": [{"kind": "rename", "column": "quantity", "to": "qty"}], "rows_per_file": 300}

    assert _arguments({**changes, "configuration": {}}) == " (rename quantity qty; rows_per_file 300)"
    assert _arguments({"configuration": None}) == ""
