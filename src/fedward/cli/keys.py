"""`fedward keys new NAME`: make an Ed25519 identity (RFC 8032), and read key files for the other commands.

An identity is `DIR/NAME.key` (private, PKCS#8 PEM, mode 0600) and `DIR/NAME.pub` (public, PEM); neither
is ever overwritten (`fedward.trust.new_identity`). The readers here turn a missing or malformed key file
into a `UserError` that names the file, so every trust command reports key problems the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

from fedward.cli.progress import results
from fedward.crypto import SignatureError, SigningKey, key_id, load_public_key, load_signing_key
from fedward.errors import UserError
from fedward.trust import new_identity

__all__ = ["app", "new", "read_public_key", "read_signing_key"]

T = TypeVar("T")

app = typer.Typer(help="Make the Ed25519 identities of a federation.", no_args_is_help=True)


def _read_key(path: Path, what: str, load: Callable[[Path], T], kind: str, hint: str | None) -> T:
    try:
        return load(path)
    except FileNotFoundError:
        raise UserError(f"{what} not found", where=path, hint=hint) from None
    except OSError as exc:
        raise UserError(f"cannot read the {what}: {exc.strerror}", where=path) from None
    except SignatureError:
        raise UserError(f"the {what} is not {kind} (PEM)", where=path) from None


def read_public_key(path: Path, what: str, *, hint: str | None = None) -> bytes:
    """The raw 32-byte Ed25519 public key in PEM file `path`; `what` names it in errors ("admin key")."""
    return _read_key(path, what, load_public_key, "an Ed25519 public key", hint)


def read_signing_key(path: Path, what: str, *, hint: str | None = None) -> SigningKey:
    """The Ed25519 private key in PEM file `path`; `what` names it in errors."""
    return _read_key(path, what, load_signing_key, "an unencrypted Ed25519 private key", hint)


def _make_directory(directory: Path) -> Path | None:
    """Create `directory` (0700: it will hold private keys) if missing; returns the topmost folder this
    call created, so a failure can remove exactly that, or None when the folder existed."""
    if directory.is_dir():
        return None
    top = directory
    while not top.parent.exists():
        top = top.parent
    try:
        directory.mkdir(mode=0o700, parents=True)
    except OSError as exc:
        raise UserError(f"cannot create the key folder: {exc.strerror}", where=directory) from None
    return top


def _remove_created(directory: Path, top: Path) -> None:
    for folder in (directory, *directory.parents):
        folder.rmdir()
        if folder == top:
            return


@app.command("new")
def new(
    name: str = typer.Argument(..., help="identity name: admin, coordinator, or a site name"),
    directory: Path = typer.Option(Path("."), "--dir", help="folder to write NAME.key and NAME.pub to"),
) -> None:
    """Create DIR/NAME.key (private, 0600) and DIR/NAME.pub; never overwrites a key."""
    created = _make_directory(directory)
    try:
        private_path, public_path = new_identity(name, directory)
    except UserError:
        if created is not None:
            _remove_created(directory, created)
        raise
    public = load_public_key(public_path)
    results.print(
        f"wrote {private_path} (private, keep it secret) and {public_path}; key id {key_id(public)}",
        highlight=False,
        markup=False,
    )
