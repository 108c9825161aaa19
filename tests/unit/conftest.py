"""Fixtures the unit tests share: RSA keys to sign and verify tokens with (made once per module)."""
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from microcosm.services.identity import thumbprint


def new_key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private, thumbprint(private.public_key())


@pytest.fixture(scope="module")
def key():
    """(private key, its kid)."""
    return new_key()


@pytest.fixture(scope="module")
def other_key():
    """A second key, unknown to whoever trusts `key`."""
    return new_key()
