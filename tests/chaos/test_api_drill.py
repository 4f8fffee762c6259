"""The API drill against the local staging stack and the local OAuth2 + REST API (tests/apiserver.py), described
as an environment would describe it: the drill's HTTP fault proxy answers 429 for the (scaled down) throttle window
and then 500s; the run waits out the 429s, fails on the 500s with an incident linking source-unreachable, and the
next run resumes so that the lake holds every account the API holds exactly once (the drill's own conservation
verdict, and this test's own count of the lake against the server's accounts)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos import drill as drills
from chaos.runner import run_drill
from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.service import ensure_incident
from sluice.settings import Settings, get_settings
from tests.apiserver import ApiServer
from tests.sluice.sources.api.apifixtures import ACCOUNTS, CLIENT_ID, CONTACTS, SECRET, api_description

pytestmark = [pytest.mark.integration, pytest.mark.serial]
NAME = "api-throttled-then-failing"
EXPERIMENT = Path(__file__).resolve().parents[2] / "chaos" / "experiments" / f"{NAME}.yaml"
THROTTLE_SECONDS = 3


@pytest.fixture()
def server() -> Iterator[ApiServer]:
    with ApiServer(accounts=40, contacts_per_account=1) as srv:
        srv.add_client(CLIENT_ID, SECRET)
        yield srv


@pytest.fixture()
def api_stack(staging_stack: Settings, server: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The staging stack with the API described as an environment would: contracts, description, secret."""
    contracts = tmp_path / "contracts"
    (contracts / "apis").mkdir(parents=True)
    for body in (ACCOUNTS, CONTACTS):
        (contracts / f"{body['name']}.yaml").write_text(yaml.safe_dump(body))
    described = api_description(server.url, limit=5, max_retries=3)
    (contracts / "apis" / "crm.yaml").write_text(yaml.safe_dump(described))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(contracts))
    monkeypatch.setenv("SLUICE_API_SECRETS", f'{{"crm_client_secret": "{SECRET}"}}')
    return get_settings(fresh=True)


def scaled(tmp_path: Path, seconds: float) -> Path:
    """The experiment with its throttle window scaled down to ``seconds``."""
    data = yaml.safe_load(EXPERIMENT.read_text())
    (step,) = [s for s in data["method"] if s["provider"].get("func") == "throttle_then_fail"]
    step["provider"]["arguments"]["seconds"] = seconds
    path = tmp_path / "experiments" / f"{NAME}.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture()
def judged(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The accounts in the drill's lake, read just before the drill's stack is taken down."""
    seen: dict[str, Any] = {}
    end = drills.end

    def keep(drill: drills.Drill) -> None:
        if drill.has_stack and drill.stack.apis:
            (api,) = drill.stack.apis.values()
            seen["lake"] = api.landed(drill.stack)
        end(drill)

    monkeypatch.setattr(drills, "end", keep)
    return seen


def step(journal: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [r for r in journal["run"] if r["activity"]["name"] == name]
    assert found["status"] == "succeeded", found
    return dict(found["output"])


@pytest.mark.timeout(300)
def test_the_api_drill_waits_out_the_429s_fails_on_the_500s_and_the_next_run_lands_each_record_once(
    api_stack: Settings, server: ApiServer, tmp_path: Path, judged: dict[str, Any]
) -> None:
    result = run_drill(scaled(tmp_path, THROTTLE_SECONDS), "staging")

    assert (
        "429 (Retry-After: the rest of the window) for 3 s"
        in step(result.journal, "throttle-60s-then-fail-with-500s")["detail"]
    )
    failing = step(result.journal, "ingest-while-throttled-then-failing")
    assert failing["state"] == "Failed" and "last HTTP 500" in failing["message"], failing
    assert failing["forwarded"] == 2 and failing["throttled"] == 1 and failing["failed"] == 3, failing
    assert step(result.journal, "ingest-after-the-fault")["state"] == "Completed"
    with transaction(open_engine(store_url(api_stack.home))) as session:
        found = [ensure_incident(session, ref) for ref in result.incidents]
    assert [i.runbook_id for i in found] == ["source-unreachable"]
    assert all(i.is_drill and i.status.value == "resolved" for i in found)
    (conservation,) = [v for v in result.verdicts if v["kind"] == "conservation"]
    assert conservation["held"] and "in the lake once" in conservation["detail"], conservation["detail"]
    assert judged["lake"] == Counter({(k,): 1 for k in server.state.accounts})
    assert result.passed, result.summary
