"""The sampler beside every flow run watches the flow's own process, where thread workers run."""

from __future__ import annotations

import time

from flows.observe import FLOW_PROCESS, sampling
from ops.metrics.models import Selector
from ops.metrics.store import open_store


def test_a_run_samples_the_memory_of_its_own_process(sluice_home, monkeypatch):
    monkeypatch.setenv("SLUICE_METRICS_SAMPLE_SECONDS", "0.2")

    with sampling({"flow": "ingest-files", "environment": "dev"}) as sampler:
        time.sleep(1.0)

    assert sampler is not None and sampler.written > 0
    rss = [
        i
        for i in open_store(home=sluice_home.home).series(Selector.parse("sluice_process_rss_bytes"))
        if i.labels.get("worker") == FLOW_PROCESS
    ]
    assert len(rss) == 1 and rss[0].points >= 3
    assert rss[0].labels["flow"] == "ingest-files"
