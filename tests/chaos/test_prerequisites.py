"""A drill checks what it needs on this host before it begins: a ConfigError, no drill journalled, nothing run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from chaos.disk import CAP_SYS_ADMIN, has_capability
from chaos.experiment import load, suite
from chaos.journal import list_drills
from chaos.prerequisites import mounts_disk, unmet, uses_stack
from chaos.runner import run_drill
from chaos.store import open_chaos_engine
from ops.incidents.db import open_engine, store_url, transaction
from ops.incidents.service import list_incidents
from sluice.errors import ConfigError
from sluice.settings import get_settings
from tests.chaos.factories import write_experiment
from tests.chaos.providers import CALLS

STACK_MODULES = ("moto", "moto.server", "boto3")


def without_the_chaos_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto and boto3 fail to import, as on a host installed without the ``chaos`` extra."""
    for name in STACK_MODULES:
        monkeypatch.setitem(sys.modules, name, None)


def drills_journalled() -> list[str]:
    with transaction(open_chaos_engine()) as session:
        return [r.drill_id for r in list_drills(session)]


def incidents() -> list[str]:
    with transaction(open_engine(store_url(get_settings().home))) as session:
        return [i.title for i in list_incidents(session)]


def test_every_experiment_of_the_suite_runs_on_the_stack_and_only_the_disk_drill_mounts():
    experiments = [load(path) for path in suite()]

    assert all(uses_stack(e) for e in experiments)
    assert [e.name for e in experiments if mounts_disk(e)] == ["lake-disk-full"]


def test_a_drill_of_other_providers_needs_nothing_of_the_stack(drill_env, tmp_path, monkeypatch):
    without_the_chaos_extra(monkeypatch)

    assert unmet(load(write_experiment(tmp_path))) == []


def test_a_host_without_the_chaos_extra_lacks_moto_and_boto3_with_the_install_command(drill_env, monkeypatch):
    without_the_chaos_extra(monkeypatch)

    missing = unmet(load("duplicate-delivery"))

    assert [m.what.split(",")[0] for m in missing] == ["moto's S3 server", "boto3"]
    assert all("cannot import" in m.problem for m in missing)
    assert {m.fix for m in missing} == {"install the chaos extra: pip install -e '.[chaos]'"}


def test_the_disk_drill_needs_mount_and_umount_on_path(drill_env, tmp_path, monkeypatch):
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    (missing,) = unmet(load("lake-disk-full"))

    assert "mount and umount not found on PATH" in missing.problem
    assert "CAP_SYS_ADMIN" in missing.fix


def test_the_capability_is_read_from_the_effective_set(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nCapEff:\t000001fffeffffff\n")
    without = tmp_path / "status-without"
    without.write_text(f"CapEff:\t{0x1FFFEFFFFFF & ~(1 << CAP_SYS_ADMIN):016x}\n")

    assert has_capability(CAP_SYS_ADMIN, status) is True
    assert has_capability(CAP_SYS_ADMIN, without) is False
    assert has_capability(CAP_SYS_ADMIN, tmp_path / "absent") is None


def test_run_drill_raises_a_config_error_and_journals_nothing(drill_env, monkeypatch):
    without_the_chaos_extra(monkeypatch)

    with pytest.raises(ConfigError, match="drill duplicate-delivery cannot run on this host: moto's S3 server"):
        run_drill("duplicate-delivery", "staging")

    assert drills_journalled() == []
    assert not (drill_env.home / "chaos").exists(), "no drill folder: the stack never started"


def test_the_chaos_drill_flow_fails_with_a_config_error_before_its_first_drill(
    drill_env, prefect_api, tmp_path, monkeypatch
):
    from prefect import tags

    from chaos.flow import chaos_drill
    from flows.hooks import DRILL_TAG

    runnable = write_experiment(tmp_path, "runnable")  # the test providers: it could run, but comes first
    without_the_chaos_extra(monkeypatch)

    with tags(DRILL_TAG):
        state = chaos_drill(experiments=[str(runnable), "duplicate-delivery"], env="staging", return_state=True)

    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, ConfigError)
    assert "drill duplicate-delivery cannot run on this host" in str(error) and ".[chaos]" in error.hint
    assert CALLS == [] and drills_journalled() == [], "no drill ran, not even the one that could"
    (title,) = incidents()  # the flow run failed: its hook opens a drill incident naming the ConfigError
    assert "chaos-drill failed: ConfigError" in title


