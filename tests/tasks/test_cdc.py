"""Two captures of one slot at once, through the lake sink and its lease: every change lands once."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from deltalake import DeltaTable

from sluice.errors import SluiceError
from sluice.settings import get_settings
from sluice.sources.cdc.capture import CaptureSpec
from sluice.sources.cdc.decode import TableRef
from tasks.cdc import CaptureOutcome, CaptureRequest, follow, lake_sink
from tasks.retry import is_transient
from tests.pgcluster import PgCluster, pg_logical  # noqa: F401 - the session fixture
from tests.sluice.sources.cdc.conftest import ACCOUNTS, ACCOUNTS_DDL, CdcSource, make_source

pytestmark = pytest.mark.integration


@pytest.fixture()
def source(pg_logical: PgCluster, sluice_home) -> Iterator[CdcSource]:
    yield from make_source(pg_logical, ACCOUNTS_DDL, ACCOUNTS)


def test_concurrent_captures_of_one_slot_write_every_change_once(source: CdcSource) -> None:
    with source.connect() as conn:
        for start in range(0, 3000, 100):
            conn.execute(
                "INSERT INTO accounts (id, name) SELECT g, 'x' FROM generate_series(%s::int, %s::int) g",
                (start, start + 99),
            )
        conn.execute("UPDATE accounts SET name = 'y' WHERE id % 3 = 0")
    outcomes: list[CaptureOutcome] = []
    errors: list[SluiceError] = []

    def run(batch: int) -> None:
        spec = CaptureSpec(source.dsn, source.slot, TableRef("public", "accounts", source.contract), batch)
        req = CaptureRequest(source.dsn, source.slot, "public", "accounts", batch_changes=batch)
        try:
            outcomes.append(follow(spec, lake_sink(source.contract), req))
        except SluiceError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in (300, 700, 1100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    run(500)  # what a retry does: whatever the others left

    lake = DeltaTable(f"{get_settings().lake_root()}/accounts_changes").to_pyarrow_table()
    keys = list(zip(lake.column("_lsn").to_pylist(), lake.column("_op").to_pylist(), strict=True))
    assert len(keys) == len(set(keys)) == 3000 + 1000
    assert outcomes  # at least one capture ran to its end
    # Either the other capture held the slot at that instant, or it advanced the slot past this one's batch
    # first (the server refuses to move a slot back): both are transient, so the task retries them.
    assert all(is_transient(e) for e in errors), [str(e) for e in errors]
