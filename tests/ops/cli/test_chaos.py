"""``ops chaos list|validate|run --dry-run``: the suite, validation errors and the blast-radius guard at the CLI."""

from __future__ import annotations

import json

from chaos.experiment import suite
from tests.ops.factories import invoke, sluice_home


def test_list_shows_the_suite_with_targets_and_environments(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    listed = json.loads(invoke("chaos", "list", "-o", "json").stdout)

    assert sorted(e["name"] for e in listed) == sorted(p.stem for p in suite())
    disk = next(e for e in listed if e["name"] == "lake-disk-full")
    assert "lake-disk" in disk["targets"] and disk["environments"] == ["dev", "staging"]


def test_validate_accepts_the_suite_and_names_what_is_wrong_in_a_bad_file(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: t\ndescription: d\nmethod: []\n")

    good = invoke("chaos", "validate")
    wrong = invoke("chaos", "validate", str(bad))

    # the console wraps long paths at 80 columns, ": valid" too where the checkout's path is long
    assert good.exit_code == 0 and " ".join(good.stdout.split()).count(": valid") == len(suite())
    assert wrong.exit_code == 1
    assert "bad.yaml: no `sluice` extension" in wrong.stderr and "hint:" in wrong.stderr


def test_dry_run_clears_the_drill_and_lists_its_steps_without_running(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path, env="staging")

    result = invoke("chaos", "run", "lake-disk-full", "--env", "staging", "--dry-run")

    assert result.exit_code == 0
    assert "fill-the-lake-disk" in result.stdout and "recovery-next-run-clean" in result.stdout
    assert "dry run: nothing was touched" in result.stdout
    assert not (tmp_path / "home" / "chaos").exists()


def test_prod_is_refused_at_the_cli_with_the_reason(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path, env="prod", chaos_environments='["dev", "staging"]')
    experiment = tmp_path / "prod-ok.yaml"
    experiment.write_text(_prod_experiment())

    refused = invoke("chaos", "run", str(experiment), "--env", "prod", "--dry-run")
    overridden = invoke("chaos", "run", str(experiment), "--env", "prod", "--dry-run", "--override-blast-radius")
    mismatch = invoke("chaos", "run", "duplicate-delivery", "--env", "staging", "--dry-run")

    assert refused.exit_code == 1 and "refusing to drill prod: it is not allow-listed" in refused.stderr
    assert overridden.exit_code == 0 and "cleared by override" in overridden.stdout
    assert mismatch.exit_code == 1 and "this process runs with SLUICE_ENV=prod" in mismatch.stderr


def test_env_is_required(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path)

    assert invoke("chaos", "run", "duplicate-delivery").exit_code == 2


def _prod_experiment() -> str:
    from chaos.experiment import EXPERIMENTS_DIR

    text = (EXPERIMENTS_DIR / "duplicate-delivery.yaml").read_text()
    return text.replace("environments: [dev, staging]", "environments: [staging, prod]")


def test_a_host_without_the_chaos_extra_exits_2_and_records_no_drill_and_no_incident(monkeypatch, tmp_path):
    import sys

    from chaos.journal import list_drills
    from chaos.store import open_chaos_engine
    from ops.incidents.db import open_engine, store_url, transaction
    from ops.incidents.service import list_incidents

    settings = sluice_home(monkeypatch, tmp_path, env="staging")
    for name in ("moto", "moto.server", "boto3"):
        monkeypatch.setitem(sys.modules, name, None)

    result = invoke("chaos", "run", "duplicate-delivery", "--env", "staging")
    planned = invoke("chaos", "run", "duplicate-delivery", "--env", "staging", "--dry-run")

    assert result.exit_code == 2
    assert "error: drill duplicate-delivery cannot run on this host: moto's S3 server" in result.stderr
    assert "boto3" in result.stderr and "hint: install the chaos extra: pip install -e '.[chaos]'" in result.stderr
    assert planned.exit_code == 0 and "warning: cannot run on this host: moto's S3 server" in planned.stderr
    assert not (settings.home / "incidents.db").exists(), "neither store was opened"
    assert not (settings.home / "chaos").exists(), "no drill folder: nothing started"
    with transaction(open_chaos_engine()) as session:
        assert list_drills(session) == []
    with transaction(open_engine(store_url(settings.home))) as session:
        assert list_incidents(session) == []


def test_the_disk_drill_without_mount_on_path_exits_2_naming_it(monkeypatch, tmp_path):
    sluice_home(monkeypatch, tmp_path, env="staging")
    (tmp_path / "no-tools").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))

    result = invoke("chaos", "run", "lake-disk-full", "--env", "staging", "-o", "json")

    assert result.exit_code == 2 and result.stdout == ""
    assert "mount and umount not found on PATH" in result.stderr and "CAP_SYS_ADMIN" in result.stderr
