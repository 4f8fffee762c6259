"""The configuration reference: every ``BaseSettings`` field of Sluice, as a Markdown page.

Settings classes are found by reading the source of ``sluice``, ``ops`` and
``chaos`` (any class deriving from ``BaseSettings``, directly or through another
settings class), then imported. For each field the page shows its environment
variable, type, default and description.

A description comes from, in this order: the field's ``description=``; an
entry for the variable in the class's or module's docstring, written as a
definition list::

    ``SLUICE_CHAOS_PAGE``
        Whether incidents opened by drills may page anyone.

or the notes file ``settings_notes.yaml`` beside this module. A field with no
description, a note for a variable that no longer exists, or a default that
names this machine's paths without a note to replace it, is a :class:`SiteError`:
the site does not build until the reference is complete.
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import json
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from tools.sitegen import SiteError

PACKAGES = ("sluice", "ops", "chaos")
NOTES = Path(__file__).with_name("settings_notes.yaml")
_DEFINITION = re.compile(r"^\s*``(?P<var>[A-Z][A-Z0-9_]*)``\s*\n(?P<body>(?:[ \t]+\S.*\n?)+)", re.M)


class Note(BaseModel):
    """What the notes file says about one variable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    default: str | None = None


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
    """One settings class and its rows."""

    qualname: str
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
    found = sorted((k for k, parents in bases.items() if names.intersection(parents)),
                   key=lambda k: (packages.index(k[0].split(".")[0]), k))
    classes = []
    for module, name in found:
        try:
            cls = getattr(importlib.import_module(module), name)
        except ImportError as exc:
            raise SiteError(f"cannot import {module} for the configuration reference: {exc}",
                            hint="run the build from the project's virtualenv") from exc
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
        raise SiteError(f"{path}: {exc}", hint="each note has only 'description' and 'default'") from None


def document(classes: list[type[BaseSettings]], notes: dict[str, Note], *, root: Path) -> list[SettingsGroup]:
    """The rows of every class, checked for completeness.

    Raises:
        SiteError: a field without a description, a note for no field, or a
            machine-specific default with no note to replace it; all problems at once.
    """
    problems: list[str] = []
    groups = []
    for cls in classes:
        described = _docstring_entries(cls)
        rows = []
        for name, info in cls.model_fields.items():
            env_var = env_var_of(cls, name, info)
            note = notes.get(env_var, Note())
            description = info.description or described.get(env_var) or note.description
            if not description:
                problems.append(f"{env_var} ({_qualname(cls)}.{name}) has no description")
            default = note.default if note.default is not None else render_default(info)
            if note.default is None and _names_this_machine(default, root):
                problems.append(f"{env_var}: the default {default} depends on where it runs; "
                                "give it a 'default' in the notes")
            kind = render_type(info.annotation) + render_bounds(info)
            rows.append(SettingDoc(env_var, name, kind, default, " ".join(description.split())))
        groups.append(SettingsGroup(_qualname(cls), _summary(cls), tuple(rows)))
    known = {row.env_var for group in groups for row in group.settings}
    problems += [f"{var} is in {NOTES.name} but no settings class has it" for var in sorted(set(notes) - known)]
    if problems:
        raise SiteError("the configuration reference is incomplete: " + "; ".join(problems),
                        hint=f"add description= to the field, or a note in tools/sitegen/{NOTES.name}")
    return groups


def env_var_of(cls: type[BaseSettings], name: str, info: FieldInfo) -> str:
    """The environment variable a field is read from."""
    alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
    if alias:
        return alias.upper()
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


def render_type(annotation: object) -> str:
    """A reader's name for a field's type: ``int``, ``one of dev, staging, prod``, ``JSON object``."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        optional = ", optional" if len(args) < len(typing.get_args(annotation)) else ""
        return " or ".join(render_type(a) for a in args) + optional
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(annotation))
    if origin in (dict, typing.Mapping):
        return "JSON object"
    if origin in (list, tuple, set, frozenset):
        return f"JSON list of {render_type(args[0])}" if args else "JSON list"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(str(m.value) for m in annotation)
    if annotation is SecretStr:
        return "secret string"
    if annotation is Path:
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def render_bounds(info: FieldInfo) -> str:
    """The field's numeric bounds, as `` (≥ 1, ≤ 20)``; empty when it has none."""
    signs = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    bounds = [f"{sign} {getattr(item, name)}" for item in info.metadata for name, sign in signs.items()
              if getattr(item, name, None) is not None]
    return f" ({', '.join(bounds)})" if bounds else ""


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


def _docstring_entries(cls: type) -> dict[str, str]:
    texts = [inspect.getdoc(cls) or "", inspect.getdoc(inspect.getmodule(cls)) or ""]
    entries: dict[str, str] = {}
    for text in texts:
        for found in _DEFINITION.finditer(text + "\n"):
            entries.setdefault(found["var"], found["body"])
    return entries


def _summary(cls: type) -> str:
    doc = cls.__dict__.get("__doc__") or inspect.getdoc(inspect.getmodule(cls)) or ""
    return inspect.cleandoc(doc).split("\n\n")[0].replace("\n", " ")


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(groups: list[SettingsGroup]) -> str:
    """The reference as Markdown: one section per settings class, one table row per field."""
    out = []
    for group in groups:
        anchor = group.qualname.rsplit(".", 1)[-1].lower()
        out += [f"## `{group.qualname}` {{#{anchor}}}", "", _rst_to_md(group.summary), "",
                "| variable | type | default | description |", "| --- | --- | --- | --- |"]
        out += [f"| `{row.env_var}` | {_cell(row.type)} | {_cell(row.default)} | {_cell(_rst_to_md(row.description))} |"
                for row in group.settings]
        out.append("")
    return "\n".join(out)


def _rst_to_md(text: str) -> str:
    """Docstrings use reST literals (````x````); Markdown wants single backticks."""
    return re.sub(r"``(.+?)``", r"`\1`", re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text))


def reference_markdown(root: Path) -> str:
    """The whole generated reference for the project at ``root``."""
    return render_markdown(document(find_settings_classes(root), load_notes(), root=root))
