"""Every experiment of the suite validates, with Sluice's rules and with the stock ``chaos validate``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from chaos.experiment import Kind, kind_of, load, suite
from ops.errors import ChaosError
from tests.chaos.factories import activity, write_experiment

SUITE = suite()


def test_the_suite_has_one_experiment_per_fault():
    assert {p.stem for p in SUITE} == {
        "s3-network-degraded",
        "s3-source-outage",
        "s3-source-blackhole",
        "source-schema-change",
        "duplicate-delivery",
        "poison-records",
        "dask-worker-killed",
        "prefect-api-unreachable",
        "lake-disk-full",
        "cpu-hog",
        "memory-balloon",
        "db-backend-killed-mid-snapshot",
        "pg-restart-mid-capture",
        "cdc-consumer-stalled",
        "source-alter-table-mid-stream",
        "broker-unreachable-mid-batch",
        "stream-consumer-killed-mid-batch",
        "stream-poison-message",
        "stream-incompatible-schema",
        "kafka-broker-frozen-mid-batch",
        "kafka-consumer-killed-mid-batch",
        "kafka-poison-message",
        "kafka-incompatible-schema",
        "api-throttled-then-failing",
    }


@pytest.mark.parametrize("path", SUITE, ids=lambda p: p.stem)
def test_every_experiment_loads_with_conservation_and_recovery(path, tmp_path):
    from chaostoolkit.cli import cli

    experiment = load(path)
    kinds = {kind_of(p["name"]) for p in experiment.hypothesis_probes()}
    stock = CliRunner().invoke(cli, ["--log-file", str(tmp_path / "chaos.log"), "validate", str(path)])

    assert Kind.CONSERVATION in kinds and Kind.OUTCOME in kinds
    recovery = [p["name"] for p in experiment.extension.recovery]
    # A capture stopped by a dropped contract column stays stopped until a human changes the contract.
    assert len(recovery) == (0 if path.stem == "source-alter-table-mid-stream" else 1)
    assert all(name.startswith("recovery-next-") and name.endswith("-clean") for name in recovery)
    assert experiment.extension.guards and experiment.data["rollbacks"]
    assert stock.exit_code == 0, stock.output


def _error(path) -> str:
    with pytest.raises(ChaosError) as found:
        load(path)
    return str(found.value)


def test_an_invalid_file_gets_a_clear_error_naming_it(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("title: [unclosed\n")
    no_title = write_experiment(tmp_path, "untitled", title="")
    bad_module = write_experiment(tmp_path, "nomodule", method=[activity("action", "x", "f", module="chaos.nope")])

    assert "broken.yaml: Failed parsing YAML experiment" in _error(broken)
    assert "untitled.yaml: experiment requires a title" in _error(no_title)
    assert "could not find Python module 'chaos.nope'" in _error(bad_module)


def test_sluice_rules_are_checked_with_what_to_fix(tmp_path):
    unnamed = write_experiment(tmp_path, "unnamed", probes=[activity("probe", "rows-ok", "flag_down", flag="f")])
    no_ext = write_experiment(tmp_path, "noext", extensions=[{"name": "other"}])
    no_control = write_experiment(tmp_path, "nocontrol", controls=[])

    assert "probe 'rows-ok' does not name its kind" in _error(unnamed)
    assert "no `sluice` extension" in _error(no_ext)
    assert "the `chaos.control` control is not declared" in _error(no_control)
    with pytest.raises(ChaosError, match="no experiment 'nowhere'"):
        load("nowhere")
