"""Stream syncs against the local gRPC server: every message once, through UNAVAILABLE, stalls and rivals."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace

import pytest

from sluice.errors import SourceError, SourceUnreachableError
from sluice.sources.grpc.sink import Stale
from sluice.sources.grpc.sync import StreamSync
from tests.grpcserver import FeedServer, event_id, token
from tests.sluice.sources.grpc.grpcfixtures import harness, lake_rows, quarantined


def _ids(lake) -> Counter[str]:
    return Counter(str(r["event_id"]) for r in lake_rows(lake))


def _all(n: int) -> Counter[str]:
    return Counter({event_id(i): 1 for i in range(n)})


def test_a_sync_lands_every_message_once_in_batches_with_the_last_token_as_position(tmp_path) -> None:
    with FeedServer(events=45) as server:
        done = harness(tmp_path, server.target).sync()

    assert done.complete and done.records == 45 and done.pages == 5  # batches of 10, the last of 5
    assert _ids(tmp_path) == _all(45)
    assert done.position == token(44)
    row = next(r for r in lake_rows(tmp_path) if r["event_id"] == event_id(3))
    assert row["amount"] == 30 and str(row["day"]) == "2026-01-04" and row["recorded"] is not None


def test_a_second_sync_resumes_after_the_newest_commits_token_and_lands_only_what_is_new(tmp_path) -> None:
    with FeedServer(events=20) as server:
        h = harness(tmp_path, server.target)
        h.sync()
        server.state.events = 27

        second = h.sync()

        assert server.state.calls == ["", token(19)]
    assert second.records == 7
    assert _ids(tmp_path) == _all(27)


def test_unavailable_mid_stream_is_retried_from_the_last_token_and_nothing_is_lost_or_doubled(tmp_path) -> None:
    with FeedServer(events=40) as server:
        server.state.faults.unavailable_after = [7, 12]
        done = harness(tmp_path, server.target).sync()

        calls = server.state.calls
    assert calls == ["", token(6), token(18)]
    assert done.complete and done.records == 40
    assert _ids(tmp_path) == _all(40)


def test_a_call_that_stalls_past_the_idle_deadline_is_reopened_from_its_token(tmp_path) -> None:
    with FeedServer(events=15) as server:
        server.state.faults.stall_after = [4]
        server.state.faults.stall_s = 30
        h = harness(tmp_path, server.target)
        stream = h.stream()

        done = StreamSync(h.spec, stream, h.sink()).run()

        assert server.state.calls == ["", token(3)]
    assert stream.stalls == 1 and done.records == 15
    assert _ids(tmp_path) == _all(15)


def test_a_call_past_its_deadline_is_reopened_from_its_token(tmp_path) -> None:
    with FeedServer(events=12) as server:
        server.state.faults.stall_after = [5]
        server.state.faults.stall_s = 30
        h = harness(tmp_path, server.target, retries={"deadline_s": 1.0, "idle_s": 60, "backoff_s": 0.01})

        done = h.sync()

        assert server.state.calls == ["", token(4)]
    assert done.records == 12 and _ids(tmp_path) == _all(12)


def test_a_server_that_stays_unavailable_stops_the_run_after_committing_what_came_and_the_next_resumes(
    tmp_path,
) -> None:
    with FeedServer(events=30) as server:
        server.state.faults.unavailable_after = [13, 0, 0, 0, 0, 0]
        h = harness(tmp_path, server.target)
        with pytest.raises(SourceUnreachableError, match="UNAVAILABLE"):
            h.sync()
        assert _ids(tmp_path) == _all(13)  # the batch under way committed before the error

        done = h.sync()

        assert server.state.calls[-1] == token(12)
    assert done.records == 17 and _ids(tmp_path) == _all(30)


def test_a_server_that_does_not_serve_the_method_is_a_clear_error(tmp_path) -> None:
    with FeedServer(events=3) as server:
        h = harness(tmp_path, server.target)
        stream = h.stream()
        stream.method = replace(stream.method, path="/feed.v1.Other/Subscribe")

        with pytest.raises(SourceError, match="UNIMPLEMENTED") as err:
            StreamSync(h.spec, stream, h.sink()).run()
    assert "does not serve" in (err.value.hint or "")


def test_undecodable_messages_and_wrong_typed_fields_are_quarantined_with_a_reason(tmp_path) -> None:
    with FeedServer(events=20) as server:
        server.state.faults.junk = {4, 11}
        server.state.faults.bad_score = {7}
        done = harness(tmp_path, server.target).sync()

    held = quarantined(tmp_path)
    assert done.records == 20 and done.quarantined == 3
    assert _ids(tmp_path) == Counter({event_id(i): 1 for i in range(20) if i not in (4, 7, 11)})
    reasons = Counter(str(r["reason"]) for r in held)
    assert reasons == Counter({"malformed_row": 2, "unparseable_int": 1}), reasons
    assert all("feed.v1.Event" in str(r["value"]) for r in held if r["reason"] == "malformed_row")


def test_two_syncs_of_one_stream_at_once_land_every_message_once(tmp_path) -> None:
    with FeedServer(events=120) as server:
        server.state.faults.delay_s = 0.002
        runs = [harness(tmp_path, server.target) for _ in range(2)]
        errors: list[BaseException] = []

        def go(h) -> None:
            try:
                h.sync()
            except BaseException as exc:  # noqa: BLE001 - reported by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=go, args=(h,)) for h in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    assert errors == []
    assert _ids(tmp_path) == _all(120)


@pytest.mark.parametrize(
    ("batching", "delay_s", "at_least"),
    [
        ({"records": 1000, "bytes": 1}, 0.0, 12),  # the byte bound: each message fills a batch
        ({"records": 1000, "seconds": 0.05}, 0.03, 3),  # the time bound: a slow stream commits as it goes
    ],
)
def test_a_batch_is_committed_at_its_byte_or_time_bound(tmp_path, batching, delay_s, at_least) -> None:
    with FeedServer(events=12) as server:
        server.state.faults.delay_s = delay_s
        done = harness(tmp_path, server.target, batching=batching).sync()

    assert done.pages >= at_least and done.records == 12
    assert _ids(tmp_path) == _all(12)


def test_a_batch_that_starts_after_a_token_the_table_has_moved_past_is_not_committed(tmp_path) -> None:
    with FeedServer(events=6) as server:
        h = harness(tmp_path, server.target)
        stream = h.stream()
        received = [m for m in stream.messages(None) if m is not None]
        stream.close()
    first, rival = h.sink(), h.sink()
    first.write(received[:3], None, token(2))

    late = rival.write(received[:4], None, token(3))

    assert late == Stale(token(2))
    assert _ids(tmp_path) == _all(3)


def test_messages_between_tokens_are_committed_with_the_next_token_and_not_doubled_after_a_reopen(tmp_path) -> None:
    with FeedServer(events=40) as server:
        server.state.faults.tokens_every = 4  # tokens on events 3, 7, 11, ... and 39
        server.state.faults.unavailable_after = [10, 9]
        done = harness(tmp_path, server.target, batching={"records": 3}).sync()

        assert server.state.calls == ["", token(7), token(15)]
    assert done.records == 40 and all(p.read % 4 == 0 for p in done.committed)
    assert _ids(tmp_path) == _all(40)


def test_time_the_reader_spends_committing_is_not_counted_as_a_stall(tmp_path) -> None:
    with FeedServer(events=20) as server:
        h = harness(tmp_path, server.target)  # idle_s: 1 s
        stream = h.stream()

        done = StreamSync(h.spec, stream, h.sink(), on_batch=lambda _: time.sleep(1.5)).run()

        assert server.state.calls == [""]
    assert stream.stalls == 0 and done.records == 20


def test_calls_that_keep_failing_before_the_next_token_give_up_after_max_retries(tmp_path) -> None:
    with FeedServer(events=40) as server:
        server.state.faults.tokens_every = 10
        server.state.faults.unavailable_after = [5] * 20
        h = harness(tmp_path, server.target)  # max_retries: 4

        with pytest.raises(SourceUnreachableError, match="5 times in a row"):
            h.sync()

        assert len(server.state.calls) == 5
    assert not (tmp_path / "lake" / "feed_events").exists()  # no token: nothing could be committed
