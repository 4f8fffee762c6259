"""Bad input gets a clear error or a quarantine entry, never a traceback dump or lost data."""

from __future__ import annotations

import gzip

import pytest

from sluice.errors import ContractError, SourceNotFoundError
from tests.factories import (
    ORDER_HEADER,
    OrderBatch,
    csv_text,
    good_orders,
    mixed_orders,
    write_csv,
)
from tests.flows.helpers import (
    lake_table,
    quarantine_table,
    run_ingest,
    run_ingest_state,
)

pytestmark = pytest.mark.integration


def test_empty_file_reads_zero_rows_and_other_files_still_land(prefect_api, dask_address, sluice_home, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a-empty.csv").write_bytes(b"")
    write_csv(tmp_path / "src" / "b.csv", OrderBatch(rows=good_orders(4)))

    report = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    assert report.rows_read == 4 and report.rows_written == 4
    assert report.files[0].rows_read == 0 and report.files[0].status.value == "committed"


def test_wrong_header_quarantines_every_row_with_missing_column(prefect_api, dask_address, sluice_home, tmp_path):
    header = ["id", *ORDER_HEADER[1:]]  # order_id renamed at the source
    write_csv(tmp_path / "src" / "renamed.csv", OrderBatch(rows=good_orders(5)), header=header)

    report = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    assert report.rows_read == 5 and report.rows_quarantined == 5 and report.rows_written == 0
    assert report.files[0].missing_columns == ["order_id"] and report.files[0].extra_columns == ["id"]
    q = quarantine_table()
    assert set(q.column("reason").to_pylist()) == {"missing_column"}
    assert dict(q.to_pylist()[0]["record"])["customer_id"].startswith("C")


def test_truncated_gzip_fails_the_run_clearly_after_committing_the_good_files(
    prefect_api, dask_address, sluice_home, tmp_path
):
    src = tmp_path / "src"
    write_csv(src / "a.csv", OrderBatch(rows=good_orders(5)))
    whole = gzip.compress(csv_text(OrderBatch(rows=good_orders(2000, start=100))).encode())
    (src / "b.csv.gz").write_bytes(whole[: len(whole) // 2])

    state = run_ingest_state(dask_address, "orders", str(src))

    assert state.is_failed()
    message = str(state.message)
    assert "b.csv.gz" in message and "truncated or corrupt" in message and "re-deliver" in message
    assert lake_table("orders").num_rows == 5  # the good file landed; nothing of the broken one


def test_latin1_file_without_declared_encoding_is_detected_and_read(prefect_api, dask_address, sluice_home, tmp_path):
    rows = good_orders(3)
    rows[0].email = "josé.müller@example.com"
    write_csv(tmp_path / "src" / "latin.csv", OrderBatch(rows=rows), encoding="latin-1")

    report = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    assert report.rows_written == 3
    assert report.files[0].encoding in {"cp1252", "iso8859-1", "latin-1", "iso8859_15", "cp1250"}
    emails = set(lake_table("orders").column("email").to_pylist())
    assert "josé.müller@example.com" in emails


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_utf16_and_bom_files_are_read(prefect_api, dask_address, sluice_home, tmp_path, encoding):
    write_csv(tmp_path / "src" / "x.csv", mixed_orders(5), encoding=encoding)

    report = run_ingest(dask_address, "orders", str(tmp_path / "src"))

    batch = mixed_orders(5)
    assert (report.rows_read, report.rows_written) == (batch.total, batch.unique_valid)


def test_missing_source_path_fails_with_an_actionable_message(prefect_api, dask_address, sluice_home, tmp_path):
    state = run_ingest_state(dask_address, "orders", str(tmp_path / "nope"))

    assert state.is_failed()
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        state.result()


def test_unknown_dataset_names_the_known_contracts(prefect_api, dask_address, sluice_home, tmp_path):
    write_csv(tmp_path / "src" / "x.csv", OrderBatch(rows=good_orders(1)))

    state = run_ingest_state(dask_address, "ordres", str(tmp_path / "src"))

    with pytest.raises(ContractError, match="did you mean 'orders'"):
        state.result()


def test_jsonl_with_a_malformed_line_quarantines_only_that_line(prefect_api, dask_address, sluice_home, tmp_path):
    import json

    src = tmp_path / "src"
    src.mkdir()
    lines = [json.dumps({h: v for h, v in zip(ORDER_HEADER, r.cells(), strict=True) if v}) for r in good_orders(4)]
    lines.insert(2, '{"order_id": 77, "customer_id": ')
    (src / "o.jsonl").write_text("\n".join(lines) + "\n")

    report = run_ingest(dask_address, "orders", str(src))

    assert (report.rows_read, report.rows_written, report.rows_quarantined) == (5, 4, 1)
    entry = quarantine_table().to_pylist()[0]
    assert entry["reason"] == "malformed_json" and entry["source_row"] == 3
