"""Reading ``Retry-After`` and deciding when to try again."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ops.notify.retry import SendError, http_error, parse_retry_after

NOW = datetime(2026, 3, 5, 10, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 0.5 ", 0.5),
        ("-3", 0.0),
        ("Thu, 05 Mar 2026 10:01:30 GMT", 90.0),
        ("Thu, 05 Mar 2026 09:00:00 GMT", 0.0),
        ("10000000", 86_400.0),
        ("inf", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date_capped_at_a_day(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(429, False), (500, False), (503, False), (408, False), (400, True), (401, True), (403, True), (404, True)],
)
def test_only_throttling_timeouts_and_server_errors_are_worth_retrying(status: int, permanent: bool) -> None:
    error = http_error("PagerDuty", status, "2")

    assert isinstance(error, SendError) and error.permanent is permanent and error.retry_now is not permanent
    assert error.retry_after == 2.0 and error.message == f"PagerDuty answered HTTP {status}"
