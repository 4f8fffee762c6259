"""A gRPC stream description, its contract, and a sync wired to a local lake, for the gRPC source's tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sluice.lake.frames import LeaseSpec
from sluice.sources.api.sink import PageOutcome
from sluice.sources.api.sync import SyncOutcome
from sluice.sources.grpc.sink import GrpcSink
from sluice.sources.grpc.spec import GrpcSpec
from sluice.sources.grpc.stream import GrpcStream
from sluice.sources.grpc.stubs import load_method
from sluice.sources.grpc.sync import StreamSync
from sluice.validate.contracts import Contract
from tests.grpcserver import METHOD, PROTO, SERVICE

EVENTS = {
    "name": "feed_events",
    "owner": "feed@sluice.example",
    "freshness_sla": "1d",
    "primary_key": ["event_id"],
    "partition": {"column": "day"},
    "columns": [
        {"name": "event_id", "type": "string"},
        {"name": "account", "type": "string"},
        {"name": "amount", "type": "int64"},
        {"name": "score", "type": "int64", "nullable": True},
        {"name": "day", "type": "date"},
        {"name": "resume_token", "type": "string", "nullable": True},
        {"name": "recorded", "type": "timestamp", "nullable": True},
    ],
}


def stream_description(target: str, **overrides: object) -> dict[str, object]:
    found: dict[str, object] = {
        "name": "feed",
        "target": target,
        "proto": str(PROTO),
        "service": SERVICE,
        "method": METHOD,
        "dataset": "feed_events",
        "request": {"topic": "accounts"},
        "token_field": "resume_token",
        "token_param": "resume_after",
        "batching": {"records": 10, "seconds": 60},
        "retries": {"idle_s": 1.0, "backoff_s": 0.01, "backoff_max_s": 0.05, "max_retries": 4},
    }
    found.update(overrides)
    return found


@dataclass
class Harness:
    spec: GrpcSpec
    lake: Path

    def sink(self) -> GrpcSink:
        return GrpcSink(
            Contract.model_validate(EVENTS),
            self.spec.name,
            str(self.lake / "lake"),
            self.lake / "staging",
            str(self.lake / "quarantine"),
            LeaseSpec(),
        )

    def stream(self) -> GrpcStream:
        return GrpcStream(self.spec, load_method(self.spec.proto_path, self.spec.service, self.spec.method))

    def sync(self, on_batch: Callable[[PageOutcome], None] | None = None) -> SyncOutcome:
        return StreamSync(self.spec, self.stream(), self.sink(), on_batch).run()


def harness(tmp_path: Path, target: str, **overrides: object) -> Harness:
    return Harness(GrpcSpec.model_validate(stream_description(target, **overrides)), tmp_path)


def lake_rows(lake: Path) -> list[dict[str, object]]:
    from deltalake import DeltaTable

    return DeltaTable(str(lake / "lake" / "feed_events")).to_pyarrow_table().to_pylist()


def quarantined(lake: Path) -> list[dict[str, object]]:
    from sluice.lake.quarantine import open_quarantine

    table = open_quarantine(str(lake / "quarantine"))
    return [] if table is None else table.to_pyarrow_table().to_pylist()
