"""The local PagerDuty and Slack of ``tests/ops/channels.py``, for the flows that page."""

from tests.ops.channels import pagerduty, slack, tls_ca  # noqa: F401
