"""The site state machine: stage order, the key directory checks, and refusal that sticks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
from secagg_harness import Drops, Session, advance_to, make_params, new_session

from fedward.secagg import AdvertiseKeys, KeyDirectory, ProtocolError, SecAggSite, ShareInbox, SiteStage

SESSION = hashlib.sha256(b"site tests").digest()


def _directory() -> tuple[Session, str, KeyDirectory]:
    """9 sites, degree 4, threshold 3; the key directory that opens round 1 for site-00."""
    session = new_session(make_params(9, degree=4, session=SESSION))
    messages = advance_to(session, 1)
    return session, "site-00", KeyDirectory.from_bytes(messages["site-00"])


def _refuses(site: SecAggSite, message: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        site.receive(message)
    assert site.stage is SiteStage.REFUSED and site.refusal is not None
    with pytest.raises(ProtocolError, match="refused this session earlier"):
        site.receive(message)


def test_constructor_checks_site_and_vector() -> None:
    params = make_params(3, length=4)
    with pytest.raises(ValueError, match="not one of"):
        SecAggSite(params, "site-99", np.zeros(4, np.uint32))
    with pytest.raises(ValueError, match="uint32 of shape"):
        SecAggSite(params, "site-00", np.zeros(4, np.uint64))
    with pytest.raises(ValueError, match="uint32 of shape"):
        SecAggSite(params, "site-00", np.zeros(5, np.uint32))


def test_start_twice_and_receive_before_start_are_refused() -> None:
    session, name, directory = _directory()
    with pytest.raises(ProtocolError, match="already started"):
        session.sites[name].start()
    fresh = SecAggSite(session.params, name, session.vectors[name])
    _refuses(fresh, directory.to_bytes(), "out of stage order")


def _other_keys(directory: KeyDirectory) -> tuple[str, str]:
    names = sorted(directory.encryption_keys)
    return names[0], names[1]


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        (lambda d, s: replace(d, session=bytes(32)), "another session"),
        (lambda d, s: replace(d, receiver="site-01"), "addressed to"),
        (lambda d, s: _add(d, "site-00", s), "lists this site itself"),
        (lambda d, s: _add(d, "mallory", s), "not a site of this session"),
        (lambda d, s: _add(d, _stranger(s), s), "not a neighbour"),
        (lambda d, s: _keep(d, _other_keys(d)[:1]), "fewer than the threshold"),
        (lambda d, s: _copy_key(d), "repeats a public key"),
    ],
)
def test_bad_key_directory_is_refused(
    forge: Callable[[KeyDirectory, Session], KeyDirectory], reason: str
) -> None:
    session, name, directory = _directory()
    _refuses(session.sites[name], forge(directory, session).to_bytes(), reason)


def _add(directory: KeyDirectory, extra: str, session: Session) -> KeyDirectory:
    fresh = bytes(range(1, 33)), bytes(range(2, 34))
    return replace(
        directory,
        encryption_keys={**directory.encryption_keys, extra: fresh[0]},
        masking_keys={**directory.masking_keys, extra: fresh[1]},
    )


def _stranger(session: Session) -> str:
    mine = session.params.neighbours_of("site-00")
    return next(s for s in session.params.sites if s != "site-00" and s not in mine)


def _keep(directory: KeyDirectory, names: tuple[str, ...]) -> KeyDirectory:
    return replace(
        directory,
        encryption_keys={n: directory.encryption_keys[n] for n in names},
        masking_keys={n: directory.masking_keys[n] for n in names},
    )


def _copy_key(directory: KeyDirectory) -> KeyDirectory:
    first, second = _other_keys(directory)
    return replace(directory, masking_keys={**directory.masking_keys, second: directory.masking_keys[first]})


def test_own_public_key_echoed_back_is_refused() -> None:
    session = new_session(make_params(9, degree=4, session=SESSION))
    adverts = {name: AdvertiseKeys.from_bytes(site.start()) for name, site in session.sites.items()}
    for name, advert in adverts.items():
        session.coordinator.receive(name, advert.to_bytes())
    directory = KeyDirectory.from_bytes(session.coordinator.advance()["site-00"])
    first, _ = _other_keys(directory)
    echoed = replace(
        directory, encryption_keys={**directory.encryption_keys, first: adverts["site-00"].masking_key}
    )
    _refuses(session.sites["site-00"], echoed.to_bytes(), "repeats a public key")


def test_duplicate_json_key_in_the_directory_is_refused() -> None:
    session, name, directory = _directory()
    raw = directory.to_bytes().decode()
    first, _ = _other_keys(directory)
    marker = f'"encryption_keys":{{"{first}":'
    start = raw.index(marker) + len('"encryption_keys":{')
    end = raw.index(",", start)
    doubled = raw[:end] + "," + raw[start:end] + raw[end:]
    _refuses(session.sites[name], doubled.encode(), "repeats a key")


def test_wrong_message_type_at_each_stage_is_refused() -> None:
    session, name, directory = _directory()
    inbox = ShareInbox(session.params.session, name, {})
    _refuses(session.sites[name], inbox.to_bytes(), "expected a secagg/keys message")
    session, name, directory = _directory()
    session.sites[name].receive(directory.to_bytes())
    _refuses(session.sites[name], directory.to_bytes(), "expected a secagg/inbox message")
    session, name, _ = _directory()
    _refuses(session.sites[name], b"FWSAMI\x00\x01" + bytes(40), "not valid JSON")


def test_thin_inbox_is_refused() -> None:
    session = new_session(make_params(9, degree=4, session=SESSION))
    inboxes = advance_to(session, 2)
    inbox = ShareInbox.from_bytes(inboxes["site-00"])
    first = sorted(inbox.ciphertexts)[0]
    thin = replace(inbox, ciphertexts={first: inbox.ciphertexts[first]})
    _refuses(session.sites["site-00"], thin.to_bytes(), "fewer than the threshold")


def test_shares_from_a_neighbour_without_keys_are_refused() -> None:
    params = make_params(9, degree=4, session=SESSION)
    silent = params.neighbours_of("site-00")[0]
    session = new_session(params)
    inboxes = advance_to(session, 2, Drops(before_advertise=frozenset({silent})))
    inbox = ShareInbox.from_bytes(inboxes["site-00"])
    forged = replace(inbox, ciphertexts={**inbox.ciphertexts, silent: bytes(200)})
    _refuses(session.sites["site-00"], forged.to_bytes(), "advertised no keys")


def test_a_valid_run_reaches_done() -> None:
    session = new_session(make_params(4))
    outgoing = advance_to(session, 3)
    session.deliver(outgoing)
    assert {site.stage for site in session.sites.values()} == {SiteStage.DONE}
    assert session.coordinator.advance() == {}
