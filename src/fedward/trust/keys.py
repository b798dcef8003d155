"""Identities on disk: an Ed25519 key pair (RFC 8032) per site, coordinator or administrator.

`new_identity` writes `NAME.key` (the private key, PKCS#8 PEM, created with mode 0600) and `NAME.pub`
(the public key, SubjectPublicKeyInfo PEM) and never overwrites either: replacing a key by accident
would lock a site out of its federation, or let an old key linger in a roster. Errors are `UserError`s
that name the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from fedward.crypto import SigningKey, public_key_pem
from fedward.errors import UserError
from fedward.trust.formats import check_name

__all__ = ["new_identity"]


def new_identity(name: str, directory: Path, *, key: SigningKey | None = None) -> tuple[Path, Path]:
    """Create `directory/NAME.key` (0600) and `directory/NAME.pub`; returns their paths.

    `key` defaults to a freshly generated one (pass one only in tests). Refuses an invalid name and any
    existing file; on a failure nothing is left behind that was not there before.
    """
    try:
        check_name(name, "identity name")
    except ValueError as exc:
        raise UserError(
            str(exc), hint="use letters, digits, '_', '.' or '-', starting with a letter or digit"
        ) from None
    directory = Path(directory)
    private_path, public_path = directory / f"{name}.key", directory / f"{name}.pub"
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise UserError("already exists; refusing to overwrite a key", where=path,
                            hint="choose another name, or move the old key away first")  # fmt: skip
    signing_key = key or SigningKey.generate()
    _write_exclusive(private_path, signing_key.private_pem(), 0o600)
    try:
        _write_exclusive(public_path, public_key_pem(signing_key.public), 0o644)
    except UserError:
        private_path.unlink(missing_ok=True)
        raise
    return private_path, public_path


def _write_exclusive(path: Path, data: bytes, mode: int) -> None:
    """Create `path` with `mode` (never widened afterwards) and write `data`; fails if it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    except FileExistsError:
        raise UserError("already exists; refusing to overwrite a key", where=path) from None
    except OSError as exc:
        raise UserError(f"cannot create the key file: {exc.strerror}", where=path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(path, mode)  # the umask may have narrowed the public key's mode; never widens the private
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise UserError(f"cannot write the key file: {exc.strerror}", where=path) from None
