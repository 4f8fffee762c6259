"""``ops`` command pages: generated from the typer app, one per entry of ``ops --help``."""

from __future__ import annotations

from typing import Annotated

import typer

from tools.sitegen.cli_ref import ops_groups, render_group, render_index


def example_app() -> typer.Typer:
    app = typer.Typer(name="ops", help="Example.")
    lake = typer.Typer(help="The lake <tables>.")

    @lake.command("vacuum")
    def vacuum(
        dataset: Annotated[str, typer.Argument(help="The dataset.")],
        hours: Annotated[int, typer.Option(min=0, help="Keep files younger than this, x|y.")] = 168,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="List only.")] = False,
    ) -> None:
        """Remove unreferenced files.

        Asks first.
        """

    @lake.command("secret", hidden=True)
    def secret() -> None:
        """Not shown."""

    @app.command("doctor")
    def doctor() -> None:
        """Check everything."""

    app.add_typer(lake, name="lake")
    return app


def test_a_group_page_lists_its_commands_with_usage_and_options() -> None:
    _doctor, lake = ops_groups(example_app())
    assert (lake.name, lake.page, [c.path for c in lake.commands]) == ("lake", "ops/lake.md", ["ops lake vacuum"])
    page = render_group(lake)
    assert page.startswith("# ops lake\n\nThe lake &lt;tables&gt;.\n")
    assert "| [`ops lake vacuum`](#ops-lake-vacuum) | Remove unreferenced files. |" in page
    assert "## `ops lake vacuum` {#ops-lake-vacuum}" in page and "Asks first." in page
    assert "ops lake vacuum [OPTIONS] {dataset}" in page
    assert "| `--hours <int range>` | Keep files younger than this, x\\|y. [default: 168; x&gt;=0] |" in page
    assert "| `--dry-run` | List only. |" in page
    assert "secret" not in page


def test_a_single_command_is_a_page_of_its_own() -> None:
    doctor, _ = ops_groups(example_app())
    page = render_group(doctor)
    assert page.startswith("# ops doctor\n\nCheck everything.\n") and "## " not in page
    assert "| [`ops doctor`](doctor.md) | Check everything. |" in render_index([doctor])


def test_every_ops_entry_is_documented() -> None:
    groups = ops_groups()
    assert len({g.page for g in groups}) == len(groups)
    assert all(g.summary and all(c.help and c.usage.startswith(c.path) for c in g.commands) for g in groups)
