"""The gateway's identity proof (edge_auth.identity_headers): made once per caller rather than an HMAC per request,
yet always the proof trust.identity_proof makes with this process's launch secret."""
from __future__ import annotations

from microcosm import trust
from microcosm.services.gateway.edge_auth import identity_headers


def test_the_identity_proof_is_made_once_per_caller_and_anew_with_another_secret(monkeypatch):
    claims = {"sub": "ada", "scope": "orders:read", "client_id": "shop"}
    proofs = []
    for secret in ("secret-one-0123456789", "secret-two-0123456789", "secret-one-0123456789"):
        monkeypatch.setenv(trust.ENV, secret)
        sent = identity_headers(claims, {}, "127.0.0.1", "http", "gw")
        assert sent[trust.PROOF_HEADER] == trust.identity_proof("ada", "orders:read", "shop")
        proofs.append(sent[trust.PROOF_HEADER])
    assert proofs[0] != proofs[1] and proofs[0] == proofs[2]
    monkeypatch.delenv(trust.ENV)
    assert trust.PROOF_HEADER not in identity_headers(claims, {}, "127.0.0.1", "http", "gw")
