"""Acceptance: after ingesting the demo's customers and orders with protected PII columns, no generated e-mail
or name is on disk in clear text (raw bytes, and every Parquet value read back), and orders still join customers
on the tokenised e-mail exactly as they would on the clear one."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId

from demo.samples import generate_customers, generate_orders
from sluice.governance.audit import read_access
from sluice.governance.keyring import new_keyring, read_keyring_file, write_keyring_file
from sluice.governance.reveal import reveal
from sluice.governance.tokens import tokenise
from sluice.settings import get_settings
from tests.flows.helpers import lake_table, run_ingest_state

pytestmark = pytest.mark.integration

SHIPPED = Path(__file__).resolve().parents[2] / "sluice" / "contracts"
PROTECT = {"customers": {"email": "token", "full_name": "encrypt"}, "orders": {"email": "token"}}


def _protected_contracts(folder: Path) -> None:
    """The shipped contracts with the PII columns marked protect:."""
    folder.mkdir(parents=True)
    for name, columns in PROTECT.items():
        raw = yaml.safe_load((SHIPPED / f"{name}.yaml").read_text())
        for column in raw["columns"]:
            if column["name"] in columns:
                column["protect"] = columns[column["name"]]
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    (folder / "glossary.yaml").write_text((SHIPPED / "glossary.yaml").read_text())


def _source_values(files: list[str], column: str) -> set[str]:
    """Every value of ``column`` in the generated files (CSV, JSON Lines, Parquet); unreadable lines skipped."""
    found: set[str] = set()
    for name in files:
        path = Path(name)
        if path.suffix == ".parquet":
            found.update(v for v in pq.read_table(path).column(column).to_pylist() if v)
        elif path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    value = json.loads(line).get(column)
                except (ValueError, AttributeError):
                    continue
                if isinstance(value, str) and value:
                    found.add(value)
        else:
            reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
            found.update(row[column] for row in reader if row.get(column))
    return found


def _spellings(value: str) -> list[bytes]:
    """How a value may sit in a file: UTF-8, and ASCII-escaped as JSON writes it by default."""
    return sorted({value.encode(), json.dumps(value)[1:-1].encode()})


def _anchored(values: set[str]) -> dict[bytes, set[bytes]]:
    """The spellings of ``values`` by an anchor each contains: its longest ASCII word (of an e-mail's local part).

    A file holds a value only where it holds the value's anchor, so only the bytes around each
    occurrence of an anchor (a few dozen distinct names) are searched for the values that have it.
    """
    anchors: dict[bytes, set[bytes]] = {}
    for value in values:
        words = re.findall(r"[A-Za-z]+", value.split("@")[0])
        anchor = max(words, key=len).encode()
        anchors.setdefault(anchor, set()).update(_spellings(value))
    return anchors


def _leaks(data: bytes, anchors: dict[bytes, set[bytes]]) -> set[bytes]:
    found: set[bytes] = set()
    for anchor, spellings in anchors.items():
        width = max(map(len, spellings))
        at = data.find(anchor)
        while at != -1:
            window = data[max(0, at - width) : at + width]
            found.update(s for s in spellings if s in window)
            at = data.find(anchor, at + 1)
    return found


def _parquet_strings(path: Path) -> set[str]:
    """Every string in a Parquet file, map keys and values included."""
    table = pq.read_table(path)
    out: set[str] = set()
    for col in table.columns:
        array = col.combine_chunks()
        if pa.types.is_map(array.type):
            array = array.items
        if pa.types.is_string(array.type):
            out.update(v for v in array.to_pylist() if v)
    return out


def _prefect_texts(flow_run_id: object) -> str:
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return "\n".join([*(log.message for log in logs), *(json.dumps(a.data, default=str) for a in arts)])


def _ingest(dask_address: str, dataset: str, source: Path) -> str:
    state = run_ingest_state(dask_address, dataset, str(source))
    assert state.is_completed(), state.message
    report = state.result()
    assert report.rows_written > 0
    return _prefect_texts(state.state_details.flow_run_id)


@pytest.mark.timeout(1500)  # two ingestions on the shared cluster: slow on a loaded machine
def test_no_generated_email_or_name_is_on_disk_in_clear_text_and_joins_on_tokens_still_match(
    prefect_api, dask_address, sluice_home, tmp_path, monkeypatch
):
    _protected_contracts(tmp_path / "contracts")
    write_keyring_file(tmp_path / "keys" / "tokens.json", new_keyring())
    write_keyring_file(tmp_path / "keys" / "kek.json", new_keyring())
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(tmp_path / "contracts"))
    monkeypatch.setenv("SLUICE_PROTECT_TOKEN_KEYS_FILE", str(tmp_path / "keys" / "tokens.json"))
    monkeypatch.setenv("SLUICE_PROTECT_KEK_PROVIDER", "file")
    monkeypatch.setenv("SLUICE_PROTECT_KEK_FILE", str(tmp_path / "keys" / "kek.json"))
    src = tmp_path / "src"
    customers = generate_customers(src / "customers", rows=2_000, files=2, seed=4242, fmt=["csv", "parquet"])
    orders = generate_orders(src / "orders", rows=3_000, files=2, seed=4242, fmt=["csv", "jsonl"])
    emails = _source_values(customers.files, "email") | _source_values(orders.files, "email")
    names = _source_values(customers.files, "full_name")
    assert len(emails) > 1_000 and len(names) > 400  # the needles are real

    logged = _ingest(dask_address, "customers", src / "customers") + _ingest(dask_address, "orders", src / "orders")

    needles = emails | names
    anchors = _anchored(needles)
    files = [p for p in get_settings().home.rglob("*") if p.is_file()]
    parquet = [p for p in files if p.suffix == ".parquet"]
    assert {"lake", "quarantine"} <= {p.relative_to(get_settings().home).parts[0] for p in parquet}
    for path in files:
        leaked = _leaks(path.read_bytes(), anchors)
        assert not leaked, f"{path} holds {sorted(leaked)[:3]}"
    for path in parquet:
        assert not (_parquet_strings(path) & needles), f"{path} holds a PII value"
    assert not _leaks(logged.encode(), anchors), "a flow log or artifact holds a PII value"

    # Orders join customers on the tokenised e-mail exactly as they would on the clear e-mail.
    keyring = read_keyring_file(tmp_path / "keys" / "tokens.json")
    clear = sorted(emails)
    of_token = dict(zip(tokenise(pa.array(clear), keyring).to_pylist(), clear, strict=True))
    cust, ords = lake_table("customers"), lake_table("orders")
    assert set(cust.column("email").to_pylist()) <= set(of_token)
    on_tokens = ords.select(["order_id", "email"]).join(cust.select(["customer_id", "email"]), "email")
    clear_orders = pa.table(
        {"order_id": ords["order_id"], "email": [of_token.get(t) for t in ords["email"].to_pylist()]}
    )
    clear_cust = pa.table(
        {"customer_id": cust["customer_id"], "email": [of_token[t] for t in cust["email"].to_pylist()]}
    )
    on_values = clear_orders.join(clear_cust, "email")
    assert on_tokens.num_rows > 0
    pairs = sorted(zip(on_tokens["order_id"].to_pylist(), on_tokens["customer_id"].to_pylist(), strict=True))
    assert pairs == sorted(zip(on_values["order_id"].to_pylist(), on_values["customer_id"].to_pylist(), strict=True))

    # Encrypted names come back only through reveal, which leaves an audit record.
    sample = cust.select(["customer_id", "full_name"]).slice(0, 20)
    shown = reveal(sample, "customers", ["full_name"], purpose="acceptance test", principal="tester")
    assert set(shown.column("full_name").to_pylist()) <= names
    assert [(r.principal, r.dataset, r.columns, r.rows) for r in read_access()] == [
        ("tester", "customers", ["full_name"], 20)
    ]
