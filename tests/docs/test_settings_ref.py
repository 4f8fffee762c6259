"""The configuration reference is complete, or the site does not build."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from tools.sitegen import SiteError
from tools.sitegen.settings_ref import (
    Note,
    document,
    find_settings_classes,
    load_notes,
    render_markdown,
)

ROOT = Path(__file__).resolve().parents[2]


class Documented(BaseSettings):
    """Example settings.

    ``SLUICE_EXAMPLE_FROM_DOCSTRING``
        Described in the class docstring.
    """

    model_config = SettingsConfigDict(env_prefix="SLUICE_EXAMPLE_")

    from_field: int = Field(3, ge=1, le=9, description="Described on the field.")
    from_docstring: bool = False
    from_note: SecretStr | None = None


class Undocumented(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLUICE_EXAMPLE_")

    new_knob: int = 1


class MachineDefault(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLUICE_EXAMPLE_")

    where: Path = Field(default_factory=lambda: Path.cwd() / "data", description="A folder.")


NOTES = {"SLUICE_EXAMPLE_FROM_NOTE": Note(description="Described in the notes.")}


def test_every_field_is_described_from_field_docstring_or_notes() -> None:
    [group] = document([Documented], NOTES, root=ROOT)
    rows = {row.env_var: row for row in group.settings}
    assert rows["SLUICE_EXAMPLE_FROM_FIELD"].description == "Described on the field."
    assert rows["SLUICE_EXAMPLE_FROM_FIELD"].type == "int (≥ 1, ≤ 9)"
    assert rows["SLUICE_EXAMPLE_FROM_DOCSTRING"].description == "Described in the class docstring."
    assert rows["SLUICE_EXAMPLE_FROM_DOCSTRING"].default == "`false`"
    assert rows["SLUICE_EXAMPLE_FROM_NOTE"].type == "secret string, optional"
    markdown = render_markdown([group])
    assert "| `SLUICE_EXAMPLE_FROM_NOTE` | secret string, optional | unset | Described in the notes. |" in markdown


def test_a_setting_without_a_description_fails_naming_it() -> None:
    with pytest.raises(SiteError, match=r"SLUICE_EXAMPLE_NEW_KNOB .*has no description"):
        document([Undocumented], {}, root=ROOT)


def test_a_note_for_a_setting_that_does_not_exist_fails() -> None:
    with pytest.raises(SiteError, match=r"SLUICE_EXAMPLE_GONE is in .* but no settings class has it"):
        document([Documented], {**NOTES, "SLUICE_EXAMPLE_GONE": Note(description="old")}, root=ROOT)


def test_a_default_naming_this_machine_needs_a_note() -> None:
    with pytest.raises(SiteError, match=r"SLUICE_EXAMPLE_WHERE: the default .* depends on where it runs"):
        document([MachineDefault], {}, root=ROOT)
    [group] = document([MachineDefault], {"SLUICE_EXAMPLE_WHERE": Note(default="`./data`")}, root=ROOT)
    assert group.settings[0].default == "`./data`"


def test_the_project_settings_are_found_and_complete() -> None:
    classes = find_settings_classes(ROOT)
    names = {cls.__name__ for cls in classes}
    assert {"Settings", "NotifySettings", "MetricsSettings", "IncidentSettings", "RunbookSettings",
            "ChaosSettings"} <= names
    groups = document(classes, load_notes(), root=ROOT)
    assert str(ROOT) not in render_markdown(groups)


def test_a_broken_notes_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.yaml"
    bad.write_text("SLUICE_X: {descripton: typo}\n", encoding="utf-8")
    with pytest.raises(SiteError, match="descripton"):
        load_notes(bad)
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(SiteError, match="must map variable names"):
        load_notes(bad)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=200),
                 st.text(max_size=200).map(str.encode),
                 st.sampled_from(["SLUICE_X: 2026-13-45", "SLUICE_X: !!python/object:os.system {}",
                                  "SLUICE_X:\n  description: [1, 2]", "? [a]\n: b", "SLUICE_X: ~"]).map(str.encode)))
def test_any_notes_file_gives_notes_or_a_clear_error(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("notes") / "notes.yaml"
    path.write_bytes(data)
    try:
        notes = load_notes(path)
    except SiteError as exc:
        assert str(path) in str(exc)
    else:
        assert all(isinstance(note, Note) for note in notes.values())


def test_settings_classes_are_found_through_other_settings_classes(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "sitegen_example"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "base.py").write_text("from pydantic_settings import BaseSettings\n\n"
                                     "class Base(BaseSettings):\n    a: int = 1\n\n"
                                     "class Plain:\n    pass\n", encoding="utf-8")
    (package / "child.py").write_text("from sitegen_example.base import Base\n\n"
                                      "class Child(Base):\n    b: int = 2\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = find_settings_classes(tmp_path, ("sitegen_example",))
    assert [cls.__qualname__ for cls in found] == ["Base", "Child"]
