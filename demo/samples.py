"""Realistic sample files for the ``orders`` and ``customers`` contracts, with their ground truth.

Every value is a pure function of ``(seed, row position)`` (counter-based
hashing, vectorised with numpy), so files are written chunk by chunk with flat
memory and their content does not depend on the chunk size. Each data row is:

- an *original*: valid, valid with one warning-level problem (it must land and
  be counted as a warning), or bad with one critical problem (it must be
  quarantined); every original has its own key, so bad rows never share a key
  with a valid row;
- a *duplicate*: an exact re-emission of an earlier valid original (same key,
  same partition date), from close by or from an earlier file.

:class:`SampleManifest` holds what a correct ingestion of the files must report.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from demo.sample_files import SampleWriter, join
from demo.sample_names import FIRST_NAMES, LAST_NAMES
from demo.sample_plan import Plan, Rand, Spec
from demo.sample_text import (
    as_text,
    by_style,
    customer_id,
    day_first,
    money,
    naive_text,
    null_where,
)

CHUNK_ROWS = 250_000
ZONE = "Europe/Berlin"  # the orders contract's source time zone
DEFAULT_START = datetime(2024, 10, 1, tzinfo=UTC)  # 30 days span the October DST change
_DOMAINS = ["example.com", "mail.example.de", "post.example.fr", "example.co.uk", "example.ch"]
_COUNTRIES = (
    ["DE", "AT", "CH", "FR", "NL", "GB", "US", "IT", "ES", "PL", "SE", "DK"],
    [40, 10, 8, 9, 7, 8, 6, 4, 3, 2, 2, 1],
)
_OFFSETS = (["+01:00", "+02:00", "-05:00", "+05:30", "+00:00"], np.array([3600, 7200, -18000, 19800, 0]))


@dataclass
class SampleManifest:
    """Ground truth of generated files, counted by the generator itself.

    ``rows_total == rows_unique_valid + rows_bad + rows_duplicate`` always holds.
    ``warnings`` counts warning-level problems on rows that are not quarantined,
    duplicates included (each staged copy carries its problem).
    """

    dataset: str
    rows_total: int = 0  # data rows written, headers excluded
    rows_bad: int = 0  # rows that must be quarantined (malformed lines included)
    rows_duplicate: int = 0  # valid re-emissions that deduplication must drop
    rows_unique_valid: int = 0  # rows that must land in the lake
    warnings: int = 0
    bad_kinds: dict[str, int] = field(default_factory=dict)
    warning_kinds: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def check(self) -> None:
        if self.rows_total != self.rows_unique_valid + self.rows_bad + self.rows_duplicate:
            raise AssertionError(f"manifest of {self.dataset} does not add up: {self}")


# --- text building blocks (pyarrow compute, no per-row Python) -------------------------------------


def _email(r: Rand, q: np.ndarray, first: pa.Array, last: pa.Array) -> pa.Array:
    number = null_where(as_text((r.uniform("email_n", q) * 90 + 10).astype(np.int64)), r.uniform("email_n?", q) < 0.5)
    local = join(first, ".", pc.replace_substring(last, " ", ""), pc.fill_null(number, ""))
    return join(local, "@", r.choice("domain", q, _DOMAINS, [40, 25, 15, 12, 8]))


def _ambiguous(local: pa.Array) -> np.ndarray:
    """Wall-clock times that occur twice (or never) in the source time zone."""
    early = pc.assume_timezone(local, timezone=ZONE, ambiguous="earliest", nonexistent="earliest")
    late = pc.assume_timezone(local, timezone=ZONE, ambiguous="latest", nonexistent="latest")
    return np.asarray(pc.not_equal(early, late).to_numpy(zero_copy_only=False), dtype=bool)


def _order_ts(r: Rand, q: np.ndarray, t: np.ndarray, ms: np.ndarray) -> pa.Array:
    """Mostly ISO 8601 UTC, some with offsets, some naive local, some day-first, some epoch ms."""
    style = r.pick("ts_style", q, [62, 10, 10, 8, 5, 5])
    off = r.pick("ts_offset", q, [30, 40, 15, 5, 10])
    local = pc.local_timestamp(pa.array(t, pa.int64()).cast(pa.timestamp("s", tz=ZONE)))
    style = np.where(np.isin(style, (3, 4)) & _ambiguous(local), 0, style)
    local_text = local.cast(pa.string())
    return by_style(
        style,
        [
            lambda i: join(naive_text(t[i], "T"), "Z"),
            lambda i: join(naive_text(t[i], "T"), ".", pc.utf8_lpad(as_text(ms[i]), width=3, padding="0"), "Z"),
            lambda i: join(naive_text(t[i] + _OFFSETS[1][off[i]], "T"), pa.array(_OFFSETS[0]).take(pa.array(off[i]))),
            lambda i: local_text.take(pa.array(i)),
            lambda i: day_first(local_text.take(pa.array(i)), "/", with_time=True),
            lambda i: as_text(t[i] * 1000 + ms[i]),
        ],
    )


def _orders(plan: Plan, q: np.ndarray) -> dict[str, pa.Array]:
    r = plan.rand
    jitter = np.clip(r.normal("t", q) * 1800, -10_000, 10_000)  # out of order, by up to ~3 hours
    t = plan.start + 10_800 + ((q + 0.5) / plan.rows * (plan.span - 21_600) + jitter).astype(np.int64)
    ms = (r.uniform("ms", q) * 1000).astype(np.int64)
    cents = np.clip(np.rint(np.exp(np.log(4500) + 0.9 * r.normal("amount", q))), 50, 9_999_999).astype(np.int64)
    qty = np.minimum(1 + (-np.log1p(-r.uniform("qty", q)) * 0.9).astype(np.int64), 1000)
    updated = join(naive_text(t + (r.uniform("upd", q) * 72 * 3600).astype(np.int64), "T"), "Z")
    email = _email(r, q, r.choice("first", q, FIRST_NAMES), r.choice("last", q, LAST_NAMES))
    return {
        "order_id": as_text(1_000_001 + plan.id_offset + q),
        "customer_id": customer_id(1 + (r.uniform("cust", q) * 150_000).astype(np.int64)),
        "order_ts": _order_ts(r, q, t, ms),
        "status": r.choice(
            "status", q, ["placed", "paid", "shipped", "delivered", "cancelled", "returned"], [10, 25, 20, 35, 6, 4]
        ),
        "amount": money(cents),
        "currency": r.choice("currency", q, ["EUR", "USD", "GBP", "CHF"], [70, 12, 10, 8]),
        "quantity": as_text(qty),
        "discount": r.choice(
            "discount", q, [None, "0.05", "0.1", "0.15", "0.2", "0.25", "0.5"], [80, 5, 6, 3, 3, 2, 1]
        ),
        "channel": r.choice("channel", q, ["web", "app", "store", "phone", None], [50, 30, 12, 5, 3]),
        "country": r.choice("country", q, *_COUNTRIES),
        "email": null_where(email, r.uniform("email?", q) < 0.06),
        "updated_at": null_where(updated, r.uniform("upd?", q) < 0.6),
    }


def _customers(plan: Plan, q: np.ndarray) -> dict[str, pa.Array]:
    r = plan.rand
    signup = plan.start - 86_400 * (1 + (r.uniform("signup", q) * plan.span / 86_400).astype(np.int64))
    day = naive_text(signup)
    changed = signup + ((plan.start - signup) * r.uniform("upd", q)).astype(np.int64)  # last change, before start
    first, last = r.choice("first", q, FIRST_NAMES), r.choice("last", q, LAST_NAMES)
    given, family = pc.utf8_title(first), pc.utf8_title(last)
    nick = r.choice("nick", q, ["Bob", "Jo", "Max", "Pepe", "Lu"])
    full_name = pc.choose(
        pa.array(r.pick("name_style", q, [75, 20, 5]).astype(np.int8)),
        join(given, " ", family),
        join(family, ", ", given),
        join(given, ' "', nick, '" ', family),
    )
    ltv = np.rint(np.exp(np.log(30_000) + 1.1 * r.normal("ltv", q))).astype(np.int64)
    return {
        "customer_id": customer_id(plan.id_offset + q + 1),
        "signup_date": pc.choose(
            pa.array(r.pick("sd_style", q, [80, 20]).astype(np.int8)),
            pc.utf8_slice_codeunits(day, 0, 10),
            day_first(day, ".", with_time=False),
        ),
        "full_name": full_name,
        "email": _email(r, q, first, last),
        "country": r.choice("country", q, *_COUNTRIES),
        "segment": r.choice("segment", q, ["consumer", "business", "vip", None], [75, 20, 3, 2]),
        "marketing_opt_in": r.choice("opt_in", q, ["true", "false", "yes", "no", None], [40, 40, 5, 5, 10]),
        "lifetime_value": null_where(money(ltv), r.uniform("ltv?", q) < 0.1),
        "updated_at": join(naive_text(changed, "T"), "Z"),
    }


ORDERS = Spec(
    name="orders",
    columns=[
        "order_id",
        "customer_id",
        "order_ts",
        "status",
        "amount",
        "currency",
        "quantity",
        "discount",
        "channel",
        "country",
        "email",
        "updated_at",
    ],
    render=_orders,
    bad={
        "unparseable_timestamp": (
            "order_ts",
            18,
            ["N/A", "unknown", "0000-00-00 00:00:00", "31/02/2024 10:00:00", "yesterday", None],
        ),
        "negative_amount": ("amount", 13, ["-12.50", "-0.01", "-199.00"]),
        "unknown_status": ("status", 13, ["PAID", "refunded", "pending", "Delivered"]),
        "bad_customer_id": ("customer_id", 13, ["C12345", "c004711", "CUST-004711", None]),
        "non_numeric_quantity": ("quantity", 13, ["two", "1.5", "N/A", "3 pcs"]),
        "empty_order_id": ("order_id", 10, [None]),
        "unknown_currency": ("currency", 8, ["EURO", "eur", "$"]),
        "malformed": (None, 6, []),
    },
    warn={
        "discount_out_of_range": ("discount", 40, ["1.5", "-0.1", "15", "20"]),
        "unknown_channel": ("channel", 35, ["fax", "Web", "marketplace"]),
        "unparseable_updated_at": ("updated_at", 25, ["pending", "--", "tbd", "31.12.9999"]),
    },
    json_numeric=frozenset({"order_id", "amount", "quantity", "discount"}),
    parquet_fallback="empty_order_id",
)

CUSTOMERS = Spec(
    name="customers",
    columns=[
        "customer_id",
        "signup_date",
        "full_name",
        "email",
        "country",
        "segment",
        "marketing_opt_in",
        "lifetime_value",
        "updated_at",
    ],
    render=_customers,
    bad={
        "bad_customer_id": ("customer_id", 20, ["C12345", "c004711", "CUST-004711", None]),
        "unparseable_signup_date": ("signup_date", 20, ["unknown", "2023-02-30", "n/a", "13/2023"]),
        "missing_full_name": ("full_name", 15, [None]),
        "missing_email": ("email", 15, [None]),
        "bad_country": ("country", 15, ["Germany", "de", "D"]),
        "unparseable_updated_at": ("updated_at", 10, ["never", "2024-13-01T00:00:00Z", None]),
        "malformed": (None, 15, []),
    },
    warn={
        "unknown_segment": ("segment", 40, ["gold", "Consumer", "smb"]),
        "unparseable_opt_in": ("marketing_opt_in", 30, ["maybe", "unknown", "2"]),
        "negative_lifetime_value": ("lifetime_value", 30, ["-15.00", "-0.50"]),
    },
    json_numeric=frozenset({"lifetime_value"}),
    parquet_fallback="bad_customer_id",
)


def _per_file(value: Any, files: int, what: str) -> list[Any]:
    if isinstance(value, (str, bool)):
        return [value] * files
    values = list(value)
    if len(values) != files:
        raise ValueError(f"{what} lists {len(values)} values for {files} files")
    return values


def _write_chunk(spec: Spec, plan: Plan, pos: np.ndarray, out: SampleWriter, manifest: SampleManifest) -> None:
    roots = plan.roots(pos)
    kinds = plan.kind(roots)
    cols = spec.render(plan, roots)
    problems = {**spec.bad, **spec.warn}
    for code, (kind, (column, _weight, values)) in enumerate(problems.items(), start=1):
        hit = kinds == code
        if column is not None and hit.any():
            cols[column] = pc.if_else(pa.array(hit), plan.rand.choice(kind, roots, values), cols[column])
    malformed = kinds == plan.malformed
    variant = np.where(malformed, 1 + (plan.rand.uniform("variant", roots) < 0.5), 0)
    out.write({c: cols[c] for c in spec.columns}, variant)
    dup = roots != pos
    manifest.rows_total += len(pos)
    manifest.rows_duplicate += int(dup.sum())
    manifest.rows_bad += int(plan.is_bad(kinds).sum())
    manifest.rows_unique_valid += int((~dup & ~plan.is_bad(kinds)).sum())
    manifest.warnings += int((kinds > plan.n_bad).sum())
    for code, count in enumerate(np.bincount(kinds, minlength=len(plan.names))[1:], start=1):
        target = manifest.bad_kinds if code <= plan.n_bad else manifest.warning_kinds
        if count:
            target[plan.names[code]] = target.get(plan.names[code], 0) + int(count)


def _generate(
    spec: Spec,
    dest_dir: str | Path,
    *,
    rows: int,
    files: int,
    fmt: Any,
    gzip: Any,
    encoding: Any,
    chunk_rows: int,
    **plan_options: Any,
) -> SampleManifest:
    fmts, gzs, encs = (_per_file(v, files, n) for v, n in ((fmt, "fmt"), (gzip, "gzip"), (encoding, "encoding")))
    if not 1 <= files <= rows or chunk_rows < 1 or any(f not in ("csv", "jsonl", "parquet") for f in fmts):
        raise ValueError("need 1 <= files <= rows, chunk_rows >= 1 and formats among csv, jsonl, parquet")
    plan = Plan(spec, rows, fmts, **plan_options)
    Path(dest_dir).mkdir(parents=True, exist_ok=True)
    manifest = SampleManifest(dataset=spec.name)
    for i in range(files):
        gz = bool(gzs[i]) and fmts[i] != "parquet"
        path = Path(dest_dir) / f"{spec.name}-{i:03d}.{fmts[i]}{'.gz' if gz else ''}"
        with ExitStack() as stack:
            out = SampleWriter(path, fmts[i], gz, encs[i], spec.columns, spec.json_numeric, stack)
            for lo in range(int(plan.bounds[i]), int(plan.bounds[i + 1]), chunk_rows):
                pos = np.arange(lo, min(lo + chunk_rows, int(plan.bounds[i + 1])), dtype=np.int64)
                _write_chunk(spec, plan, pos, out, manifest)
        manifest.files.append(str(path))
    manifest.check()
    return manifest


def generate_orders(
    dest_dir: str | Path,
    *,
    rows: int,
    files: int = 1,
    seed: int = 0,
    bad_fraction: float = 0.03,
    duplicate_fraction: float = 0.02,
    warning_fraction: float = 0.01,
    days: int = 30,
    fmt: str | Sequence[str] = "csv",
    gzip: bool | Sequence[bool] = False,
    encoding: str | Sequence[str] = "utf-8",
    chunk_rows: int = CHUNK_ROWS,
    id_offset: int = 0,
    start: datetime = DEFAULT_START,
) -> SampleManifest:
    """Write ``rows`` orders into ``files`` files named ``orders-NNN.<fmt>[.gz]`` under ``dest_dir``.

    ``fmt``, ``gzip`` and ``encoding`` take one value or one per file. Parquet
    files hold the same text as CSV (string columns), so every problem fits.
    Order ids are ``1_000_001 + id_offset + position``; ``order_ts`` spans
    ``days`` from ``start``.
    """
    return _generate(ORDERS, **locals())


def generate_customers(
    dest_dir: str | Path,
    *,
    rows: int,
    files: int = 1,
    seed: int = 0,
    bad_fraction: float = 0.03,
    duplicate_fraction: float = 0.02,
    warning_fraction: float = 0.01,
    days: int = 3 * 365,
    fmt: str | Sequence[str] = "csv",
    gzip: bool | Sequence[bool] = False,
    encoding: str | Sequence[str] = "utf-8",
    chunk_rows: int = CHUNK_ROWS,
    id_offset: int = 0,
    start: datetime = DEFAULT_START,
) -> SampleManifest:
    """Write ``rows`` customers like :func:`generate_orders`; sign-up dates fall in the ``days`` before ``start``.

    Customer ids are ``C`` and six digits (``id_offset + position + 1``), so at most 999,999.
    """
    if id_offset + rows > 999_999:
        raise ValueError("customer ids have six digits: id_offset + rows must be at most 999,999")
    return _generate(CUSTOMERS, **locals())


def make_demo_samples(dest: str | Path) -> dict[str, SampleManifest]:
    """A small demo set: ``dest/orders`` holds three CSV files of 20k rows (UTF-8, gzip, Latin-1) and a
    JSON Lines file; ``dest/customers`` a CSV with a UTF-8 byte-order mark and a Parquet file."""
    root = Path(dest)
    orders = generate_orders(
        root / "orders",
        rows=80_000,
        files=4,
        seed=7,
        fmt=["csv", "csv", "csv", "jsonl"],
        gzip=[False, True, False, False],
        encoding=["utf-8", "utf-8", "latin-1", "utf-8"],
    )
    customers = generate_customers(
        root / "customers", rows=30_000, files=2, seed=7, fmt=["csv", "parquet"], encoding=["utf-8-sig", "utf-8"]
    )
    return {"orders": orders, "customers": customers}
