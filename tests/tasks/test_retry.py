"""Only transient failures are retried; Sluice's own errors fail fast."""

from __future__ import annotations

from sluice.errors import UnreadableFileError
from tasks.retry import is_transient


class ClientError(Exception):
    pass


def test_connection_problems_and_s3_throttling_are_transient():
    assert is_transient(ConnectionResetError("Connection reset by peer"))
    assert is_transient(TimeoutError())
    assert is_transient(ClientError("An error occurred (SlowDown) when calling the GetObject operation"))
    assert is_transient(ClientError("503 Service Unavailable"))


def test_permanent_errors_are_not_retried():
    assert not is_transient(UnreadableFileError("x.csv.gz: gzip stream is truncated"))
    assert not is_transient(FileNotFoundError("no such file"))
    assert not is_transient(ValueError("bad value"))
    assert not is_transient(None)


def test_an_unreachable_endpoint_is_transient_whether_raised_by_botocore_or_by_sluice():
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

    from sluice.errors import SourceUnreachableError

    assert is_transient(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert is_transient(ReadTimeoutError(endpoint_url="http://127.0.0.1:1"))
    assert is_transient(SourceUnreachableError("cannot reach source s3://drop/orders"))
    assert is_transient(OSError(113, "No route to host"))


def test_a_full_disk_or_a_denied_permission_is_not_retried():
    assert not is_transient(OSError(28, "No space left on device"))
    assert not is_transient(PermissionError(13, "Permission denied"))
