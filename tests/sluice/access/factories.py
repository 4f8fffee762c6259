"""A customers table in the lake as ingestion leaves it (contract types, the internal columns), and readers."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from deltalake import write_deltalake

from demo.samples import generate_customers
from sluice.access.principal import Principal
from sluice.settings import Settings
from sluice.validate.chunk import BATCH_COL, PARTITION, ROW_COL, WARNINGS_COL

ISSUER = "https://idp.test/oauth2/default"


def _date(text: str) -> date:
    if "." in text:
        return datetime.strptime(text, "%d.%m.%Y").date()
    return date.fromisoformat(text)


def customers_table(tmp_path: Path, rows: int = 400, seed: int = 5) -> pa.Table:
    """Generated customers, typed as the contract says, with the lake's partition and internal columns."""
    manifest = generate_customers(
        tmp_path / "source", rows=rows, seed=seed, bad_fraction=0, duplicate_fraction=0, warning_fraction=0, days=20
    )
    raw = pacsv.read_csv(
        manifest.files[0],
        convert_options=pacsv.ConvertOptions(
            column_types={"marketing_opt_in": pa.string(), "segment": pa.string(), "signup_date": pa.string()},
            strings_can_be_null=True,
        ),
    )
    signup = pa.array([_date(v) for v in raw["signup_date"].to_pylist()], pa.date32())
    opt_in = pa.array([None if v is None else v == "true" for v in raw["marketing_opt_in"].to_pylist()], pa.bool_())
    table = raw.set_column(raw.schema.get_field_index("signup_date"), "signup_date", signup)
    table = table.set_column(table.schema.get_field_index("marketing_opt_in"), "marketing_opt_in", opt_in)
    table = table.set_column(
        table.schema.get_field_index("updated_at"),
        "updated_at",
        pc.cast(table["updated_at"], pa.timestamp("us", "UTC")),
    )
    return (
        table.append_column(PARTITION, signup)
        .append_column(BATCH_COL, pa.array(["b1"] * table.num_rows))
        .append_column(ROW_COL, pa.array(range(table.num_rows), pa.int64()))
        .append_column(WARNINGS_COL, pa.array([None] * table.num_rows, pa.string()))
    )


def lake_customers(settings: Settings, tmp_path: Path, rows: int = 400) -> pa.Table:
    """Write the customers table (two commits, partitioned by date) and return it as written."""
    table = customers_table(tmp_path, rows)
    half = table.num_rows // 2
    for part in (table.slice(0, half), table.slice(half)):
        write_deltalake(f"{settings.lake_root()}/customers", part, mode="append", partition_by=[PARTITION])
    return table


def principal(subject: str, *roles: str, **attributes: str) -> Principal:
    return Principal(subject=subject, issuer=ISSUER, roles=frozenset(roles), **attributes)  # type: ignore[arg-type]
