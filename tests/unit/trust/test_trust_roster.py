"""The admission roster: standing per round and time, signing, tampering, revocation, and the file."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from trust_harness import ADMIN, COORDINATOR, INTRUDER, SITES, make_roster

from fedward.core.canonical import canonical_bytes
from fedward.errors import UserError
from fedward.trust import (
    Roster,
    RosterError,
    SignedRoster,
    SiteEntry,
    SiteStatus,
    admit,
    read_roster,
    revoke,
    sign_roster,
    verify_roster,
    write_roster,
)

NOW = "2025-03-01T12:00:00Z"


def test_status_covers_every_standing() -> None:
    roster = make_roster(
        late=SiteEntry(INTRUDER.public, admitted_round=5),
        old=SiteEntry(INTRUDER.public, not_after="2025-02-28T23:59:59Z"),
        gone=SiteEntry(INTRUDER.public, revoked_from_round=3, not_after="2020-01-01T00:00:00Z"),
    )
    ok: str = roster.status("st-anne", 1, NOW)
    assert ok == "ok" and ok is SiteStatus.OK  # a str enum: the plain string compares equal
    assert roster.status("nobody", 1, NOW) is SiteStatus.UNKNOWN
    assert roster.status("late", 4, NOW) is SiteStatus.UNKNOWN
    assert roster.status("late", 5, NOW) is SiteStatus.OK
    assert roster.status("old", 1, "2025-02-28T23:59:59Z") is SiteStatus.OK  # not_after is inclusive
    assert roster.status("old", 1, "2025-03-01T00:00:00+00:00") is SiteStatus.EXPIRED
    assert roster.status("gone", 3, NOW) is SiteStatus.REVOKED  # revocation wins over expiry
    assert roster.status("gone", 2, NOW) is SiteStatus.EXPIRED


def test_public_key_stays_available_after_revocation_for_audit() -> None:
    roster = revoke(make_roster(), "st-anne", 3)
    assert roster.public_key("st-anne") == SITES["st-anne"].public
    assert roster.status("st-anne", 2, NOW) is SiteStatus.OK
    assert roster.status("st-anne", 3, NOW) is SiteStatus.REVOKED
    with pytest.raises(RosterError, match="nobody"):
        roster.public_key("nobody")


def test_sign_verify_and_file_form_round_trip() -> None:
    roster = make_roster()
    signed = sign_roster(roster, ADMIN)
    assert verify_roster(signed, ADMIN.public) == roster
    again = SignedRoster.from_bytes(signed.to_bytes())
    assert again == signed
    assert verify_roster(again, ADMIN.public) == roster
    doc = json.loads(signed.to_bytes())
    assert set(doc) == {"roster", "signature"}
    assert doc["roster"]["coordinator"] == {"public_key": COORDINATOR.public.hex()}
    assert doc["roster"]["sites"]["st-anne"] == {
        "public_key": SITES["st-anne"].public.hex(),
        "admitted_round": 1,
        "not_after": None,
        "revoked_from_round": None,
    }


def _tampered_versions(signed: SignedRoster) -> dict[str, bytes]:
    doc = json.loads(signed.roster_bytes)
    out = {}
    changes: dict[str, Callable[[dict[str, Any]], object]] = {
        "intruder admitted": lambda d: d["sites"].update(
            {
                "evil": {
                    "public_key": INTRUDER.public.hex(),
                    "admitted_round": 1,
                    "not_after": None,
                    "revoked_from_round": None,
                }
            }
        ),
        "key swapped": lambda d: d["sites"]["st-anne"].update(public_key=INTRUDER.public.hex()),
        "revocation lifted": lambda d: d["sites"]["riverside"].update(revoked_from_round=None),
        "coordinator swapped": lambda d: d["coordinator"].update(public_key=INTRUDER.public.hex()),
        "version rolled": lambda d: d.update(version=d["version"] + 7),
    }
    for label, change in changes.items():
        copy = json.loads(json.dumps(doc))
        change(copy)
        out[label] = canonical_bytes(copy)
    return out


def test_tampered_roster_is_rejected_and_accepted_without_verification() -> None:
    signed = sign_roster(revoke(make_roster(), "riverside", 2), ADMIN)
    for label, tampered in _tampered_versions(signed).items():
        with pytest.raises(RosterError, match="signature does not verify"):
            verify_roster(SignedRoster(tampered, signed.signature), ADMIN.public)
        # power check: parsed without verification, the tampered roster would be believed
        assert Roster.from_bytes(tampered) != Roster.from_bytes(signed.roster_bytes), label
    believed = Roster.from_bytes(_tampered_versions(signed)["intruder admitted"])
    assert believed.status("evil", 1, NOW) is SiteStatus.OK


def test_roster_signed_by_another_key_is_rejected() -> None:
    signed = sign_roster(make_roster(), INTRUDER)
    with pytest.raises(RosterError):
        verify_roster(signed, ADMIN.public)
    with pytest.raises(RosterError):
        verify_roster(SignedRoster(signed.roster_bytes, b""), ADMIN.public)


def test_revoke_bumps_the_version_and_never_shrinks() -> None:
    roster = make_roster()
    first = revoke(roster, "st-anne", 4, issued="2025-03-02T00:00:00Z")
    assert (first.version, first.issued) == (2, "2025-03-02T00:00:00Z")
    assert first.sites["st-anne"].revoked_from_round == 4
    assert roster.sites["st-anne"].revoked_from_round is None  # the old version is unchanged
    assert revoke(first, "st-anne", 9).sites["st-anne"].revoked_from_round == 4
    assert revoke(first, "st-anne", 2).sites["st-anne"].revoked_from_round == 2
    with pytest.raises(RosterError, match="nobody"):
        revoke(roster, "nobody", 1)
    with pytest.raises(RosterError):
        revoke(roster, "st-anne", 0)


def test_admit_adds_a_site_once() -> None:
    roster = admit(make_roster(), "lakeside", INTRUDER.public, admitted_round=3)
    assert roster.version == 2 and roster.status("lakeside", 3, NOW) is SiteStatus.OK
    with pytest.raises(RosterError, match="already"):
        admit(roster, "lakeside", INTRUDER.public)


def test_roster_is_immutable() -> None:
    roster = make_roster()
    with pytest.raises(TypeError):
        roster.sites["evil"] = SiteEntry(INTRUDER.public)  # type: ignore[index]


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(extra=1),
        lambda d: d.pop("issued"),
        lambda d: d.update(version=True),
        lambda d: d.update(version=0),
        lambda d: d.update(issued="2025-01-01T00:00:00"),  # naive time
        lambda d: d.update(issued="yesterday"),
        lambda d: d["sites"]["st-anne"].update(public_key=SITES["st-anne"].public.hex().upper()),
        lambda d: d["sites"]["st-anne"].update(public_key="00" * 31),
        lambda d: d["sites"]["st-anne"].update(admitted_round="1"),
        lambda d: d["sites"]["st-anne"].update(revoked_from_round=0),
        lambda d: d["sites"]["st-anne"].pop("not_after"),
        lambda d: d["sites"].update({"bad name!": d["sites"]["st-anne"]}),
        lambda d: d["coordinator"].update(extra="x"),
        lambda d: d.update(sites=[]),
    ],
)
def test_malformed_roster_is_rejected(change: object) -> None:
    doc = make_roster().to_dict()
    change(doc)  # type: ignore[operator]
    with pytest.raises(RosterError):
        Roster.from_bytes(canonical_bytes(doc))
    # and signing does not launder it
    with pytest.raises(RosterError):
        verify_roster(SignedRoster(canonical_bytes(doc), ADMIN.sign(b"x")), ADMIN.public)


def test_non_canonical_roster_file_is_rejected() -> None:
    signed = sign_roster(make_roster(), ADMIN)
    spaced = json.dumps(json.loads(signed.to_bytes()), indent=1).encode()
    with pytest.raises(RosterError, match="canonical"):
        SignedRoster.from_bytes(spaced)
    dup = signed.to_bytes()[:-1] + b',"signature":"' + b"00" * 64 + b'"}'
    with pytest.raises(RosterError, match="duplicate"):
        SignedRoster.from_bytes(dup)


def test_roster_file_round_trip_is_public_and_atomic(tmp_path: Path) -> None:
    path = tmp_path / "roster.json"
    write_roster(path, sign_roster(make_roster(), ADMIN))
    assert read_roster(path, ADMIN.public) == make_roster()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644  # public: only private keys are 0600
    newer = revoke(make_roster(), "st-anne", 2)
    write_roster(path, sign_roster(newer, ADMIN))  # replacing a roster is the normal update
    assert read_roster(path, ADMIN.public) == newer
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roster.json"]  # no temporary file left


def test_roster_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "roster.json"
    with pytest.raises(RosterError) as missing:
        read_roster(path, ADMIN.public)
    assert isinstance(missing.value, UserError) and missing.value.where == str(path)
    signed = sign_roster(make_roster(), ADMIN)
    path.write_bytes(signed.to_bytes().replace(b'"version":1', b'"version":2'))
    with pytest.raises(RosterError) as tampered:
        read_roster(path, ADMIN.public)
    assert str(path) in tampered.value.render() and "hint" in tampered.value.render()
    with pytest.raises(RosterError):
        write_roster(tmp_path / "missing-dir" / "roster.json", signed)
