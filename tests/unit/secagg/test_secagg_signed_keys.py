"""Signed key advertisements: with the sites' identity keys (from the admitted roster), a site accepts a
neighbour's SecAgg keys only when that neighbour signed them, so a coordinator cannot substitute its own
keys and learn pairwise secrets. Power check: without identities the substitution goes through."""

from __future__ import annotations

import pytest
from secagg_harness import make_params, random_vectors

from fedward.crypto import KeyPair, SigningKey
from fedward.secagg import KeyDirectory, ProtocolError, SecAggCoordinator, SecAggSite


def _sites(params, *, signed: bool):
    identities = {name: SigningKey.generate() for name in params.sites}
    peers = {name: key.public for name, key in identities.items()}
    vectors = random_vectors(params, seed=3)
    return vectors, {
        name: SecAggSite(
            params,
            name,
            vectors[name],
            identity=identities[name] if signed else None,
            peer_keys=peers if signed else None,
        )
        for name in params.sites
    }


def _run(params, sites):
    coordinator = SecAggCoordinator(params)
    for name, site in sites.items():
        coordinator.receive(name, site.start())
    for _ in range(3):
        for name, message in coordinator.advance().items():
            coordinator.receive(name, sites[name].receive(message))
    assert coordinator.advance() == {}
    return coordinator.result()


def test_signed_sessions_sum_exactly():
    params = make_params(5, length=11)
    vectors, sites = _sites(params, signed=True)
    expected = sum(vectors.values())
    assert (_run(params, sites) == expected).all()


def _substituted(directory: bytes, victim: str) -> bytes:
    """The coordinator replaces `victim`'s masking key with one it holds the private half of."""
    parsed = KeyDirectory.from_bytes(directory)
    masking = dict(parsed.masking_keys)
    masking[victim] = KeyPair.generate().public
    return KeyDirectory(
        parsed.session, parsed.receiver, parsed.encryption_keys, masking, parsed.signatures
    ).to_bytes()


@pytest.mark.parametrize("signed", [True, False])
def test_a_substituted_key_is_refused_only_when_keys_are_signed(signed):
    params = make_params(4, length=5)
    _, sites = _sites(params, signed=signed)
    coordinator = SecAggCoordinator(params)
    for name, site in sites.items():
        coordinator.receive(name, site.start())
    directories = coordinator.advance()
    forged = _substituted(directories["site-00"], victim="site-01")
    if signed:
        with pytest.raises(ProtocolError, match="not signed by 'site-01'"):
            sites["site-00"].receive(forged)
    else:  # power check: an unsigned session takes the coordinator's key as site-01's
        assert sites["site-00"].receive(forged)


def test_a_missing_or_foreign_signature_is_refused():
    params = make_params(3, length=5)
    _, sites = _sites(params, signed=True)
    coordinator = SecAggCoordinator(params)
    for name, site in sites.items():
        coordinator.receive(name, site.start())
    parsed = KeyDirectory.from_bytes(coordinator.advance()["site-00"])
    unsigned = KeyDirectory(parsed.session, parsed.receiver, parsed.encryption_keys, parsed.masking_keys, {})
    with pytest.raises(ProtocolError, match="not signed"):
        sites["site-00"].receive(unsigned.to_bytes())
