"""A stream over TLS: the server's certificate checked against the description's CA file and server name."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sluice.errors import SourceUnreachableError
from tests.grpcserver import FeedServer, event_id
from tests.sluice.sources.grpc.grpcfixtures import harness, lake_rows


def _self_signed(name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem_key, cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pair() -> tuple[bytes, bytes]:
    return _self_signed("feed.sluice.test")


def _tls(tmp_path: Path, cert: bytes, name: str) -> dict[str, object]:
    (tmp_path / "ca.pem").write_bytes(cert)
    return {"enabled": True, "ca_file": str(tmp_path / "ca.pem"), "server_name": name}


def test_a_stream_over_tls_with_the_servers_ca_lands_every_message_once(tmp_path, pair) -> None:
    with FeedServer(events=15, tls=pair) as server:
        done = harness(tmp_path, server.target, tls=_tls(tmp_path, pair[1], "feed.sluice.test")).sync()

    assert done.records == 15
    assert Counter(str(r["event_id"]) for r in lake_rows(tmp_path)) == Counter({event_id(i): 1 for i in range(15)})


def test_a_certificate_for_another_name_is_refused_and_nothing_lands(tmp_path, pair) -> None:
    with FeedServer(events=5, tls=pair) as server:
        h = harness(
            tmp_path,
            server.target,
            tls=_tls(tmp_path, pair[1], "other.sluice.test"),
            retries={"max_retries": 1, "backoff_s": 0.01, "idle_s": 5},
        )
        with pytest.raises(SourceUnreachableError, match="UNAVAILABLE"):
            h.sync()

        assert server.state.sent == 0