def test_a_database_drill_needs_the_postgresql_server_binaries_and_only_database_drills_do(
    drill_env, tmp_path, monkeypatch
):
    from chaos import pgserver

    monkeypatch.setattr(pgserver, "PG_BIN", tmp_path / "no-postgres")

    (missing,) = unmet(load("pg-restart-mid-capture"))

    assert missing.problem == f"no PostgreSQL 15 server binaries in {tmp_path / 'no-postgres'}"
    assert "postgresql-15-wal2json" in missing.fix
    assert unmet(load("duplicate-delivery")) == []
    with pytest.raises(ConfigError, match="drill cdc-consumer-stalled cannot run on this host"):
        run_drill("cdc-consumer-stalled", "staging")


def test_a_stream_drill_needs_its_brokers_and_the_schema_drill_the_registry(drill_env, monkeypatch):
    monkeypatch.setenv("SLUICE_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    get_settings(fresh=True)
    found = {m.what: m for m in unmet(load("stream-incompatible-schema"))}
    assert set(found) == {"the redis broker of the drill's stream", "the schema registry of the drill's Avro stream"}
    assert "cannot be reached" in found["the redis broker of the drill's stream"].problem
    poison = {m.what: m for m in unmet(load("stream-poison-message"))}
    assert poison["the rabbitmq broker of the drill's stream"].fix == "set SLUICE_RABBITMQ_URL"
    with pytest.raises(ConfigError, match="drill stream-poison-message cannot run on this host"):
        run_drill("stream-poison-message", "staging")
    assert drills_journalled() == []


def test_the_kafka_freeze_drill_needs_broker_processes_it_may_signal(drill_env, monkeypatch):
    import subprocess

    monkeypatch.setenv("SLUICE_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1,127.0.0.1:2")  # nothing listens there
    get_settings(fresh=True)
    found = {m.what: m for m in unmet(load("kafka-broker-frozen-mid-batch"))}
    assert set(found) == {"the kafka broker of the drill's stream", "the Kafka broker processes the drill freezes"}
    assert "127.0.0.1:1" in found["the kafka broker of the drill's stream"].problem
    frozen = found["the Kafka broker processes the drill freezes"]
    assert frozen.problem == "SLUICE_CHAOS_KAFKA_BROKER_PIDS is unset"
    assert "SLUICE_CHAOS_KAFKA_BROKER_PIDS" in frozen.fix
    gone = subprocess.Popen(["true"])
    gone.wait()
    for pids, problem in (([gone.pid], f"no process {gone.pid}"), ([1], "pid 1 is not a broker")):
        monkeypatch.setenv("SLUICE_CHAOS_KAFKA_BROKER_PIDS", str(pids))
        get_settings(fresh=True)
        (missing,) = [m for m in unmet(load("kafka-broker-frozen-mid-batch")) if "processes" in m.what]
        assert missing.problem.startswith(problem)
    with pytest.raises(ConfigError, match="drill kafka-broker-frozen-mid-batch cannot run on this host"):
        run_drill("kafka-broker-frozen-mid-batch", "staging")
    assert drills_journalled() == []
    assert "the Kafka broker processes the drill freezes" not in {m.what for m in unmet(load("kafka-poison-message"))}


def test_an_api_drill_needs_one_described_api_and_names_the_folder_it_looked_in(
    drill_env: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apis = tmp_path / "apis"
    apis.mkdir()
    monkeypatch.setenv("SLUICE_APIS_DIR", str(apis))
    get_settings(fresh=True)

    (none,) = unmet(load("api-throttled-then-failing"))
    for name in ("crm", "hr"):
        (apis / f"{name}.yaml").write_text("name: x\n")
    (two,) = unmet(load("api-throttled-then-failing"))

    assert none.what == "the API the drill disturbs" and f"{apis} or an api argument (found: none)" in none.problem
    assert "(found: crm, hr)" in two.problem and two.fix == "describe it in SLUICE_APIS_DIR"
    assert unmet(load("duplicate-delivery")) == []
    with pytest.raises(ConfigError, match="drill api-throttled-then-failing cannot run on this host"):
        run_drill("api-throttled-then-failing", "staging")
    assert drills_journalled() == []
