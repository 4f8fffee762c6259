"""What a setting accepts, in a reader's words: ``int (≥ 1, ≤ 20)``, ``one of dev, staging, prod``.

Errors about an invalid value and the configuration reference both use
these, so a message says what the page says.
"""

from __future__ import annotations

import enum
import types
import typing
from pathlib import Path

from pydantic import SecretStr
from pydantic.fields import FieldInfo


def render_type(annotation: object) -> str:
    """A reader's name for a field's type: ``int``, ``one of dev, staging, prod``, ``JSON object``."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        optional = len(args) < len(typing.get_args(annotation))
        return " or ".join(render_type(a) for a in args) + (", optional" if optional else "")
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
    bounds = [
        f"{sign} {getattr(item, name)}"
        for item in info.metadata
        for name, sign in signs.items()
        if getattr(item, name, None) is not None
    ]
    return f" ({', '.join(bounds)})" if bounds else ""


def render_allowed(info: FieldInfo) -> str:
    """The type and bounds of a field together: ``float (> 0, ≤ 5)``."""
    return render_type(info.annotation) + render_bounds(info)
