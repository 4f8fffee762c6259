"""The configuration reference: every field of :class:`sluice.settings.Settings`, as a Markdown page.

The page has one heading for the core settings (the root's own fields) and
one per section (``notify``, ``metrics``...), each with a row per field: its
environment variable, type, default and ``description=``. Defaults the code
computes where it runs (a folder under the working directory) are replaced by
readable ones from ``settings_notes.yaml`` beside this module::

    SLUICE_HOME:
      default: "`./.sluice` (in the working directory)"

A field with no description, a note for a variable that does not exist, a
default that names this machine's paths without a note to replace it, or a
``BaseSettings`` class anywhere else in ``sluice``, ``ops`` or ``chaos`` (all
settings belong to the one model) is a :class:`SiteError`: the site does not
build until the reference is complete.
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from sluice.settings import Settings, variables
from sluice.settings.describe import render_allowed
from sluice.settings.sources import section_of
from tools.sitegen import SiteError

PACKAGES = ("sluice", "ops", "chaos")
NOTES = Path(__file__).with_name("settings_notes.yaml")


class Note(BaseModel):
    """What the notes file says about one variable: a readable default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: str


@dataclass(frozen=True)
class SettingDoc:
    """One row of the reference."""

    env_var: str
    field: str
    type: str
    default: str
    description: str


@dataclass(frozen=True)
class SettingsGroup:
    """One heading of the page: the core settings or a section, and its rows."""

    title: str
    anchor: str
    accessor: str
    summary: str
    settings: tuple[SettingDoc, ...]


