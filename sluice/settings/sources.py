"""Where each setting is read from: one ``SLUICE_*`` variable per field, the fields of sections included.

A field of the settings root is read from ``<env_prefix><FIELD>``; a field
of a :class:`Section` held by the root is read from the section's own
``<env_prefix><FIELD>``, never from a nested name, so every variable keeps
the flat name it always had (``SLUICE_PAGERDUTY_ROUTING_KEY``, not
``SLUICE_NOTIFY__PAGERDUTY_ROUTING_KEY``). Lists and objects take JSON.
Names are matched without regard to case, as pydantic-settings does.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource

from sluice.errors import ConfigError
from sluice.settings.describe import render_allowed

PREFIX = "SLUICE_"
_SHOWN_CHARS = 40


class Section(BaseModel):
    """A part of the settings, held by the root; each field is read from ``<env_prefix><FIELD>``."""

    model_config = ConfigDict(extra="forbid")

    env_prefix: ClassVar[str] = PREFIX
    title: ClassVar[str] = ""


@dataclass(frozen=True)
class Variable:
    """One environment variable and the field it sets: ``path`` is ``("notify", "notify_attempts")``."""

    name: str
    path: tuple[str, ...]
    field: FieldInfo


def section_of(info: FieldInfo) -> type[Section] | None:
    """The section class a field of the root holds, or None for a plain setting."""
    annotation = info.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, Section) else None


def variables(model: type[BaseSettings]) -> Iterator[Variable]:
    """Every variable ``model`` reads, root fields first in their order, then each section's."""
    prefix = str(model.model_config.get("env_prefix", ""))
    sections = []
    for name, info in model.model_fields.items():
        section = section_of(info)
        if section is None:
            yield Variable(f"{prefix}{name}".upper(), (name,), info)
        else:
            sections.append((name, section))
    for name, section in sections:
        for field, info in section.model_fields.items():
            yield Variable(f"{section.env_prefix}{field}".upper(), (name, field), info)


class FlatEnvSource(EnvSettingsSource):
    """Reads each :class:`Variable` of the settings model, sections included, by its flat name."""

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for var in variables(self.settings_cls):
            raw = self.env_vars.get(self._apply_case_sensitive(var.name))
            if raw is None:
                continue
            try:
                value = self.prepare_field_value(var.path[-1], var.field, raw, False)
            except ValueError:  # a list or object that is not JSON
                raise ConfigError(
                    f"invalid settings: {var.name} is not valid JSON; it takes {render_allowed(var.field)}",
                    hint=f"fix or unset {var.name}, e.g. {var.name}='{_json_example(var.field)}'",
                ) from None
            target = data
            for part in var.path[:-1]:
                target = target.setdefault(part, {})
            target[var.path[-1]] = value
        return data


def _json_example(info: FieldInfo) -> str:
    origin = typing.get_origin(info.annotation)
    return '["a", "b"]' if origin in (list, tuple, set, frozenset) else '{"key": "value"}'


def invalid_settings(exc: ValidationError, model: type[BaseSettings]) -> ConfigError:
    """``exc`` as a :class:`ConfigError` naming each variable, what it was set to and what it takes.

    Secrets and JSON values are never repeated: only plain scalar values are shown.
    """
    by_path = {var.path: var for var in variables(model)}
    problems, names = [], []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        var = by_path.get(loc[:2]) or by_path.get(loc[:1])
        if var is None:
            problems.append(f"{'.'.join(loc) or 'settings'}: {error['msg']}")
            continue
        inner = loc[len(var.path) :]
        where = f" (at {'.'.join(inner)})" if inner else ""
        shown = _shown(error.get("input"), var.field) if not inner else ""
        problems.append(
            f"{var.name}{shown} is not valid{where}: {error['msg'][:1].lower()}{error['msg'][1:]}; "
            f"it takes {render_allowed(var.field)}"
        )
        names.append(var.name)
    unique = list(dict.fromkeys(names))
    return ConfigError(
        "invalid settings: " + "; ".join(problems),
        hint=f"fix or unset {', '.join(unique) or 'the SLUICE_* variables named'}; the defaults need no change",
    )


def _shown(value: object, info: FieldInfo) -> str:
    if not isinstance(value, str) or _is_secret(info.annotation):
        return ""
    return f"={value[:_SHOWN_CHARS]!r}" if len(value) <= _SHOWN_CHARS else f"={value[:_SHOWN_CHARS]!r}…"


def _is_secret(annotation: object) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


@dataclass(frozen=True)
class UnknownVariable:
    """A ``SLUICE_*`` variable no setting reads, and the known name closest to it, if any is close."""

    name: str
    closest: str | None


def unknown_variables(environ: Mapping[str, str], model: type[BaseSettings]) -> list[UnknownVariable]:
    """The ``SLUICE_*`` names in ``environ`` that ``model`` does not read (a typo, a removed setting)."""
    known = {var.name for var in variables(model)}
    suffixes = {name.removeprefix(PREFIX): name for name in known}
    found = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in known:
            continue
        close = difflib.get_close_matches(upper.removeprefix(PREFIX), sorted(suffixes), n=1, cutoff=0.6)
        found.append(UnknownVariable(name, suffixes[close[0]] if close else None))
    return found
