"""The daily quota shared by every run: a Prefect global concurrency limit with slot decay."""

from __future__ import annotations

from collections import Counter

import pytest

from sluice.errors import ApiQuotaExhausted
from sluice.sources.api.quota import SharedQuota, limit_name
from tests.apiserver import ApiServer
from tests.sluice.sources.api.apifixtures import CLIENT_ID, SECRET, harness, lake_rows

pytestmark = pytest.mark.integration


def test_runs_share_the_daily_quota_and_a_run_past_it_stops_then_the_next_resumes(prefect_api, tmp_path) -> None:
    from prefect.client.orchestration import get_client

    with ApiServer(accounts=25) as server:
        server.add_client(CLIENT_ID, SECRET)
        name = "quota_test_api"
        h = harness(tmp_path, server.url, limit=5, daily_quota=4, max_wait_s=0.5)
        h.spec = h.spec.model_copy(update={"name": name})
        with get_client(sync_client=True) as client:
            if _exists(client, name):  # a limit left by an earlier session of the same test server
                client.delete_global_concurrency_limit_by_name(limit_name(name))

        with pytest.raises(ApiQuotaExhausted, match="daily quota of 4"):
            h.sync()
        assert len(server.api_requests()) == 4
        assert SharedQuota(name, 4, 0.5).used_fraction() == pytest.approx(1.0, abs=0.01)
        with pytest.raises(ApiQuotaExhausted):  # another run: the same quota, used up
            h.sync()
        assert len(server.api_requests()) == 4

        h.spec = h.spec.model_copy(
            update={"limits": h.spec.limits.model_copy(update={"daily_quota": 100}), "name": name}
        )
        h.sync()

        assert Counter(str(r["account_id"]) for r in lake_rows(tmp_path)) == Counter(
            dict.fromkeys(server.state.accounts, 1)
        )
        with get_client(sync_client=True) as client:
            found = client.read_global_concurrency_limit_by_name(limit_name(name))
        assert found.limit == 100 and found.slot_decay_per_second == pytest.approx(100 / 86_400)


def _exists(client, name: str) -> bool:
    from prefect.exceptions import ObjectNotFound

    try:
        client.read_global_concurrency_limit_by_name(limit_name(name))
    except ObjectNotFound:
        return False
    return True
