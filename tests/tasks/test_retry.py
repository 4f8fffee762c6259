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
