"""A site refuses every unsafe unmask request, and that refusal is what protects its neighbours' inputs.

Bonawitz et al. (CCS 2017, section 4, round 4): an honest user releases, for each other user, either the
share of its self-mask seed b_u (u is alive) or of its masking key s_u (u dropped), never both, and only
if at least t users are alive. If both kinds leak for one u, the coordinator unmasks u's input alone.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import replace

import numpy as np
import pytest
from secagg_harness import Drops, Session, advance_to, make_params, new_session

from fedward.crypto import SecretSharingError, Share, combine
from fedward.secagg import (
    AdvertiseKeys,
    MaskedInput,
    ProtocolError,
    SiteStage,
    UnmaskReply,
    UnmaskRequest,
)
from fedward.secagg.masking import add_streams, adds_pairwise_mask, pairwise_seed

SESSION = hashlib.sha256(b"unmask refusals").digest()


def _setup() -> tuple[Session, str, UnmaskRequest, list[str]]:
    """9 sites, degree 4, t = 3; the target's neighbour 0 drops before upload, neighbour 1 before shares."""
    params = make_params(9, degree=4, session=SESSION)
    target = params.sites[0]
    peers = list(params.neighbours_of(target))
    session = new_session(params)
    requests = advance_to(
        session, 3, Drops(before_shares=frozenset({peers[1]}), before_upload=frozenset({peers[0]}))
    )
    request = UnmaskRequest.from_bytes(requests[target])
    assert request.alive == tuple(sorted({target, peers[2], peers[3]}))
    assert request.dropped == (peers[0],)
    return session, target, request, peers


def test_the_honest_request_is_answered_with_one_kind_of_share_per_site() -> None:
    session, target, request, peers = _setup()
    reply = UnmaskReply.from_bytes(session.sites[target].receive(request.to_bytes()))
    assert set(reply.self_mask_shares) == set(request.alive)
    assert set(reply.key_shares) == {peers[0]}
    assert session.sites[target].stage is SiteStage.DONE


def _forged(request: UnmaskRequest, peers: list[str], rule: str) -> UnmaskRequest:
    me, alive, dropped = request.receiver, set(request.alive), set(request.dropped)
    other = next(s for s in sorted(request.alive) if s != me)
    non_neighbour = next(s for s in (f"site-{i:02d}" for i in range(9)) if s != me and s not in peers)
    forged = {
        "lists itself as dropped": (alive - {me}, dropped | {me}),
        "unknown site": (alive | {"mallory"}, dropped),
        "not a neighbour": (alive, dropped | {non_neighbour}),
        "both alive and dropped": (alive, dropped | {other}),
        "fewer than t alive": (alive - {other}, dropped | {other}),
        "never received shares": (alive, dropped | {peers[1]}),
        "omits itself": (alive - {me}, dropped),
    }[rule]
    return replace(request, alive=tuple(sorted(forged[0])), dropped=tuple(sorted(forged[1])))


REASONS = {
    "lists itself as dropped": "lists this site as dropped",
    "unknown site": "not a site of this session",
    "not a neighbour": "not a neighbour",
    "both alive and dropped": "both alive and dropped",
    "fewer than t alive": "fewer than the threshold",
    "never received shares": "never received",
    "omits itself": "does not list this site as alive",
}


@pytest.mark.parametrize("rule", sorted(REASONS))
def test_malformed_unmask_request_is_refused_and_stays_refused(rule: str) -> None:
    session, target, request, peers = _setup()
    site = session.sites[target]
    with pytest.raises(ProtocolError, match=REASONS[rule]):
        site.receive(_forged(request, peers, rule).to_bytes())
    assert site.stage is SiteStage.REFUSED
    with pytest.raises(ProtocolError, match="refused this session earlier"):
        site.receive(request.to_bytes())


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"session": bytes(32)}, "another session"), ({"receiver": "site-08"}, "addressed to")],
)
def test_request_for_another_session_or_site_is_refused(change: dict[str, object], reason: str) -> None:
    session, target, request, _ = _setup()
    with pytest.raises(ProtocolError, match=reason):
        session.sites[target].receive(replace(request, **change).to_bytes())  # type: ignore[arg-type]


def test_unsorted_or_duplicated_lists_are_refused() -> None:
    session, target, request, _ = _setup()
    raw = replace(request, alive=tuple(reversed(request.alive))).to_bytes()
    with pytest.raises(ProtocolError, match="sorted without duplicates"):
        session.sites[target].receive(raw)


