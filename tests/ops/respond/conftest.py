"""The incident stores of ``tests/ops/incidents`` (SQLite and PostgreSQL) and the local PagerDuty and Slack."""

from tests.ops.channels import pagerduty, slack, tls_ca  # noqa: F401  (local PagerDuty and Slack)
from tests.ops.incidents.conftest import incident_engine, postgres_incident_engine  # noqa: F401
