"""The catalog of this Sluice (its contracts, glossary, lineage and run records), now or at a date."""

from __future__ import annotations

from datetime import datetime

from sluice.access.policy import describe_rules, load_policy
from sluice.catalog.asof import MetadataAt, metadata_as_of
from sluice.catalog.entries import CatalogEntry, build_catalog
from sluice.errors import AccessDenied, ContractError
from sluice.governance.classes import Protection
from sluice.governance.dpia import DpiaFacts
from sluice.governance.glossary import glossary_path, load_glossary
from sluice.lineage.graph import build_graph
from sluice.lineage.known import contracts, deployments, known_graph
from sluice.runs.metastore import engine_for, list_runs
from sluice.runs.records import RunReport
from sluice.settings import Settings
from sluice.validate.contracts import find_contract

PROTECTIONS = {
    Protection.TOKEN: "tokenised at ingestion (HMAC-SHA256 under a versioned key)",
    Protection.ENCRYPT: "encrypted at ingestion (AES-GCM, data key wrapped by the key-encryption key)",
}
RECENT_RUNS = 5  # runs per dataset whose figures an entry shows


def recent_runs(settings: Settings, datasets: list[str], limit: int = RECENT_RUNS) -> dict[str, list[RunReport]]:
    """The newest ``limit`` runs of each dataset, newest first."""
    with engine_for(settings.metadata_db_url()).connect() as conn:
        return {d: list_runs(conn, dataset=d, limit=limit) for d in datasets}


def known_catalog(settings: Settings) -> list[CatalogEntry]:
    """Every dataset with a contract: its entry with lineage, deployments and recent runs."""
    root = settings.contracts_root()
    found = contracts(root)
    runs = recent_runs(settings, [c.name for c in found])
    access = {c.name: access_rules(settings, c.name) for c in found}
    return build_catalog(found, load_glossary(glossary_path(root)), known_graph(settings), runs, access)


def catalog_as_of(settings: Settings, when: datetime) -> tuple[MetadataAt, list[CatalogEntry]]:
    """The catalog as the committed contracts, glossary and policies described it at ``when`` (lineage from
    contracts only, no run figures: those are today's)."""
    then = metadata_as_of(settings.contracts_root(), when, settings.access.policies_root())
    graph = build_graph(then.contracts, [], {}, deployments())
    access = {name: describe_rules(policy) for name, policy in then.policies.items()}
    return then, build_catalog(then.contracts, then.glossary, graph, access=access)


def safeguards(settings: Settings) -> tuple[str, ...]:
    """The platform-wide measures this configuration applies, in words a DPIA can quote."""
    signed = settings.manifests.signing_key or settings.manifests.signing_key_block
    return (
        "Every record is validated against the contract; rows that break it are quarantined with their reason.",
        "`ops quarantine` hides PII columns unless `--reveal-pii` is given.",
        "Run manifests are signed with Ed25519 (`ops manifest verify`)."
        if signed
        else "Run manifests are written but not signed: set SLUICE_MANIFEST_SIGNING_KEY.",
        f"OpenLineage run events go to the `{settings.lineage.transport}` transport."
        if str(settings.lineage.transport) != "none"
        else "No OpenLineage transport is configured (SLUICE_LINEAGE_TRANSPORT).",
    )


def dpia_facts(settings: Settings, dataset: str) -> DpiaFacts:
    """What a DPIA of ``dataset`` can say from this Sluice's contracts, glossary, lineage and settings.

    Raises:
        ContractError: no contract of that name.
    """
    entries = {e.dataset: e for e in known_catalog(settings)}
    if dataset not in entries:
        raise ContractError(
            f"no contract named {dataset!r}", hint=f"datasets with a contract: {', '.join(entries) or 'none'}"
        )
    contract = find_contract(dataset, settings.contracts_root())
    kept = contract.partition.retention
    return DpiaFacts(
        entries[dataset],
        retention=f"rows are deleted {kept.days} days after their {contract.partition.column} "
        "(the lake-maintenance flow; legal holds suspend it)"
        if kept
        else None,
        protections={name: PROTECTIONS[mode] for name, mode in contract.protected_columns.items()},
        policies=entries[dataset].access,
        safeguards=safeguards(settings),
    )


def access_rules(settings: Settings, dataset: str) -> tuple[str, ...]:
    """The rules of the dataset's access policy in words, first match first; () when it has none (no access)."""
    try:
        loaded = load_policy(settings.access.policies_root(), dataset)
    except AccessDenied:
        return ()
    return describe_rules(loaded.policy)
