"""PII discovery: scan a sample of a dataset, propose ``pii:`` tags, and compare them with the contract's.

The contract's tags are authoritative; the scan only reports where they
disagree with what the sample holds:

- ``missing tag``: the detectors found a class in a column the contract does not tag;
- ``not found``: a tagged column in which nothing was found;
- ``other class``: a column tagged with one class (``pii: email``) holding another.

``pii: true`` agrees with whatever class is found. A column is proposed a
class with its confidence (the share of its non-null sampled values
that match) when that reaches :data:`THRESHOLD` (of several, the most
specific). :func:`scan_new_columns`
scans only the columns a contract version adds, for ingestion to call on a
schema change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pyarrow as pa

from sluice.errors import ConfigError, LakeError
from sluice.governance.classes import PiiClass
from sluice.governance.detectors import SPECIFICITY, ColumnEvidence, confidences
from sluice.validate.contracts import ColumnSpec, ColumnType, Contract

# The least confidence a class needs to be proposed. Chosen by 5-fold cross-validation over
# seeds of generated data (bench/pii.py prints the choice, in-sample and out-of-fold).
THRESHOLD = 0.3
SAMPLE_ROWS = 10_000
SCANNED_TYPES = (ColumnType.STRING, ColumnType.INT64)  # identifiers are sometimes stored as integers


class Verdict(StrEnum):
    OK = "ok"
    MISSING_TAG = "missing tag"
    NOT_FOUND = "not found"
    OTHER_CLASS = "other class"
    NO_VALUES = "no values"  # nothing non-null in the sample: no evidence either way
    NOT_SCANNED = "not scanned"  # a type that holds no PII text (float, bool, dates)

    @property
    def disagrees(self) -> bool:
        return self in (Verdict.MISSING_TAG, Verdict.NOT_FOUND, Verdict.OTHER_CLASS)


@dataclass(frozen=True)
class ColumnScan:
    """One column: what the sample showed, the contract's tag and the verdict."""

    column: str
    type: ColumnType
    tag: bool | PiiClass
    values: int  # non-null values sampled
    proposed: PiiClass | None
    confidence: float  # of the proposed class, else of the best class found (below the threshold)
    verdict: Verdict
    confidences: dict[PiiClass, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PiiScan:
    dataset: str
    rows: int  # rows sampled
    threshold: float
    columns: list[ColumnScan]

    @property
    def disagreements(self) -> list[ColumnScan]:
        return [c for c in self.columns if c.verdict.disagrees]


def ensure_sample_rows(rows: int) -> int:
    if rows < 1:
        raise ConfigError(f"a sample of {rows} rows is empty", hint="sample at least 1 row, e.g. --sample 10000")
    return rows


def propose(evidence: ColumnEvidence, threshold: float = THRESHOLD) -> tuple[PiiClass | None, float]:
    """The class to propose for a column, and its confidence.

    Of the classes whose confidence reaches ``threshold``, the most specific
    (:data:`~sluice.governance.detectors.SPECIFICITY`); None when none does,
    with the best confidence found.
    """
    reached = [c for c, share in evidence.confidences.items() if share >= threshold]
    if not reached:
        return None, evidence.best()[1]
    chosen = min(reached, key=SPECIFICITY.index)
    return chosen, evidence.confidences[chosen]


def judge(tag: bool | PiiClass, proposed: PiiClass | None, values: int) -> Verdict:
    """How the contract's ``tag`` and the scan's proposal compare."""
    if values == 0:
        return Verdict.NO_VALUES
    if proposed is None:
        return Verdict.NOT_FOUND if tag else Verdict.OK
    if not tag:
        return Verdict.MISSING_TAG
    return Verdict.OK if tag is True or tag == proposed else Verdict.OTHER_CLASS


def scan_column(
    spec: ColumnSpec, values: pa.Array | pa.ChunkedArray | None, threshold: float = THRESHOLD
) -> ColumnScan:
    """Scan one column's sampled ``values`` (None: the table lacks it) against its contract ``spec``."""
    if spec.type not in SCANNED_TYPES:
        return ColumnScan(spec.name, spec.type, spec.pii, 0, None, 0.0, Verdict.NOT_SCANNED)
    evidence = confidences(values) if values is not None else ColumnEvidence(0, {})
    proposed, confidence = propose(evidence, threshold)
    verdict = judge(spec.pii, proposed, evidence.values)
    return ColumnScan(
        spec.name, spec.type, spec.pii, evidence.values, proposed, confidence, verdict, evidence.confidences
    )


def scan_table(contract: Contract, table: pa.Table, threshold: float = THRESHOLD) -> PiiScan:
    """Scan every contract column of ``table`` (a sample already taken)."""
    columns = [
        scan_column(spec, table.column(spec.name) if spec.name in table.column_names else None, threshold)
        for spec in contract.columns
    ]
    return PiiScan(contract.name, table.num_rows, threshold, columns)


def new_columns(old: Contract, new: Contract) -> list[ColumnSpec]:
    """The columns ``new`` declares that ``old`` does not."""
    before = set(old.column_names)
    return [c for c in new.columns if c.name not in before]


def scan_new_columns(old: Contract, new: Contract, table: pa.Table, threshold: float = THRESHOLD) -> list[ColumnScan]:
    """Scan only the columns a contract change adds, in ``table`` (the first rows ingested under ``new``).

    Ingestion calls this when a dataset's contract version changes: a new
    column that holds PII without a tag comes back as ``missing tag``.
    """
    return [
        scan_column(spec, table.column(spec.name) if spec.name in table.column_names else None, threshold)
        for spec in new_columns(old, new)
    ]


def read_sample(uri: str, columns: list[str], rows: int, storage_options: dict[str, str] | None = None) -> pa.Table:
    """At most ``rows`` rows of ``columns`` of the Delta table at ``uri``, spread over its files.

    Raises:
        LakeError: the table does not exist or cannot be read.
    """
    from sluice.lake.table import lake_dataset, open_table

    table = open_table(uri, storage_options)
    if table is None:
        raise LakeError(f"no Delta table at {uri}", hint="ingest the dataset first, or check SLUICE_LAKE_URI")
    dataset = lake_dataset(table)
    present = [c for c in columns if c in dataset.schema.names]
    fragments = list(dataset.get_fragments())
    # Evenly spaced files, a share of the rows from each: not just the oldest file's rows.
    chosen = fragments[:: max(1, len(fragments) // rows)]
    per = -(-rows // max(1, len(chosen)))
    pieces: list[pa.Table] = []
    got = 0
    for fragment in chosen:
        piece = fragment.head(min(per, rows - got), columns=present)
        pieces.append(piece)
        got += piece.num_rows
        if got >= rows:
            break
    return pa.concat_tables(pieces) if pieces else dataset.schema.empty_table().select(present)


def scan_dataset(
    contract: Contract,
    uri: str,
    *,
    sample: int = SAMPLE_ROWS,
    storage_options: dict[str, str] | None = None,
    threshold: float = THRESHOLD,
) -> PiiScan:
    """Scan at most ``sample`` rows of ``contract``'s dataset, read from its lake table at ``uri``."""
    ensure_sample_rows(sample)
    names = [c.name for c in contract.columns if c.type in SCANNED_TYPES]
    return scan_table(contract, read_sample(uri, names, sample, storage_options), threshold)


def scan_added_columns(
    contract: Contract,
    uri: str,
    added: list[str],
    *,
    sample: int = SAMPLE_ROWS,
    storage_options: dict[str, str] | None = None,
    threshold: float = THRESHOLD,
) -> list[ColumnScan]:
    """Scan the contract columns a commit just added to the lake table at ``uri``, in their non-null values.

    Called by the commit when the table's schema grows, so a new column that
    holds PII without a tag (or with another class) is reported by the run
    that brought it, not at the next full scan.
    """
    import pyarrow.compute as pc

    from sluice.lake.table import lake_dataset, open_table

    specs = [c for c in contract.columns if c.name in set(added) and c.type in SCANNED_TYPES]
    table = open_table(uri, storage_options) if specs else None
    if table is None:
        return []
    dataset = lake_dataset(table)
    scans = []
    for spec in specs:
        values = dataset.scanner(columns=[spec.name], filter=pc.field(spec.name).is_valid()).head(sample)
        scans.append(scan_column(spec, values.column(spec.name), threshold))
    return scans


def run_warnings(scans: list[ColumnScan]) -> dict[str, int]:
    """A run's warnings for the disagreements among ``scans``: ``column:pii <verdict> <class>`` by values seen."""
    return {
        f"{s.column}:pii {s.verdict}{f' {s.proposed}' if s.proposed else ''}": s.values
        for s in scans
        if s.verdict.disagrees
    }
