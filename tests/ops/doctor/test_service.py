from __future__ import annotations

from distributed import LocalCluster

from ops.doctor import service
from ops.doctor.models import Status
from ops.doctor.service import (
    PREFECT_HINT,
    check_contracts,
    check_dask,
    check_lake,
    check_prefect_api,
    check_settings,
    redact_url,
    run_checks,
)
from sluice.settings import get_settings
from tests.ops.factories import closed_port_url


def test_unset_prefect_api_warns_about_ephemeral_mode(monkeypatch):
    monkeypatch.setattr(service, "LOCAL_API", closed_port_url() + "/api")  # whatever runs on this machine's 4200
    result = check_prefect_api(None)

    assert result.status is Status.WARN
    assert "ephemeral" in result.detail and result.hint == PREFECT_HINT


def test_without_dask_address_a_local_cluster_is_ok():
    result = check_dask(None, 3)

    assert result.status is Status.OK and "LocalCluster with 3 worker(s)" in result.detail


def test_unreachable_dask_scheduler_fails_with_hint():
    result = check_dask("tcp://127.0.0.1:9", 2, timeout=0.5)

    assert result.status is Status.FAIL and "SLUICE_DASK_ADDRESS" in result.hint


def test_dask_scheduler_reports_its_workers_and_fails_without_any():
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        empty = check_dask(cluster.scheduler_address, 2)
        cluster.scale(1)
        cluster.wait_for_workers(1)
        busy = check_dask(cluster.scheduler_address, 2)

    assert empty.status is Status.FAIL and "no workers" in empty.detail
    assert busy.status is Status.OK and "1 worker(s)" in busy.detail


def test_lake_path_that_is_a_file_fails(tmp_path):
    target = tmp_path / "lake"
    target.write_text("", encoding="utf-8")

    result = check_lake(str(target), {}, tmp_path)

    assert result.status is Status.FAIL and "SLUICE_LAKE_URI" in result.hint


def test_lake_that_does_not_exist_yet_is_ok_when_its_parent_is_writable(tmp_path):
    result = check_lake(str(tmp_path / "new" / "lake"), {}, tmp_path)

    assert result.status is Status.OK and "no dataset tables yet" in result.detail
    assert not (tmp_path / "new").exists()


def test_low_disk_space_warns(monkeypatch, tmp_path):
    monkeypatch.setattr(service, "LOW_DISK_BYTES", 1 << 62)

    result = check_lake(str(tmp_path), {}, tmp_path)

    assert result.status is Status.WARN and "free disk space" in result.hint


def test_empty_contract_folder_warns(tmp_path):
    assert check_contracts(tmp_path).status is Status.WARN


def test_missing_contract_folder_fails(tmp_path):
    result = check_contracts(tmp_path / "nowhere")

    assert result.status is Status.FAIL and "SLUICE_CONTRACTS_DIR" in result.hint


def test_redact_url_hides_only_the_password():
    assert redact_url("http://ops:s3cret@host:4200/api") == "http://ops:***@host:4200/api"
    assert redact_url("http://host:4200/api") == "http://host:4200/api"


def test_known_settings_are_ok():
    [result] = check_settings({"SLUICE_HOME": "/srv", "SLUICE_CHAOS_PAGE": "true", "PATH": "/bin"})

    assert result.status is Status.OK and "2 SLUICE_* variable(s)" in result.detail


def test_each_unknown_setting_warns_naming_the_closest_known_name():
    results = check_settings(
        {"SLUICE_LAKE_URL": "/lake", "SLUICE_CRASH_GRACE_SECS": "5", "SLUICE_WHATEVER": "1", "SLUICE_HOME": "/srv"}
    )

    assert [r.status for r in results] == [Status.WARN] * 3
    assert [(r.detail.split()[0], r.hint) for r in results] == [
        ("SLUICE_CRASH_GRACE_SECS", "did you mean SLUICE_CRASH_GRACE_SECONDS?"),
        ("SLUICE_LAKE_URL", "did you mean SLUICE_LAKE_URI?"),
        ("SLUICE_WHATEVER", "unset it; the Configuration page of the docs lists every setting"),
    ]
    assert all("is not a Sluice setting" in r.detail for r in results)


def test_the_settings_are_checked_first_from_the_process_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SLUICE_LAKE_URL", str(tmp_path / "lake"))
    monkeypatch.setenv("PREFECT_API_URL", closed_port_url())
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SLUICE_CONTRACTS_DIR", str(tmp_path))

    results = run_checks(get_settings(fresh=True))

    assert (results[0].name, results[0].status) == ("Settings", Status.WARN)
    assert "SLUICE_LAKE_URL" in results[0].detail and results[0].hint == "did you mean SLUICE_LAKE_URI?"
    assert [r.name for r in results[1:]] == ["Prefect API", "Dask", "Lake", "Quarantine", "Metadata store", "Contracts"]
