"""The ingest-grpc flow on the Prefect test server: a stream synced, cut UNAVAILABLE for good, then resumed."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from sluice.errors import SourceUnreachableError
from sluice.runs.metastore import engine_for, get_run
from sluice.settings import get_settings
from tests.flows.helpers import lake_table
from tests.grpcserver import FeedServer, event_id
from tests.sluice.sources.grpc.grpcfixtures import EVENTS, stream_description

pytestmark = pytest.mark.integration


@pytest.fixture()
def server():
    with FeedServer(events=40) as srv:
        yield srv


@pytest.fixture()
def described(sluice_home, tmp_path, monkeypatch, server):
    contracts = tmp_path / "contracts"
    (contracts / "apis" / "grpc").mkdir(parents=True)
    (contracts / "feed_events.yaml").write_text(yaml.safe_dump(EVENTS))
    (contracts / "apis" / "grpc" / "feed.yaml").write_text(yaml.safe_dump(stream_description(server.target)))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    return get_settings(fresh=True)


def test_a_stream_cut_for_good_fails_the_run_after_its_batches_and_the_next_run_lands_the_rest_once(
    prefect_api, described, server
):
    from flows.ingest_grpc import ingest_grpc

    server.state.faults.unavailable_after = [15, 0, 0, 0, 0, 0]
    with pytest.raises(SourceUnreachableError):
        ingest_grpc("feed")
    assert lake_table("feed_events").num_rows == 15

    report = ingest_grpc("feed")

    rows = lake_table("feed_events").to_pylist()
    assert Counter(r["event_id"] for r in rows) == Counter({event_id(i): 1 for i in range(40)})
    assert report.status == "completed" and report.rows_read == 25
    with engine_for(get_settings().metadata_db_url()).connect() as conn:
        stored = get_run(conn, report.run_id)
    assert stored is not None and stored.rows_read == 25 and stored.flow == "ingest-grpc"
