"""S3 access options from a prefect-aws ``AwsCredentials`` block."""

from __future__ import annotations

from typing import Any


def fsspec_options(credentials: Any) -> dict[str, Any]:
    """s3fs options from an ``AwsCredentials`` block (keys, region, endpoint)."""
    opts: dict[str, Any] = {}
    if credentials.aws_access_key_id:
        opts["key"] = credentials.aws_access_key_id
    if credentials.aws_secret_access_key:
        opts["secret"] = credentials.aws_secret_access_key.get_secret_value()
    if getattr(credentials, "aws_session_token", None):
        opts["token"] = credentials.aws_session_token
    client_kwargs: dict[str, Any] = {}
    if credentials.region_name:
        client_kwargs["region_name"] = credentials.region_name
    params = credentials.aws_client_parameters
    if params is not None and params.endpoint_url:
        opts["endpoint_url"] = params.endpoint_url
    if client_kwargs:
        opts["client_kwargs"] = client_kwargs
    return opts


def delta_options(fs_options: dict[str, Any]) -> dict[str, str]:
    """The same access as delta-rs storage options, for a lake on S3."""
    out: dict[str, str] = {}
    if "key" in fs_options:
        out["AWS_ACCESS_KEY_ID"] = fs_options["key"]
    if "secret" in fs_options:
        out["AWS_SECRET_ACCESS_KEY"] = fs_options["secret"]
    if "token" in fs_options:
        out["AWS_SESSION_TOKEN"] = fs_options["token"]
    endpoint = fs_options.get("endpoint_url")
    if endpoint:
        out["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            out["AWS_ALLOW_HTTP"] = "true"
    region = fs_options.get("client_kwargs", {}).get("region_name")
    out["AWS_REGION"] = region or "us-east-1"
    out["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
    return out
