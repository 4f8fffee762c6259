"""Settings: one model, every variable under the name users have set, clear errors, typo detection."""

from __future__ import annotations

import enum
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from sluice.errors import ConfigError
from sluice.settings import (
    PROCESS_CHUNK_ROWS,
    THREAD_CHUNK_ROWS,
    ChaosSettings,
    NotifySettings,
    Settings,
    get_settings,
    unknown_settings,
    variables,
)
from sluice.settings.access import TrustedIssuer

# Every variable Sluice has read, by the name users set: (field path, a value it takes, what the field holds then).
NAMES: dict[str, tuple[str, str, object]] = {
    "SLUICE_ENV": ("env", "staging", "staging"),
    "SLUICE_HOME": ("home", "/srv/sluice", Path("/srv/sluice")),
    "SLUICE_LAKE_URI": ("lake_uri", "s3://lake/tables", "s3://lake/tables"),
    "SLUICE_QUARANTINE_URI": ("quarantine_uri", "s3://lake/quarantine", "s3://lake/quarantine"),
    "SLUICE_STAGING_DIR": ("staging_dir", "/srv/staging", Path("/srv/staging")),
    "SLUICE_STAGING_URI": ("staging_uri", "s3://bucket/staging", "s3://bucket/staging"),
    "SLUICE_STAGING_STALE_HOURS": ("staging_stale_hours", "6.5", 6.5),
    "SLUICE_METADATA_URL": ("metadata_url", "postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    "SLUICE_CONTRACTS_DIR": ("contracts_dir", "/srv/contracts", Path("/srv/contracts")),
    "SLUICE_DASK_ADDRESS": ("dask_address", "tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"),
    "SLUICE_DASK_WORKERS": ("dask_workers", "5", 5),
    "SLUICE_DASK_MAX_WORKERS": ("dask_max_workers", "6", 6),
    "SLUICE_DASK_PROCESSES": ("dask_processes", "true", True),
    "SLUICE_CHUNK_ROWS": ("chunk_rows", "1234", 1234),
    "SLUICE_GROUP_BYTES": ("group_bytes", "1048576", 1048576),
    "SLUICE_STORAGE_OPTIONS": ("storage_options", '{"anon": true}', {"anon": True}),
    "SLUICE_LAKE_STORAGE_OPTIONS": ("lake_storage_options", '{"region": "eu-west-1"}', {"region": "eu-west-1"}),
    "SLUICE_MAX_RECORD_BYTES": ("max_record_bytes", "2048", 2048),
    "SLUICE_MAX_NESTING_DEPTH": ("max_nesting_depth", "10", 10),
    "SLUICE_MAX_FIELD_BYTES": ("max_field_bytes", "4096", 4096),
    "SLUICE_LEASE_TTL_SECONDS": ("lease_ttl_seconds", "30", 30.0),
    "SLUICE_LEASE_WAIT_SECONDS": ("lease_wait_seconds", "90", 90.0),
    "SLUICE_PAGERDUTY_ROUTING_KEY": ("notify.pagerduty_routing_key", "R0UTING", "R0UTING"),
    "SLUICE_PAGERDUTY_SECRET_BLOCK": ("notify.pagerduty_secret_block", "pd-key", "pd-key"),
    "SLUICE_PAGERDUTY_EVENTS_URL": ("notify.pagerduty_events_url", "https://eu.pd.test", "https://eu.pd.test"),
    "SLUICE_SLACK_BOT_TOKEN": ("notify.slack_bot_token", "xoxb-1", "xoxb-1"),
    "SLUICE_SLACK_SECRET_BLOCK": ("notify.slack_secret_block", "slack-bot", "slack-bot"),
    "SLUICE_SLACK_CHANNEL": ("notify.slack_channel", "#oncall", "#oncall"),
    "SLUICE_SLACK_WEBHOOK_URL": ("notify.slack_webhook_url", "https://hooks.test/x", "https://hooks.test/x"),
    "SLUICE_SLACK_WEBHOOK_SECRET_BLOCK": ("notify.slack_webhook_secret_block", "slack-hook", "slack-hook"),
    "SLUICE_SLACK_API_URL": ("notify.slack_api_url", "http://127.0.0.1:1/api/", "http://127.0.0.1:1/api/"),
    "SLUICE_RUNBOOK_BASE_URL": ("notify.runbook_base_url", "https://rb.test", "https://rb.test"),
    "SLUICE_NOTIFY_ATTEMPTS": ("notify.notify_attempts", "7", 7),
    "SLUICE_NOTIFY_BACKOFF_SECONDS": ("notify.notify_backoff_seconds", "0.25", 0.25),
    "SLUICE_NOTIFY_BACKOFF_MAX_SECONDS": ("notify.notify_backoff_max_seconds", "3", 3.0),
    "SLUICE_NOTIFY_MAX_WAIT_SECONDS": ("notify.notify_max_wait_seconds", "9", 9.0),
    "SLUICE_NOTIFY_RETRY_SECONDS": ("notify.notify_retry_seconds", "11", 11.0),
    "SLUICE_NOTIFY_RETRY_MAX_SECONDS": ("notify.notify_retry_max_seconds", "120", 120.0),
    "SLUICE_NOTIFY_TIMEOUT_SECONDS": ("notify.notify_timeout_seconds", "4", 4.0),
    "SLUICE_NOTIFY_ATTEMPT_TIMEOUT": ("notify.notify_attempt_timeout", "1.5", 1.5),
    "SLUICE_NOTIFY_ATTEMPT_BUDGET": ("notify.notify_attempt_budget", "2", 2.0),
    "SLUICE_NOTIFY_BACKGROUND": ("notify.notify_background", "false", False),
    "SLUICE_NOTIFY_BACKGROUND_SECONDS": ("notify.notify_background_seconds", "60", 60.0),
    "SLUICE_NOTIFY_POLL_SECONDS": ("notify.notify_poll_seconds", "0.5", 0.5),
    "SLUICE_NOTIFY_RUN_DIR": ("notify.notify_run_dir", "/run/sluice", Path("/run/sluice")),
    "SLUICE_METRICS_BACKEND": ("metrics.metrics_backend", "prometheus", "prometheus"),
    "SLUICE_PROMETHEUS_URL": ("metrics.prometheus_url", "http://prom:9090", "http://prom:9090"),
    "SLUICE_PROMETHEUS_TIMEOUT": ("metrics.prometheus_timeout", "3", 3.0),
    "SLUICE_METRICS_COMPACT_FILES": ("metrics.metrics_compact_files", "8", 8),
    "SLUICE_METRICS_SAMPLER": ("metrics.metrics_sampler", "false", False),
    "SLUICE_METRICS_SAMPLE_SECONDS": ("metrics.metrics_sample_seconds", "0.5", 0.5),
    "SLUICE_METRICS_SERVICE": ("metrics.metrics_service", "false", False),
    "SLUICE_METRICS_SERVICE_SECONDS": ("metrics.metrics_service_seconds", "2", 2.0),
    "SLUICE_INCIDENTS_URL": ("incidents.incidents_url", "postgresql+psycopg://u@h/inc", "postgresql+psycopg://u@h/inc"),
    "SLUICE_RUNBOOKS_DIR": ("runbooks.runbooks_dir", "/srv/runbooks", Path("/srv/runbooks")),
    "SLUICE_CRASH_HEARTBEAT_SECONDS": ("crash.heartbeat_seconds", "45", 45.0),
    "SLUICE_CRASH_MISSED_HEARTBEATS": ("crash.missed_heartbeats", "4", 4),
    "SLUICE_CRASH_GRACE_SECONDS": ("crash.grace_seconds", "0", 0.0),
    "SLUICE_CRASH_LOOKBACK_HOURS": ("crash.lookback_hours", "12", 12.0),
    "SLUICE_CRASH_MAX_RUNS": ("crash.max_runs", "50", 50),
    "SLUICE_CHAOS_ENVIRONMENTS": ("chaos.environments", '["dev"]', ["dev"]),
    "SLUICE_CHAOS_PAGE": ("chaos.page", "true", True),
    "SLUICE_CHAOS_PROBE_SECONDS": ("chaos.probe_seconds", "0.2", 0.2),
    "SLUICE_CHAOS_KAFKA_BROKER_PIDS": ("chaos.kafka_broker_pids", "[4242, 4243]", [4242, 4243]),
    "SLUICE_CLI_RAISE": ("cli.cli_raise", "1", True),
    "SLUICE_DATABASES": (
        "databases.databases",
        '{"shop": "postgresql://app@db/shop"}',
        {"shop": SecretStr("postgresql://app@db/shop")},
    ),
    "SLUICE_DB_LOOKBACK_SECONDS": ("databases.db_lookback_seconds", "30", 30.0),
    "SLUICE_DB_FETCH_ROWS": ("databases.db_fetch_rows", "1000", 1000),
    "SLUICE_DB_SNAPSHOT_PARTS": ("databases.db_snapshot_parts", "8", 8),
    "SLUICE_DB_SSH_KNOWN_HOSTS": ("databases.db_ssh_known_hosts", "/etc/ssh/known", "/etc/ssh/known"),
    "SLUICE_DB_SSH_TIMEOUT_SECONDS": ("databases.db_ssh_timeout_seconds", "4", 4.0),
    "SLUICE_CDC_DSN": ("databases.cdc_dsn", "postgresql://app@db/shop", "postgresql://app@db/shop"),
    "SLUICE_SCHEMA_REGISTRY_URL": ("registry.schema_registry_url", "http://sr:8081", "http://sr:8081"),
    "SLUICE_SCHEMA_REGISTRY_BASIC_AUTH": ("registry.schema_registry_basic_auth", "key:secret", "key:secret"),
    "SLUICE_SCHEMA_REGISTRY_CA_FILE": ("registry.schema_registry_ca_file", "/etc/ca.pem", Path("/etc/ca.pem")),
    "SLUICE_SCHEMA_REGISTRY_TIMEOUT_SECONDS": ("registry.schema_registry_timeout_seconds", "3", 3.0),
    "SLUICE_SCHEMA_REGISTRY_RETRIES": ("registry.schema_registry_retries", "0", 0),
    "SLUICE_SCHEMA_REGISTRY_RETRY_WAIT_SECONDS": ("registry.schema_registry_retry_wait_seconds", "1.5", 1.5),
    "SLUICE_KAFKA_BOOTSTRAP_SERVERS": ("streams.kafka_bootstrap_servers", "k1:9092,k2:9092", "k1:9092,k2:9092"),
    "SLUICE_KAFKA_OPTIONS": ("streams.kafka_options", '{"security.protocol": "SSL"}', '{"security.protocol": "SSL"}'),
    "SLUICE_REDIS_URL": ("streams.redis_url", "redis://:pw@r:6379/0", "redis://:pw@r:6379/0"),
    "SLUICE_RABBITMQ_URL": ("streams.rabbitmq_url", "amqp://u:pw@q:5672/%2F", "amqp://u:pw@q:5672/%2F"),
    "SLUICE_STREAM_LAG_TARGETS": (
        "streams.stream_lag_targets",
        '["redis:orders", "kafka:clicks@web"]',
        ["redis:orders", "kafka:clicks@web"],
    ),
    "SLUICE_APIS_DIR": ("apis.apis_dir", "/srv/apis", Path("/srv/apis")),
    "SLUICE_API_SECRETS": ("apis.api_secrets", '{"crm": "s3cret"}', {"crm": SecretStr("s3cret")}),
    "SLUICE_MANIFEST_SIGNING_KEY": ("manifests.signing_key", "/etc/sluice/sign.pem", Path("/etc/sluice/sign.pem")),
    "SLUICE_MANIFEST_SIGNING_KEY_BLOCK": ("manifests.signing_key_block", "manifest-key", "manifest-key"),
    "SLUICE_MANIFEST_SIGNING_KEY_PASSPHRASE": ("manifests.signing_key_passphrase", "pass", "pass"),
    "SLUICE_MANIFEST_PUBLIC_KEYS_DIR": ("manifests.public_keys_dir", "/etc/sluice/keys", Path("/etc/sluice/keys")),
    "SLUICE_MANIFEST_REQUIRE_SIGNING": ("manifests.require_signing", "true", True),
    "SLUICE_MAINTAIN_TARGET_FILE_MB": ("maintain.target_file_mb", "64", 64),
    "SLUICE_LINEAGE_TRANSPORT": ("lineage.transport", "http", "http"),
    "SLUICE_LINEAGE_URL": ("lineage.url", "http://marquez:5000", "http://marquez:5000"),
    "SLUICE_LINEAGE_ENDPOINT": ("lineage.endpoint", "api/v2/lineage", "api/v2/lineage"),
    "SLUICE_LINEAGE_API_KEY": ("lineage.api_key", "k3y", "k3y"),
    "SLUICE_LINEAGE_FILE": ("lineage.file", "/var/log/ol.jsonl", "/var/log/ol.jsonl"),
    "SLUICE_LINEAGE_NAMESPACE": ("lineage.namespace", "sluice-prod", "sluice-prod"),
    "SLUICE_LINEAGE_TIMEOUT_SECONDS": ("lineage.timeout_seconds", "2", 2.0),
    "SLUICE_LOG_FORMAT": ("telemetry.log_format", "json", "json"),
    "SLUICE_ACCESS_POLICIES_DIR": ("access.policies_dir", "/srv/policies", Path("/srv/policies")),
    "SLUICE_ACCESS_AUDIT_URI": ("access.audit_uri", "s3://lake/audit", "s3://lake/audit"),
    "SLUICE_ACCESS_OIDC_ISSUER": (
        "access.oidc_issuer",
        "https://idp.test/oauth2/default",
        "https://idp.test/oauth2/default",
    ),
    "SLUICE_ACCESS_OIDC_AUDIENCE": ("access.oidc_audience", "sluice", "sluice"),
    "SLUICE_ACCESS_OIDC_ALGORITHMS": ("access.oidc_algorithms", '["RS256", "ES256"]', ["RS256", "ES256"]),
    "SLUICE_ACCESS_OIDC_JWKS_URI": ("access.oidc_jwks_uri", "https://idp.test/keys", "https://idp.test/keys"),
    "SLUICE_ACCESS_OIDC_TRUSTED_ISSUERS": (
        "access.oidc_trusted_issuers",
        '[{"issuer": "https://idp.test/v2.0", "audience": "sluice"}]',
        [TrustedIssuer(issuer="https://idp.test/v2.0", audience="sluice")],
    ),
    "SLUICE_ACCESS_OIDC_LEEWAY_SECONDS": ("access.oidc_leeway_seconds", "5", 5.0),
    "SLUICE_ACCESS_SUBJECT_CLAIM": ("access.subject_claim", "oid", "oid"),
    "SLUICE_ACCESS_ROLES_CLAIMS": ("access.roles_claims", '["roles"]', ["roles"]),
    "SLUICE_ACCESS_DEPARTMENT_CLAIM": ("access.department_claim", "dept", "dept"),
    "SLUICE_ACCESS_REGION_CLAIM": ("access.region_claim", "geo", "geo"),
    "SLUICE_ACCESS_CLEARANCE_CLAIM": ("access.clearance_claim", "level", "level"),
    "SLUICE_QUARANTINE_RETENTION_DAYS": ("quarantine_retention_days", "30", 30),
    "SLUICE_PROTECT_TOKEN_KEYS_BLOCK": ("protect.token_keys_block", "token-keys", "token-keys"),
    "SLUICE_PROTECT_TOKEN_KEYS_FILE": ("protect.token_keys_file", "/etc/sluice/t.json", Path("/etc/sluice/t.json")),
    "SLUICE_PROTECT_KEK_PROVIDER": ("protect.kek_provider", "vault", "vault"),
    "SLUICE_PROTECT_KEK_BLOCK": ("protect.kek_block", "kek", "kek"),
    "SLUICE_PROTECT_KEK_FILE": ("protect.kek_file", "/etc/sluice/k.json", Path("/etc/sluice/k.json")),
    "SLUICE_PROTECT_VAULT_URL": ("protect.vault_url", "https://vault:8200", "https://vault:8200"),
    "SLUICE_PROTECT_VAULT_TOKEN": ("protect.vault_token", "s.token", "s.token"),
    "SLUICE_PROTECT_VAULT_TRANSIT_KEY": ("protect.vault_transit_key", "lake", "lake"),
    "SLUICE_PROTECT_VAULT_MOUNT": ("protect.vault_mount", "transit2", "transit2"),
    "SLUICE_COST_CURRENCY": ("cost.currency", "EUR", "EUR"),
    "SLUICE_COST_READ_PER_GB": ("cost.read_per_gb", '{"s3:eu-west-1": 0.02}', {"s3:eu-west-1": 0.02}),
    "SLUICE_COST_WRITTEN_PER_GB": ("cost.written_per_gb", "0.03", 0.03),
    "SLUICE_COST_CPU_HOUR": ("cost.cpu_hour", "0.04", 0.04),
    "SLUICE_COST_MEMORY_GB_HOUR": ("cost.memory_gb_hour", "0.006", 0.006),
}


@pytest.fixture(autouse=True)
def _no_outer_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.upper().startswith("SLUICE_"):
            monkeypatch.delenv(name)
    yield
    monkeypatch.undo()
    get_settings(fresh=True)


def _at(settings: Settings, path: str) -> object:
    value: object = settings
    for part in path.split("."):
        value = getattr(value, part)
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value.value if isinstance(value, enum.Enum) else value


@pytest.mark.parametrize("name", sorted(NAMES))
def test_every_variable_name_still_sets_its_field(monkeypatch, name: str) -> None:
    path, raw, expected = NAMES[name]
    assert _at(get_settings(fresh=True), path) != expected  # the default differs, so the variable made the change
    monkeypatch.setenv(name, raw)

    assert _at(get_settings(), path) == expected


def test_the_model_reads_no_variable_beyond_those_names() -> None:
    read = {var.name: ".".join(var.path) for var in variables(Settings)}
    assert read == {name: path for name, (path, _, _) in NAMES.items()}


def test_areas_are_sections_of_the_one_object(monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_PAGERDUTY_ROUTING_KEY", "R0UTING")
    monkeypatch.setenv("SLUICE_CHAOS_PAGE", "true")

    settings = get_settings(fresh=True)

    assert isinstance(settings.notify, NotifySettings) and isinstance(settings.chaos, ChaosSettings)
    assert settings.notify.channels() == ("pagerduty",) and settings.chaos.page
    assert "R0UTING" not in repr(settings) and "R0UTING" not in str(settings.model_dump())


def test_a_section_is_read_from_its_flat_names_only(monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_NOTIFY__NOTIFY_ATTEMPTS", "9")
    monkeypatch.setenv("SLUICE_NOTIFY", '{"notify_attempts": 9}')

    assert get_settings(fresh=True).notify.notify_attempts == 4
    assert {u.name for u in unknown_settings()} == {"SLUICE_NOTIFY__NOTIFY_ATTEMPTS", "SLUICE_NOTIFY"}


def test_arguments_override_the_environment_section_by_section(monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_NOTIFY_ATTEMPTS", "7")
    monkeypatch.setenv("SLUICE_SLACK_CHANNEL", "#oncall")

    settings = Settings(notify={"notify_attempts": 2})

    assert (settings.notify.notify_attempts, settings.notify.slack_channel) == (2, "#oncall")


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        (
            "SLUICE_ENV",
            "moon",
            "SLUICE_ENV='moon' is not valid: input should be 'dev', 'staging' or 'prod'; "
            "it takes one of dev, staging, prod",
        ),
        (
            "SLUICE_NOTIFY_ATTEMPTS",
            "0",
            "SLUICE_NOTIFY_ATTEMPTS='0' is not valid: input should be greater than or "
            "equal to 1; it takes int (≥ 1, ≤ 20)",
        ),
        ("SLUICE_CRASH_MAX_RUNS", "many", "SLUICE_CRASH_MAX_RUNS='many' is not valid: input should be a valid integer"),
        ("SLUICE_METRICS_BACKEND", "influx", "it takes one of embedded, prometheus"),
        (
            "SLUICE_CHAOS_ENVIRONMENTS",
            "dev,staging",
            "SLUICE_CHAOS_ENVIRONMENTS is not valid JSON; it takes JSON list of str",
        ),
        (
            "SLUICE_CHAOS_ENVIRONMENTS",
            "[1]",
            "SLUICE_CHAOS_ENVIRONMENTS is not valid (at 0): input should be a valid string",
        ),
        ("SLUICE_LAKE_STORAGE_OPTIONS", '{"region": 1}', "SLUICE_LAKE_STORAGE_OPTIONS is not valid (at region)"),
        ("SLUICE_STREAM_LAG_TARGETS", '["mqtt:orders"]', "SLUICE_STREAM_LAG_TARGETS is not valid"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_variable_and_what_it_takes(
    monkeypatch, name: str, raw: str, says: str
) -> None:
    monkeypatch.setenv(name, raw)

    with pytest.raises(ConfigError) as caught:
        get_settings()

    assert says in str(caught.value.args[0])
    assert name in caught.value.hint and "fix or unset" in caught.value.hint


def test_every_bad_variable_is_named_at_once_and_secrets_are_not_repeated(monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_DASK_WORKERS", "two")
    monkeypatch.setenv("SLUICE_CRASH_GRACE_SECONDS", "-1")
    monkeypatch.setenv("SLUICE_SLACK_WEBHOOK_URL", "https://hooks.test/T0/B0/SECRETPART")
    monkeypatch.setenv("SLUICE_SLACK_BOT_TOKEN", "xoxb-SECRETTOKEN")

    with pytest.raises(ConfigError) as caught:
        get_settings()

    message = str(caught.value)
    assert "SLUICE_DASK_WORKERS='two'" in message and "SLUICE_CRASH_GRACE_SECONDS='-1'" in message
    assert "SECRET" not in message


def test_an_unknown_variable_is_found_with_the_closest_known_name() -> None:
    found = unknown_settings(
        {
            "SLUICE_LAKE_URL": "/x",
            "SLUICE_NOTIFY_ATEMPTS": "3",
            "SLUICE_ZZZZZZ": "1",
            "SLUICE_HOME": "/h",
            "sluice_home": "/h",
            "HOME": "/root",
        }
    )

    assert [(u.name, u.closest) for u in found] == [
        ("SLUICE_LAKE_URL", "SLUICE_LAKE_URI"),
        ("SLUICE_NOTIFY_ATEMPTS", "SLUICE_NOTIFY_ATTEMPTS"),
        ("SLUICE_ZZZZZZ", None),
    ]


def test_the_process_environment_is_checked_by_default(monkeypatch) -> None:
    assert unknown_settings() == []
    monkeypatch.setenv("SLUICE_QUARANTINE_URL", "/q")

    assert [(u.name, u.closest) for u in unknown_settings()] == [("SLUICE_QUARANTINE_URL", "SLUICE_QUARANTINE_URI")]


def test_settings_are_read_once_again_when_a_variable_changes_and_on_fresh(monkeypatch, tmp_path: Path) -> None:
    first = get_settings(fresh=True)
    assert get_settings() is first

    monkeypatch.setenv("SLUICE_CHAOS_PROBE_SECONDS", "0.5")
    changed = get_settings()
    assert changed is not first and changed.chaos.probe_seconds == 0.5
    assert get_settings() is changed

    monkeypatch.chdir(tmp_path)  # the default home follows the working directory only when read afresh
    assert get_settings().home == changed.home
    again = get_settings(fresh=True)
    assert again is not changed and again.home == tmp_path / ".sluice"


def test_thread_workers_of_a_local_cluster_read_larger_chunks_than_worker_processes():
    assert Settings(dask_address=None).rows_per_chunk() == THREAD_CHUNK_ROWS
    assert Settings(dask_address=None, dask_processes=True).rows_per_chunk() == PROCESS_CHUNK_ROWS
    assert THREAD_CHUNK_ROWS > PROCESS_CHUNK_ROWS


def test_workers_of_an_existing_scheduler_read_process_sized_chunks():
    assert Settings(dask_address="tcp://10.0.0.5:8786").rows_per_chunk() == PROCESS_CHUNK_ROWS


def test_a_chunk_size_that_is_set_wins(monkeypatch):
    monkeypatch.setenv("SLUICE_CHUNK_ROWS", "1234")
    assert Settings(dask_address=None).rows_per_chunk() == 1234
    assert Settings(dask_address="tcp://10.0.0.5:8786").rows_per_chunk() == 1234


def test_a_chunk_size_below_one_row_is_refused():
    with pytest.raises(ValidationError, match="chunk_rows"):
        Settings(chunk_rows=0)


def test_staging_stale_hours_default_to_a_day_and_must_be_positive(monkeypatch):
    monkeypatch.delenv("SLUICE_STAGING_STALE_HOURS", raising=False)
    assert Settings().staging_stale_hours == 24
    monkeypatch.setenv("SLUICE_STAGING_STALE_HOURS", "0")
    with pytest.raises(ValidationError, match="staging_stale_hours"):
        Settings()
    with pytest.raises(ConfigError, match="SLUICE_STAGING_STALE_HOURS='0' is not valid"):
        get_settings()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("not json", "is not JSON"),
        ('["a"]', "must be a JSON object"),
        ('{"group.id": "x"}', "may not set 'group.id'"),
        ('{"sasl.password": {"nested": 1}}', "must be a string, number or boolean"),
    ],
)
def test_kafka_options_that_are_not_an_object_of_settable_scalars_are_refused_without_their_values(
    monkeypatch, raw: str, says: str
) -> None:
    monkeypatch.setenv("SLUICE_KAFKA_OPTIONS", raw)

    with pytest.raises(ConfigError) as caught:
        get_settings()

    assert says in str(caught.value) and "SLUICE_KAFKA_OPTIONS" in str(caught.value.hint)


def test_kafka_options_reach_the_consumer_config_with_the_runs_own_address_and_group(monkeypatch) -> None:
    from sluice.sources.streams.kafka import KafkaConfig

    monkeypatch.setenv("SLUICE_KAFKA_OPTIONS", '{"security.protocol": "SASL_SSL", "sasl.password": "pw-1"}')
    options = get_settings().streams.kafka_client_options()
    config = KafkaConfig("b:9092", "orders", "sluice", options).consumer_config()

    assert config["security.protocol"] == "SASL_SSL" and config["sasl.password"] == "pw-1"
    assert config["bootstrap.servers"] == "b:9092" and config["group.id"] == "sluice"
    assert config["enable.auto.commit"] is False
    assert "pw-1" not in repr(get_settings().streams)