def test_a_second_unmask_request_is_refused() -> None:
    session, target, request, peers = _setup()
    session.sites[target].receive(request.to_bytes())
    second = replace(
        request, alive=tuple(sorted(set(request.alive) - {peers[2]})), dropped=(peers[0], peers[2])
    )
    with pytest.raises(ProtocolError, match="out of stage order"):
        session.sites[target].receive(second.to_bytes())


def _attack(release_both: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """A coordinator asks every holder of u's shares for b_u and, in a second request, for s_u.

    With `release_both`, each holder answers the second request from a copy taken before the first:
    the refusal is switched off. Returns (what the coordinator recovers, u's true input, number of
    s_u shares obtained); without t shares of s_u only the self mask can be removed.
    """
    params = make_params(5, length=1000, session=SESSION)
    session = new_session(params)
    u = params.sites[0]
    adverts = {name: AdvertiseKeys.from_bytes(site.start()) for name, site in session.sites.items()}
    for name, advert in adverts.items():
        session.coordinator.receive(name, advert.to_bytes())
    session.deliver(session.coordinator.advance())
    masked = {
        name: session.sites[name].receive(message) for name, message in session.coordinator.advance().items()
    }
    seed_shares: list[Share] = []
    key_shares: list[Share] = []
    for v in params.sites[1:]:
        holder = session.sites[v]
        clone = copy.copy(holder)
        first = UnmaskRequest(params.session, v, params.sites, ())
        reply = UnmaskReply.from_bytes(holder.receive(first.to_bytes()))
        seed_shares.append(Share.from_y_bytes(params.share_x(u, v), reply.self_mask_shares[u]))
        second = UnmaskRequest(params.session, v, tuple(s for s in params.sites if s != u), (u,))
        try:
            reply = UnmaskReply.from_bytes((clone if release_both else holder).receive(second.to_bytes()))
        except ProtocolError:
            continue
        key_shares.append(Share.from_y_bytes(params.share_x(u, v), reply.key_shares[u]))
    recovered = np.array(MaskedInput.from_bytes(masked[u]).vector, copy=True)
    plus: list[bytes] = []
    minus = [combine(seed_shares, params.threshold)]
    if len(key_shares) >= params.threshold:
        masking_key = combine(key_shares, params.threshold)
        for v in params.neighbours_of(u):
            seed = pairwise_seed(masking_key, adverts[v].masking_key, session=params.session, me=u, peer=v)
            (minus if adds_pairwise_mask(u, v) else plus).append(seed)
    add_streams(recovered, plus, minus)
    return recovered, session.vectors[u], len(key_shares)


def test_power_check_releasing_both_shares_reveals_one_site_input_exactly() -> None:
    recovered, truth, key_shares = _attack(release_both=True)
    assert key_shares == 4
    np.testing.assert_array_equal(recovered, truth)


def test_refusing_the_second_request_leaves_the_input_masked() -> None:
    recovered, truth, key_shares = _attack(release_both=False)
    assert key_shares == 0
    assert np.mean(recovered == truth) < 0.01  # the pairwise masks still cover x_u


def test_split_view_attack_cannot_reach_the_threshold_for_both_secrets() -> None:
    """Tell u and 2 holders 'u alive', the other 2 'u dropped': with t a majority, s_u is out of reach."""
    params = make_params(5, session=SESSION)
    assert params.threshold == 3
    session = new_session(params)
    requests = advance_to(session, 3)
    u = params.sites[0]
    seed_shares, key_shares = [], []
    for v in params.sites:
        told_dropped = v in params.sites[3:]
        request = UnmaskRequest.from_bytes(requests[v])
        if told_dropped:
            request = replace(request, alive=tuple(s for s in params.sites if s != u), dropped=(u,))
        reply = UnmaskReply.from_bytes(session.sites[v].receive(request.to_bytes()))
        shares = reply.key_shares if told_dropped else reply.self_mask_shares
        share = Share.from_y_bytes(params.share_x(u, v), shares[u])
        (key_shares if told_dropped else seed_shares).append(share)
    assert len(combine(seed_shares, params.threshold)) == 32
    with pytest.raises(SecretSharingError, match="need 3 shares to reconstruct, got 2"):
        combine(key_shares, params.threshold)
