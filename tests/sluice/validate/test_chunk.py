"""Chunk validation: critical failures quarantine the row once, warnings only count."""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from sluice.formats import MalformedRow, RawChunk
from sluice.settings import Settings
from sluice.validate.chunk import BatchContext, validate_chunk
from sluice.validate.contracts import find_contract
from sluice.validate.quality import Reason
from tests.factories import ORDER_HEADER, good_orders

ORDERS = find_contract("orders", Settings().contracts_root())
CTX = BatchContext("orders", "run-1", "batch-1", "/in/o.csv", date(2024, 3, 6))


def _chunk(rows, malformed=()) -> RawChunk:
    table = pa.table({h: pa.array([getattr(r, h) or None for r in rows], pa.string()) for h in ORDER_HEADER})
    return RawChunk(table=table, rows=np.arange(2, len(rows) + 2, dtype=np.int64), malformed=list(malformed))


def test_a_row_with_two_critical_failures_is_quarantined_once_with_both_reasons():
    rows = good_orders(3)
    rows[1].amount, rows[1].status = "-3", "lost"
    result = validate_chunk(_chunk(rows), ORDERS, CTX)
    assert result.valid.num_rows == 2 and result.quarantine.num_rows == 1
    entry = result.quarantine.to_pylist()[0]
    assert entry["source_row"] == 3 and entry["run_id"] == "run-1"
    assert "amount:out_of_range" in entry["failures"] and "status:not_allowed_value" in entry["failures"]


def test_warning_column_failures_keep_the_row_and_are_counted():
    rows = good_orders(2)
    rows[0].discount = "9"
    result = validate_chunk(_chunk(rows), ORDERS, CTX)
    assert result.valid.num_rows == 2 and result.quarantine.num_rows == 0
    assert result.warnings == {"discount:out_of_range": 1}


def test_malformed_rows_are_read_and_quarantined_with_their_raw_text():
    bad = MalformedRow(7, "1,2", Reason.MALFORMED_ROW, "expected 12 fields, found 2")
    result = validate_chunk(_chunk(good_orders(1), [bad]), ORDERS, CTX)
    assert result.rows_read == 2
    entry = result.quarantine.to_pylist()[0]
    assert (entry["source_row"], entry["reason"], dict(entry["record"])) == (7, "malformed_row", {"_raw": "1,2"})


def test_valid_rows_carry_partition_date_batch_and_source_row():
    result = validate_chunk(_chunk(good_orders(1)), ORDERS, CTX)
    row = result.valid.to_pylist()[0]
    assert (str(row["dt"]), row["_batch_id"], row["_source_row"]) == ("2024-03-05", "batch-1", 2)


def test_chunks_validated_at_once_on_two_threads_match_one_at_a_time():
    from concurrent.futures import ThreadPoolExecutor

    def chunk_with_failures(seed: int) -> RawChunk:
        rows = good_orders(400, start=seed * 1000 + 1)
        for i in range(0, 400, 7):
            rows[i].amount, rows[(i + 3) % 400].status = "-1", "lost"
        return _chunk(rows)

    chunks = [chunk_with_failures(s) for s in range(8)]
    alone = [validate_chunk(c, ORDERS, CTX) for c in chunks]
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(lambda c: validate_chunk(c, ORDERS, CTX), chunks))

    for one, other in zip(alone, together, strict=True):
        assert one.valid.equals(other.valid)
        assert one.quarantine.drop_columns(["quarantined_at"]).equals(other.quarantine.drop_columns(["quarantined_at"]))
        assert one.quarantine.num_rows > 0


def test_a_failed_warning_value_keeps_its_original_text_in_the_warnings_column():
    rows = good_orders(3)
    rows[0].discount, rows[2].channel = "abc", "fax"
    result = validate_chunk(_chunk(rows), ORDERS, CTX)
    assert result.valid.num_rows == 3
    assert result.valid.column("discount").to_pylist()[0] is None
    assert result.valid.column("_warnings").to_pylist() == ['{"discount": "abc"}', None, '{"channel": "fax"}']


def test_a_warning_column_over_max_length_is_kept_cut_and_counted():
    rows = good_orders(2)
    rows[1].email = "x" * 300 + "@example.com"
    result = validate_chunk(_chunk(rows), ORDERS, CTX)
    assert result.valid.num_rows == 2 and result.warnings == {"email:too_long": 1}
    assert result.valid.column("email").to_pylist()[1] == "x" * 254
    assert result.valid.column("_warnings").to_pylist()[1] == '{"email": "' + rows[1].email + '"}'


def test_a_field_over_the_field_limit_quarantines_its_row_with_an_excerpt(monkeypatch):
    monkeypatch.setenv("SLUICE_MAX_FIELD_BYTES", "4096")
    from sluice.settings import get_settings

    get_settings(fresh=True)
    try:
        rows = good_orders(2)
        rows[0].email = "e" * 10_000
        result = validate_chunk(_chunk(rows), ORDERS, CTX)
    finally:
        monkeypatch.delenv("SLUICE_MAX_FIELD_BYTES")
        get_settings(fresh=True)
    assert result.valid.num_rows == 1
    entry = result.quarantine.to_pylist()[0]
    assert (entry["reason"], entry["column"], len(entry["value"])) == ("field_too_large", "email", 1024)
    assert len(dict(entry["record"])["email"]) == 1024
