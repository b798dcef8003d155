"""The coordinator state machine: what it accepts, when it aborts, and what it reports."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pytest
from secagg_harness import Drops, Session, advance_to, make_params, new_session, run_session

from fedward.secagg import (
    AbortError,
    AdvertiseKeys,
    CoordinatorStage,
    EncryptedShares,
    MaskedInput,
    ProtocolError,
    SecAggError,
    UnmaskReply,
)
from fedward.secagg.graph import _rank

SESSION = hashlib.sha256(b"coordinator tests").digest()


def _started(n: int = 5) -> tuple[Session, dict[str, bytes]]:
    session = new_session(make_params(n, session=SESSION))
    return session, {name: site.start() for name, site in session.sites.items()}


def test_advertise_stage_checks() -> None:
    session, adverts = _started()
    coordinator = session.coordinator
    with pytest.raises(ProtocolError, match="not a site of this session"):
        coordinator.receive("mallory", adverts["site-00"])
    with pytest.raises(ProtocolError, match="claims to come from 'site-01'"):
        coordinator.receive("site-00", adverts["site-01"])
    forged = replace(AdvertiseKeys.from_bytes(adverts["site-00"]), session=bytes(32))
    with pytest.raises(ProtocolError, match="another session"):
        coordinator.receive("site-00", forged.to_bytes())
    coordinator.receive("site-00", adverts["site-00"])
    with pytest.raises(ProtocolError, match="already replied"):
        coordinator.receive("site-00", adverts["site-00"])
    copied = replace(AdvertiseKeys.from_bytes(adverts["site-00"]), sender="site-01")
    with pytest.raises(ProtocolError, match="already in use"):
        coordinator.receive("site-01", copied.to_bytes())
    with pytest.raises(ProtocolError, match="expected a secagg/advertise"):
        coordinator.receive("site-02", EncryptedShares(SESSION, "site-02", {}).to_bytes())
    assert coordinator.awaiting == ("site-01", "site-02", "site-03", "site-04")


def test_late_and_misaddressed_shares_are_refused() -> None:
    session = new_session(make_params(5, session=SESSION))
    directories = advance_to(session, 1, Drops(before_advertise=frozenset({"site-04"})))
    coordinator = session.coordinator
    assert coordinator.stage is CoordinatorStage.SHARES and set(directories) == set(session.params.sites[:4])
    with pytest.raises(ProtocolError, match="not taking part"):
        coordinator.receive("site-04", EncryptedShares(SESSION, "site-04", {}).to_bytes())
    reply = EncryptedShares.from_bytes(session.sites["site-00"].receive(directories["site-00"]))
    short = replace(reply, ciphertexts={k: v for k, v in reply.ciphertexts.items() if k != "site-01"})
    with pytest.raises(ProtocolError, match="exactly the neighbours"):
        coordinator.receive("site-00", short.to_bytes())
    coordinator.receive("site-00", reply.to_bytes())


def test_masked_input_of_the_wrong_shape_is_refused() -> None:
    session = new_session(make_params(4, length=7, session=SESSION))
    inboxes = advance_to(session, 2)
    masked = MaskedInput.from_bytes(session.sites["site-00"].receive(inboxes["site-00"]))
    for vector in (masked.vector[:6], masked.vector.astype(np.uint64)):
        with pytest.raises(ProtocolError, match="is not 7 x uint32"):
            session.coordinator.receive("site-00", replace(masked, vector=vector).to_bytes())
    session.coordinator.receive("site-00", masked.to_bytes())
    with pytest.raises(ProtocolError, match="already replied"):
        session.coordinator.receive("site-00", masked.to_bytes())


def _replies(drops: Drops) -> tuple[Session, dict[str, UnmaskReply]]:
    session = new_session(make_params(5, session=SESSION))
    requests = advance_to(session, 3, drops)
    replies = {}
    for name, message in requests.items():
        if name not in drops.after_upload:
            replies[name] = UnmaskReply.from_bytes(session.sites[name].receive(message))
    return session, replies


def test_an_unmask_reply_must_answer_its_request() -> None:
    session, replies = _replies(Drops(before_upload=frozenset({"site-04"})))
    reply = replies["site-00"]
    wrong = replace(
        reply, self_mask_shares={**reply.self_mask_shares, "site-04": reply.key_shares["site-04"]}
    )
    with pytest.raises(ProtocolError, match="both kinds of share"):
        session.coordinator.receive("site-00", wrong.to_bytes())
    missing = replace(reply, key_shares={})
    with pytest.raises(ProtocolError, match="does not answer its request"):
        session.coordinator.receive("site-00", missing.to_bytes())


def _corrupt(reply: UnmaskReply, owner: str, *, key: bool) -> UnmaskReply:
    shares = dict(reply.key_shares if key else reply.self_mask_shares)
    shares[owner] = (int.from_bytes(shares[owner], "big") ^ 1).to_bytes(66, "big")
    return replace(reply, key_shares=shares) if key else replace(reply, self_mask_shares=shares)


@pytest.mark.parametrize(
    ("silent", "reason"),
    [(frozenset(), "inconsistent"), (frozenset({"site-03"}), "does not match its public key")],
)
def test_a_corrupt_key_share_aborts_instead_of_releasing_a_wrong_sum(
    silent: frozenset[str], reason: str
) -> None:
    session, replies = _replies(Drops(before_upload=frozenset({"site-04"}), after_upload=silent))
    replies["site-00"] = _corrupt(replies["site-00"], "site-04", key=True)
    for name, reply in replies.items():
        session.coordinator.receive(name, reply.to_bytes())
    with pytest.raises(AbortError, match=reason):
        session.coordinator.advance()
    for call in (session.coordinator.advance, session.coordinator.result):
        with pytest.raises(AbortError, match="aborted"):
            call()
    with pytest.raises(AbortError):
        session.coordinator.receive("site-00", replies["site-00"].to_bytes())
    assert session.coordinator.stage is CoordinatorStage.ABORTED


def test_a_corrupt_self_mask_share_among_more_than_t_aborts() -> None:
    session, replies = _replies(Drops())
    replies["site-01"] = _corrupt(replies["site-01"], "site-02", key=False)
    for name, reply in replies.items():
        session.coordinator.receive(name, reply.to_bytes())
    with pytest.raises(AbortError, match="self-mask seed of 'site-02'"):
        session.coordinator.advance()


def test_reporting_and_lifecycle() -> None:
    params = make_params(7, session=SESSION)
    session = new_session(params)
    coordinator = session.coordinator
    with pytest.raises(SecAggError, match="not ready"):
        coordinator.result()
    assert coordinator.survivors == () and coordinator.recovered == ()
    drops = Drops(
        before_advertise=frozenset({"site-06"}),
        before_upload=frozenset({"site-05"}),
        after_upload=frozenset({"site-04"}),
    )
    session = run_session(params, drops)
    coordinator = session.coordinator
    assert coordinator.stage is CoordinatorStage.DONE
    assert coordinator.survivors == ("site-00", "site-01", "site-02", "site-03", "site-04")
    assert coordinator.dropped_before_upload == ("site-05",)
    assert coordinator.dropped_after_upload == ("site-04",)
    assert coordinator.recovered == ("site-04", "site-05")
    np.testing.assert_array_equal(coordinator.result(), session.exact_sum(coordinator.survivors))
    with pytest.raises(ProtocolError, match="finished"):
        coordinator.advance()
    with pytest.raises(ProtocolError, match="no reply is expected"):
        coordinator.receive("site-00", b"{}")


@pytest.mark.parametrize("stage", range(4))
def test_abort_is_final_at_every_stage(stage: int) -> None:
    params = make_params(4, session=SESSION)
    silent = frozenset(params.sites[:2])
    drops = Drops(**{("before_advertise", "before_shares", "before_upload", "after_upload")[stage]: silent})
    with pytest.raises(AbortError, match="fewer than the threshold 3"):
        run_session(params, drops)


def test_abort_comes_as_soon_as_a_dropped_key_has_too_few_live_holders() -> None:
    """Drop w and the three ring successors it links to: only 3 < t = 4 holders of s_w remain."""
    params = make_params(20, degree=6, session=SESSION)
    ring = sorted(params.sites, key=lambda site: _rank(params.session, site))
    silent = frozenset(ring[:4])
    session = new_session(params)
    inboxes = advance_to(session, 2)
    session.deliver(inboxes, silent)
    with pytest.raises(AbortError, match=r"masking key of .* has 3 live shareholders, fewer than 4"):
        session.coordinator.advance()
    assert session.coordinator.stage is CoordinatorStage.ABORTED