def find_settings_classes(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[type[BaseSettings]]:
    """Every settings class defined under ``root/<package>``, by package, then module and name.

    Raises:
        SiteError: a module holding one cannot be imported.
    """
    bases = _class_bases(root, packages)
    names = {"BaseSettings"}
    while grown := {name for (_, name), parents in bases.items() if names.intersection(parents)} - names:
        names |= grown
    found = sorted(
        (k for k, parents in bases.items() if names.intersection(parents)),
        key=lambda k: (packages.index(k[0].split(".")[0]), k),
    )
    classes = []
    for module, name in found:
        try:
            cls = getattr(importlib.import_module(module), name)
        except ImportError as exc:
            raise SiteError(
                f"cannot import {module} for the configuration reference: {exc}",
                hint="run the build from the project's virtualenv",
            ) from exc
        if isinstance(cls, type) and issubclass(cls, BaseSettings):
            classes.append(cls)
    return classes


def _class_bases(root: Path, packages: tuple[str, ...]) -> dict[tuple[str, str], list[str]]:
    """(module, class name) to the names of its bases, for every class in the packages' source."""
    bases: dict[tuple[str, str], list[str]] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.ClassDef):
                    bases[(module, node.name)] = [_base_name(b) for b in node.bases]
    return bases


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def load_notes(path: Path = NOTES) -> dict[str, Note]:
    """The notes file: variable name to :class:`Note`.

    Raises:
        SiteError: the file is not a mapping of variables to notes.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError) as exc:  # ValueError: undecodable bytes, impossible dates
        raise SiteError(f"{path}: cannot read the settings notes: {exc}", hint="fix the YAML") from None
    if not isinstance(raw, dict):
        raise SiteError(f"{path}: must map variable names to notes", hint="see the example at its top")
    try:
        return {str(k): Note.model_validate(v) for k, v in raw.items()}
    except ValidationError as exc:
        raise SiteError(f"{path}: {exc}", hint="each note has only a 'default'") from None


def document(model: type[BaseSettings], notes: dict[str, Note], *, root: Path) -> list[SettingsGroup]:
    """The rows of ``model``'s core settings, then of each of its sections, checked for completeness.

    Raises:
        SiteError: a field without a description, a note for no field, or a
            machine-specific default with no note to replace it; all problems at once.
    """
    problems: list[str] = []
    rows: dict[str, list[SettingDoc]] = {}
    for var in variables(model):
        section = var.path[0] if len(var.path) > 1 else ""
        note = notes.get(var.name)
        if not var.field.description:
            problems.append(f"{var.name} ({'.'.join(var.path)}) has no description")
        default = note.default if note is not None else render_default(var.field)
        if note is None and _names_this_machine(default, root):
            problems.append(
                f"{var.name}: the default {default} depends on where it runs; give it a 'default' in the notes"
            )
        rows.setdefault(section, []).append(
            SettingDoc(
                var.name,
                var.path[-1],
                render_allowed(var.field),
                default,
                " ".join((var.field.description or "").split()),
            )
        )
    known = {row.env_var for group in rows.values() for row in group}
    problems += [f"{var} is in {NOTES.name} but no setting has it" for var in sorted(set(notes) - known)]
    if problems:
        raise SiteError(
            "the configuration reference is incomplete: " + "; ".join(problems),
            hint=f"add description= to the field, or a default in tools/sitegen/{NOTES.name}",
        )
    return [_group(model, name, tuple(found)) for name, found in rows.items()]


def _group(model: type[BaseSettings], name: str, rows: tuple[SettingDoc, ...]) -> SettingsGroup:
    if not name:
        return SettingsGroup("Core", "core", "get_settings()", _summary(model), rows)
    section = section_of(model.model_fields[name])
    assert section is not None
    return SettingsGroup(section.title or name, name, f"get_settings().{name}", _summary(section), rows)


def env_var_of(model: type[BaseSettings], path: tuple[str, ...]) -> str:
    """The environment variable the field at ``path`` (``("notify", "notify_attempts")``) is read from."""
    return next(var.name for var in variables(model) if var.path == path)


def render_default(info: FieldInfo) -> str:
    """The default as a reader would type it: ``2``, ``false``, ``["dev", "staging"]``, or *unset*."""
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if value is None:
        return "unset"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (dict, list, tuple)):
        return f"`{json.dumps(value)}`"
    if isinstance(value, SecretStr):
        return "(secret)"
    return f"`{value}`"


def _names_this_machine(default: str, root: Path) -> bool:
    places = {str(root), str(Path.cwd()), str(Path.home())}
    return any(place in default for place in places if place not in ("/", ""))


def _summary(cls: type) -> str:
    doc = cls.__dict__.get("__doc__") or inspect.getdoc(inspect.getmodule(cls)) or ""
    return inspect.cleandoc(doc).split("\n\n")[0].replace("\n", " ")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(groups: list[SettingsGroup]) -> str:
    """The reference as Markdown: one section per group, one table row per field."""
    out = []
    for group in groups:
        out += [
            f"## {group.title} {{#{group.anchor}}}",
            "",
            _rst_to_md(group.summary),
            "",
            f"Read in code as `{group.accessor}`.",
            "",
            "| variable | type | default | description |",
            "| --- | --- | --- | --- |",
        ]
        out += [
            f"| `{row.env_var}` | {_cell(row.type)} | {_cell(row.default)} | {_cell(_rst_to_md(row.description))} |"
            for row in group.settings
        ]
        out.append("")
    return "\n".join(out)


def _rst_to_md(text: str) -> str:
    """Docstrings use reST literals (````x````); Markdown wants single backticks."""
    return re.sub(r"``(.+?)``", r"`\1`", re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text))


def stray_settings(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Settings classes defined anywhere but as :class:`sluice.settings.Settings`, by qualified name."""
    return [
        f"{cls.__module__}.{cls.__qualname__}" for cls in find_settings_classes(root, packages) if cls is not Settings
    ]


def reference_markdown(root: Path, packages: tuple[str, ...] = PACKAGES) -> str:
    """The whole generated reference for the project at ``root``.

    Raises:
        SiteError: the reference is incomplete, or settings live outside the one model.
    """
    if stray := stray_settings(root, packages):
        raise SiteError(
            f"settings classes outside sluice.settings.Settings: {', '.join(stray)}",
            hint="make each a Section of sluice.settings.Settings, reading the same variables",
        )
    return render_markdown(document(Settings, load_notes(), root=root))
