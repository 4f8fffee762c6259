"""Connection URLs: TLS parameters go to the driver, SSH bastion parameters to the tunnel, Secrets hold either."""

from __future__ import annotations

import ssl

import pytest

from sluice.errors import ConfigError
from sluice.sources.database import Bastion, from_secret, parse_url
from sluice.sources.database_tls import DatabaseTlsError, tls_error


def test_tls_parameters_reach_libpq_and_bastion_parameters_do_not():
    url = parse_url(
        "postgresql://app:pw@db.internal:5432/shop?sslmode=verify-full&sslrootcert=system"
        "&ssh_host=bastion.example&ssh_user=tunnel&ssh_port=2200&ssh_key=/keys/id_ed25519"
    )
    assert url.bastion == Bastion("tunnel", "bastion.example", 2200, "/keys/id_ed25519")
    assert url.bastion.shown() == "ssh://tunnel@bastion.example:2200"
    libpq = url.libpq()
    assert "sslmode=verify-full" in libpq and "sslrootcert=system" in libpq and "ssh" not in libpq


def test_a_tunneled_url_connects_to_the_forward_but_verifies_and_shows_the_database_host():
    from dataclasses import replace

    url = replace(parse_url("postgresql://app@db.internal:5432/shop"), connect_host="127.0.0.1", connect_port=41000)
    assert "@db.internal:41000/shop" in url.libpq() and "hostaddr=127.0.0.1" in url.libpq()
    assert url.shown() == "postgresql://app@db.internal:5432/shop"


@pytest.mark.parametrize(
    "query", ["ssh_host=bastion", "ssh_user=tunnel", "ssh_key=/k", "ssh_host=b&ssh_user=u&ssh_port=none"]
)
def test_an_incomplete_bastion_is_refused(query):
    with pytest.raises(ConfigError, match="SSH bastion of the URL is incomplete"):
        parse_url(f"postgresql://app@db:5432/shop?{query}")


def test_an_unknown_sslmode_is_refused():
    with pytest.raises(ConfigError, match="sslmode 'verify_full' is not one of"):
        parse_url("postgresql://app@db:5432/shop?sslmode=verify_full")


def test_mariadb_tls_context_follows_the_libpq_names(tmp_path):
    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    full = parse_url(f"mysql://root@db:3306/shop?sslmode=verify-full&sslrootcert={tmp_path / 'ca.pem'}").mariadb_tls()
    assert full is not None and full.check_hostname and full.verify_mode is ssl.CERT_REQUIRED
    verify_ca = parse_url(f"mysql://root@db:3306/shop?sslmode=verify-ca&sslrootcert={tmp_path / 'ca.pem'}")
    ctx = verify_ca.mariadb_tls()
    assert ctx is not None and not ctx.check_hostname and ctx.verify_mode is ssl.CERT_REQUIRED
    assert parse_url("mysql://root@db:3306/shop").mariadb_tls() is None
    with pytest.raises(DatabaseTlsError, match=r"sslrootcert /nope\.pem is not a file"):
        parse_url("mysql://root@db:3306/shop?sslmode=verify-ca&sslrootcert=/nope.pem").mariadb_tls()


def test_a_secret_holds_a_url_or_a_url_with_an_ssh_key():
    assert from_secret("postgresql://app:pw@db:5432/shop").password == "pw"
    url = from_secret({"url": "postgresql://app@db:5432/shop?ssh_host=b&ssh_user=u", "ssh_private_key": "KEY"})
    assert url.bastion is not None and url.bastion.key_text == "KEY" and "KEY" not in repr(url)
    with pytest.raises(ConfigError, match="names no bastion"):
        from_secret({"url": "postgresql://app@db:5432/shop", "ssh_private_key": "KEY"})
    with pytest.raises(ConfigError, match="neither a connection URL"):
        from_secret({"uri": "postgresql://app@db:5432/shop"})


def test_a_driver_error_about_something_else_is_no_tls_error():
    assert tls_error(OSError("connection refused"), "db") is None
    assert isinstance(tls_error(OSError("SSL error: certificate verify failed"), "db"), DatabaseTlsError)
