"""Validation of OpenLineage events against the spec's JSON schemas, from the copies under ``openlineage_spec/``."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SPEC = Path(__file__).parent / "openlineage_spec"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


@cache
def registry() -> Registry:
    resources = []
    for path in [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]:
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def _errors(instance: object, ref: str) -> list[str]:
    validator = Draft202012Validator({"$ref": ref}, registry=registry(), format_checker=FormatChecker())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def _facets(event: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    holders = [event["run"], event["job"], *event.get("inputs", []), *event.get("outputs", [])]
    for holder in holders:
        for key in ("facets", "inputFacets", "outputFacets"):
            found.extend((holder.get(key) or {}).values())
    return found


def spec_errors(event: dict[str, Any]) -> list[str]:
    """Every way ``event`` breaks the RunEvent schema or the schema its facets name; [] when it is valid.

    A facet whose ``_schemaURL`` is not an OpenLineage spec facet (a custom
    one) is checked only as the generic facet the event schema requires.
    """
    errors = _errors(event, RUN_EVENT)
    known = {uri for uri, _ in registry().items()}
    for facet in _facets(event):
        url = str(facet.get("_schemaURL", ""))
        if url.split("#", maxsplit=1)[0] in known:
            errors.extend(f"{url}: {e}" for e in _errors(facet, url))
    return errors
