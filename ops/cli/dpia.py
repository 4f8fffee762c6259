"""``ops dpia``: data-protection impact assessment drafts that Sluice keeps current."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ops.cli._utilities import (
    OutputFormat,
    OutputOption,
    exit_with_error,
    load_settings,
    note,
    print_json,
    with_cli_exception_handling,
)

if TYPE_CHECKING:
    from sluice.governance.dpia import DpiaFacts

app = typer.Typer(
    help="Data-protection impact assessments: drafts from the contract, glossary, lineage and policies; "
    "humans finish them, Sluice keeps the generated sections current.",
    no_args_is_help=True,
)

DirOption = Annotated[
    Path, typer.Option("--dir", help="The folder of DPIA files, one DATASET.md each (keep it in git).")
]


@app.command("draft")
@with_cli_exception_handling
def draft(
    dataset: Annotated[str, typer.Argument(help="The dataset (a contract's name).")],
    *,
    folder: DirOption = Path("dpia"),
    stdout: Annotated[bool, typer.Option("--stdout", help="Print the draft instead of writing the file.")] = False,
) -> None:
    """Write DIR/DATASET.md, or bring its generated sections up to date and keep everything humans wrote.

    The generated sections (between sluice:begin and sluice:end markers) describe the processing, the
    personal data and its protection, lineage, retention, access policies and safeguards. The other sections
    (legal basis, necessity, risks, measures, sign-off) are prompts for the data owner and the DPO.
    """
    from sluice.governance.dpia import draft as new_draft
    from sluice.governance.dpia import refresh
    from sluice.paths import ensure_dataset_name

    ensure_dataset_name(dataset)
    facts = _facts(dataset)
    path = folder / f"{dataset}.md"
    existing = path.read_text(encoding="utf-8") if path.is_file() else None
    text = new_draft(facts) if existing is None else refresh(existing, facts)
    if stdout:
        typer.echo(text, nl=False)
        return
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if existing is None:
        note(f"wrote {path}: complete the sections marked 'To complete', then commit it", style="green")
    elif existing == text:
        note(f"{path} is current: nothing changed", style="green")
    else:
        note(f"updated the generated sections of {path}; your sections are as you left them", style="green")


def _facts(dataset: str) -> DpiaFacts:
    from sluice.catalog.known import dpia_facts

    return dpia_facts(load_settings(), dataset)


@app.command("check")
@with_cli_exception_handling
def check(
    datasets: Annotated[list[str] | None, typer.Argument(help="Datasets to check (default: every DPIA file).")] = None,
    *,
    folder: DirOption = Path("dpia"),
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Exit 1 when a DPIA's generated sections no longer match the contract, glossary, lineage or policies.

    Run it in CI beside the contract gate, so that a contract change comes with its DPIA refreshed
    (`ops dpia draft DATASET`).
    """
    from sluice.governance.dpia import stale_sections

    names = datasets or sorted(p.stem for p in folder.glob("*.md"))
    if not names:
        exit_with_error(f"no DPIA files in {folder}", hint="write one with `ops dpia draft DATASET`", code=1)
    stale: dict[str, list[str]] = {}
    for name in names:
        path = folder / f"{name}.md"
        if not path.is_file():
            exit_with_error(f"no DPIA for {name} in {folder}", hint=f"write it with `ops dpia draft {name}`")
        stale[name] = stale_sections(path.read_text(encoding="utf-8"), _facts(name))
    if output is OutputFormat.JSON:
        print_json(stale)
    for name, sections in stale.items():
        if output is OutputFormat.TABLE:
            message = f"{name}: stale sections {', '.join(sections)}" if sections else f"{name}: current"
            note(message, style="red" if sections else "green")
    if any(stale.values()):
        exit_with_error("some DPIAs are out of date", hint="run `ops dpia draft DATASET` for each, then commit")
