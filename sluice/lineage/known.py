"""What Sluice knows for the lineage graph: its contracts, the sources of its recorded runs, its deployments."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa
import yaml

from sluice.lake.table import table_uri
from sluice.lineage.graph import LineageGraph, build_graph
from sluice.paths import dataset_name_problem
from sluice.runs.metastore import engine_for, ingest_runs
from sluice.settings import Settings
from sluice.validate.contracts import Contract, available_contracts, find_contract

PREFECT_YAML = Path(__file__).resolve().parents[2] / "prefect.yaml"


def run_sources(metadata_url: str) -> list[tuple[str, str]]:
    """Each distinct ``(dataset, source)`` of the recorded runs."""
    query = sa.select(ingest_runs.c.dataset, ingest_runs.c.source).distinct()
    with engine_for(metadata_url).connect() as conn:
        return [(str(d), str(s)) for d, s in conn.execute(query)]


def deployments(path: Path = PREFECT_YAML) -> dict[str, list[str]]:
    """The deployments of ``prefect.yaml`` by the dataset their parameters name, as ``flow-name/deployment``."""
    if not path.is_file():
        return {}
    found: dict[str, list[str]] = defaultdict(list)
    for d in (yaml.safe_load(path.read_text()) or {}).get("deployments") or []:
        dataset = (d.get("parameters") or {}).get("dataset")
        if isinstance(dataset, str):
            flow = str(d.get("entrypoint", "")).rsplit(":", 1)[-1].replace("_", "-")
            found[dataset].append(f"{flow}/{d.get('name', '?')}")
    return dict(found)


def contracts(root: Path) -> list[Contract]:
    return [find_contract(n, root) for n in available_contracts(root) if dataset_name_problem(n) is None]


def known_graph(settings: Settings, *, prefect_yaml: Path = PREFECT_YAML) -> LineageGraph:
    """The lineage graph of this Sluice: its contracts, recorded runs and ``prefect.yaml`` deployments."""
    found = contracts(settings.contracts_root())
    names = {c.name for c in found} | {d for c in found for d in c.downstream}
    sources = run_sources(settings.metadata_db_url())
    names |= {d for d, _ in sources if dataset_name_problem(d) is None}
    locations = {n: table_uri(settings.lake_root(), n) for n in sorted(names)}
    return build_graph(found, sources, locations, deployments(prefect_yaml))
