"""The configuration reference is complete, or the site does not build."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from sluice.settings import Section, Settings, variables
from sluice.settings.sources import FlatEnvSource
from tools.sitegen import SiteError
from tools.sitegen.settings_ref import (
    Note,
    document,
    env_var_of,
    find_settings_classes,
    load_notes,
    reference_markdown,
    render_markdown,
    stray_settings,
)

ROOT = Path(__file__).resolve().parents[2]


class ExamplePart(Section):
    """A part of the example."""

    env_prefix = "SLUICE_EXAMPLE_PART_"
    title = "The part"

    knob: SecretStr | None = Field(None, description="Described in the section.")


class Example(BaseSettings):
    """Example settings."""

    model_config = SettingsConfigDict(env_prefix="SLUICE_EXAMPLE_")

    from_field: int = Field(3, ge=1, le=9, description="Described on the field.")
    flag: bool = Field(False, description="A flag.")
    part: ExamplePart = Field(default_factory=ExamplePart, description="The part.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        **_: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, FlatEnvSource(settings_cls)


class Undocumented(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLUICE_EXAMPLE_")

    new_knob: int = 1


class MachineDefault(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLUICE_EXAMPLE_")

    where: Path = Field(default_factory=lambda: Path.cwd() / "data", description="A folder.")


def test_the_core_settings_then_each_section_get_a_heading_and_a_row_per_field() -> None:
    core, part = document(Example, {}, root=ROOT)
    rows = {row.env_var: row for row in core.settings + part.settings}
    assert (core.title, core.anchor, core.accessor) == ("Core", "core", "get_settings()")
    assert (part.title, part.anchor, part.accessor) == ("The part", "part", "get_settings().part")
    assert rows["SLUICE_EXAMPLE_FROM_FIELD"].description == "Described on the field."
    assert rows["SLUICE_EXAMPLE_FROM_FIELD"].type == "int (≥ 1, ≤ 9)"
    assert rows["SLUICE_EXAMPLE_FLAG"].default == "`false`"
    assert rows["SLUICE_EXAMPLE_PART_KNOB"].type == "secret string, optional"
    markdown = render_markdown([core, part])
    assert "## The part {#part}" in markdown and "Read in code as `get_settings().part`." in markdown
    assert "| `SLUICE_EXAMPLE_PART_KNOB` | secret string, optional | unset | Described in the section. |" in markdown


def test_a_section_field_is_read_from_its_own_flat_variable(monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_EXAMPLE_PART_KNOB", "s3cret")
    monkeypatch.setenv("SLUICE_EXAMPLE_FROM_FIELD", "7")

    example = Example()

    assert example.from_field == 7 and example.part.knob is not None
    assert example.part.knob.get_secret_value() == "s3cret"
    assert env_var_of(Example, ("part", "knob")) == "SLUICE_EXAMPLE_PART_KNOB"


def test_a_setting_without_a_description_fails_naming_it() -> None:
    with pytest.raises(SiteError, match=r"SLUICE_EXAMPLE_NEW_KNOB .*has no description"):
        document(Undocumented, {}, root=ROOT)


def test_every_field_of_the_project_model_has_its_own_description() -> None:
    assert [var.name for var in variables(Settings) if not (var.field.description or "").strip()] == []


def test_a_note_for_a_setting_that_does_not_exist_fails() -> None:
    with pytest.raises(SiteError, match=r"SLUICE_EXAMPLE_GONE is in .* but no setting has it"):
        document(Example, {"SLUICE_EXAMPLE_GONE": Note(default="old")}, root=ROOT)


def test_a_default_naming_this_machine_needs_a_note() -> None:
    with pytest.raises(SiteError, match=r"SLUICE_EXAMPLE_WHERE: the default .* depends on where it runs"):
        document(MachineDefault, {}, root=ROOT)
    [group] = document(MachineDefault, {"SLUICE_EXAMPLE_WHERE": Note(default="`./data`")}, root=ROOT)
    assert group.settings[0].default == "`./data`"


def test_the_project_reference_is_one_model_complete_with_a_heading_per_section() -> None:
    found = [f"{c.__module__}.{c.__qualname__}" for c in find_settings_classes(ROOT)]
    assert found == ["sluice.settings.model.Settings"]
    assert stray_settings(ROOT) == []
    groups = document(Settings, load_notes(), root=ROOT)
    assert [g.anchor for g in groups] == [
        "core",
        "notify",
        "metrics",
        "incidents",
        "runbooks",
        "crash",
        "chaos",
        "cli",
        "databases",
        "registry",
        "streams",
        "apis",
        "manifests",
        "lineage",
        "access",
        "protect",
        "cost",
        "maintain",
        "telemetry",
    ]
    markdown = reference_markdown(ROOT)
    assert str(ROOT) not in markdown
    for name in (
        "SLUICE_HOME",
        "SLUICE_PAGERDUTY_ROUTING_KEY",
        "SLUICE_RUNBOOKS_DIR",
        "SLUICE_PAGERDUTY_EVENTS_URL",
        "SLUICE_SLACK_API_URL",
        "SLUICE_CLI_RAISE",
        "SLUICE_CRASH_GRACE_SECONDS",
        "SLUICE_CHAOS_PAGE",
    ):
        assert f"| `{name}` |" in markdown, name


def test_a_settings_class_outside_the_one_model_stops_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "sitegen_stray"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "knobs.py").write_text(
        "from pydantic_settings import BaseSettings\n\nclass KnobSettings(BaseSettings):\n    knob: int = 1\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    assert stray_settings(tmp_path, ("sitegen_stray",)) == ["sitegen_stray.knobs.KnobSettings"]
    with pytest.raises(SiteError, match=r"outside sluice\.settings\.Settings: sitegen_stray\.knobs\.KnobSettings"):
        reference_markdown(tmp_path, ("sitegen_stray",))


def test_a_broken_notes_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.yaml"
    bad.write_text("SLUICE_X: {descripton: typo}\n", encoding="utf-8")
    with pytest.raises(SiteError, match="descripton"):
        load_notes(bad)
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(SiteError, match="must map variable names"):
        load_notes(bad)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        st.sampled_from(
            [
                "SLUICE_X: 2026-13-45",
                "SLUICE_X: !!python/object:os.system {}",
                "SLUICE_X:\n  description: [1, 2]",
                "? [a]\n: b",
                "SLUICE_X: ~",
            ]
        ).map(str.encode),
    )
)
def test_any_notes_file_gives_notes_or_a_clear_error(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("notes") / "notes.yaml"
    path.write_bytes(data)
    try:
        notes = load_notes(path)
    except SiteError as exc:
        assert str(path) in str(exc)
    else:
        assert all(isinstance(note, Note) for note in notes.values())


def test_settings_classes_are_found_through_other_settings_classes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "sitegen_example"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "base.py").write_text(
        "from pydantic_settings import BaseSettings\n\n"
        "class Base(BaseSettings):\n    a: int = 1\n\n"
        "class Plain:\n    pass\n",
        encoding="utf-8",
    )
    (package / "child.py").write_text(
        "from sitegen_example.base import Base\n\nclass Child(Base):\n    b: int = 2\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = find_settings_classes(tmp_path, ("sitegen_example",))
    assert [cls.__qualname__ for cls in found] == ["Base", "Child"]
