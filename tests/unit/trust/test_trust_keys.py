"""Identity files: the private key is 0600, nothing is ever overwritten, names are checked."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fedward.crypto import SigningKey, load_public_key, load_signing_key, verify
from fedward.errors import UserError
from fedward.trust import new_identity


def test_new_identity_writes_a_usable_key_pair(tmp_path: Path) -> None:
    private_path, public_path = new_identity("st-anne", tmp_path)
    assert (private_path, public_path) == (tmp_path / "st-anne.key", tmp_path / "st-anne.pub")
    assert stat.S_IMODE(os.stat(private_path).st_mode) == 0o600
    assert public_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    key = load_signing_key(private_path)
    assert load_public_key(public_path) == key.public
    verify(load_public_key(public_path), b"hello", key.sign(b"hello"))


def test_private_key_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        private_path, public_path = new_identity("open-umask", tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(private_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(public_path).st_mode) == 0o644


def test_existing_files_are_never_overwritten(tmp_path: Path) -> None:
    private_path, public_path = new_identity("st-anne", tmp_path)
    before = (private_path.read_bytes(), public_path.read_bytes())
    with pytest.raises(UserError) as info:
        new_identity("st-anne", tmp_path)
    assert info.value.where == str(private_path) and "overwrite" in str(info.value)
    assert (private_path.read_bytes(), public_path.read_bytes()) == before
    (tmp_path / "riverside.pub").write_bytes(b"someone else's key")
    with pytest.raises(UserError) as only_public:
        new_identity("riverside", tmp_path)
    assert only_public.value.where == str(tmp_path / "riverside.pub")
    assert not (tmp_path / "riverside.key").exists()  # nothing left behind


def test_the_crypto_writer_never_overwrites_a_public_key(tmp_path: Path) -> None:
    """Regression: SigningKey.write used to replace an existing public key file."""
    (tmp_path / "riverside.pub").write_bytes(b"someone else's key")
    with pytest.raises(FileExistsError):
        SigningKey.generate().write(tmp_path / "riverside.key", tmp_path / "riverside.pub")
    assert (tmp_path / "riverside.pub").read_bytes() == b"someone else's key"
    assert not (tmp_path / "riverside.key").exists()


@pytest.mark.parametrize("name", ["", "-lead", "../escape", "a/b", "sp ace", "é", "x" * 65, "ok\n"])
def test_invalid_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UserError):
        new_identity(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_fixed_key_and_missing_directory(tmp_path: Path) -> None:
    key = SigningKey.from_seed(bytes(32))
    private_path, _ = new_identity("coordinator", tmp_path, key=key)
    assert load_signing_key(private_path).public == key.public
    with pytest.raises(UserError) as info:
        new_identity("admin", tmp_path / "absent")
    assert info.value.where == str(tmp_path / "absent" / "admin.key")
