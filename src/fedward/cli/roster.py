"""`fedward roster create|revoke|show`: the administrator's signed list of a federation's site keys.

All three work on one key folder (`--dir`), the one `[trust] keys` names in a federation file: `admin.key`
signs, `admin.pub` verifies, `coordinator.pub` and one `SITE.pub` per site are listed, and `roster.json` is
the signed roster (`fedward.trust.roster`, Ed25519 per RFC 8032). A roster is verified before it is
changed or shown, and written atomically, so a failed command leaves the old roster as it was.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from fedward.cli.keys import read_public_key, read_signing_key
from fedward.cli.progress import results
from fedward.crypto import SigningKey, key_id
from fedward.errors import UserError
from fedward.trust import (
    Roster,
    RosterError,
    SiteEntry,
    format_utc,
    parse_utc,
    read_roster,
    revoke,
    sign_roster,
)
from fedward.trust import write_roster as write_signed_roster

__all__ = ["app", "create", "describe_roster", "revoke_site", "show"]

ROSTER_FILE = "roster.json"
_KEYS_HINT = "make it with: fedward keys new NAME --dir DIR"

app = typer.Typer(help="Create, revoke from and show the signed site roster.", no_args_is_help=True)

_DIR = typer.Option(
    ..., "--dir", help="key folder: admin.key, admin.pub, coordinator.pub, SITE.pub, roster.json"
)


def _now() -> str:
    return format_utc(datetime.now(UTC).replace(microsecond=0))


def _admin_key(directory: Path) -> SigningKey:
    """admin.key, checked against admin.pub when that exists (the simulation verifies with admin.pub)."""
    key = read_signing_key(
        directory / "admin.key", "administrator key", hint=_KEYS_HINT.replace("NAME", "admin")
    )
    public_path = directory / "admin.pub"
    if public_path.exists() and read_public_key(public_path, "administrator public key") != key.public:
        raise UserError(
            "admin.pub is not the public half of admin.key",
            where=public_path,
            hint="restore the matching pair",
        )
    return key


def _admin_public(directory: Path) -> bytes:
    """admin.pub, or the public half of admin.key when only the private key is at hand."""
    public_path = directory / "admin.pub"
    if public_path.exists() or not (directory / "admin.key").exists():
        return read_public_key(public_path, "administrator public key", hint="copy admin.pub into --dir")
    return read_signing_key(directory / "admin.key", "administrator key").public


def _site_entries(directory: Path, sites: list[str]) -> dict[str, SiteEntry]:
    repeated = sorted({s for s in sites if sites.count(s) > 1})
    if repeated:
        raise UserError(f"site {repeated[0]!r} is named more than once", where="fedward roster create")
    return {
        site: SiteEntry(read_public_key(directory / f"{site}.pub", f"public key of site {site!r}",
                                        hint=_KEYS_HINT.replace("NAME", site)))
        for site in sites
    }  # fmt: skip


def _write(path: Path, roster: Roster, admin: SigningKey) -> None:
    write_signed_roster(path, sign_roster(roster, admin))


@app.command("create")
def create(
    sites: list[str] = typer.Argument(..., help="the sites to admit; DIR/SITE.pub must exist for each"),
    directory: Path = _DIR,
    federation: str = typer.Option(
        "fedward", "--federation", help="federation name: the config's [federation] name (default fedward)"
    ),
    force: bool = typer.Option(False, "--force", help="replace an existing roster.json"),
) -> None:
    """Sign a new roster (version 1) admitting SITEs under their keys, with the coordinator's key."""
    path = directory / ROSTER_FILE
    if path.exists() and not force:
        hint = "revoke sites with `fedward roster revoke`, or pass --force to start a new roster"
        raise UserError("roster already exists", where=path, hint=hint)
    admin = _admin_key(directory)
    coordinator = read_public_key(
        directory / "coordinator.pub",
        "coordinator public key",
        hint=_KEYS_HINT.replace("NAME", "coordinator"),
    )
    entries = _site_entries(directory, sites)
    roster = Roster(federation, 1, _now(), coordinator, entries)
    _write(path, roster, admin)
    results.print(
        f"wrote {path}: federation {federation!r}, version 1, {len(entries)} sites, "
        f"signed by administrator key {key_id(admin.public)}",
        highlight=False,
        markup=False,
    )


@app.command("revoke")
def revoke_site(
    site: str = typer.Argument(..., help="the site to revoke"),
    directory: Path = _DIR,
    from_round: int = typer.Option(..., "--from-round", min=1, help="refuse its updates from this round on"),
) -> None:
    """Re-sign the roster (version + 1) so SITE's updates are refused from round N on."""
    path = directory / ROSTER_FILE
    admin = _admin_key(directory)
    roster = read_roster(path, _admin_public(directory))
    try:
        updated = revoke(roster, site, from_round, issued=_now())
    except RosterError as exc:
        raise RosterError(
            str(exc), where=path, hint="see the sites with: fedward roster show --dir DIR"
        ) from None
    _write(path, updated, admin)
    effective = updated.sites[site].revoked_from_round
    note = "" if effective == from_round else f" (already revoked from the earlier round {effective})"
    results.print(
        f"wrote {path}: site {site!r} revoked from round {effective}{note}, roster version {updated.version}",
        highlight=False,
        markup=False,
    )


def _status(entry: SiteEntry, now: str) -> str:
    if entry.revoked_from_round is not None:
        return f"revoked from round {entry.revoked_from_round}"
    if entry.not_after is not None:
        expired = parse_utc(now) > parse_utc(entry.not_after)
        return f"expired at {entry.not_after}" if expired else f"active until {entry.not_after}"
    return "active"


def describe_roster(roster: Roster, now: str) -> list[str]:
    """Readable lines: the header, then one row per site (name, key id, first round, status)."""
    width = max([len("site"), *(len(name) for name in roster.sites)])
    lines = [
        f"roster of federation {roster.federation!r}, version {roster.version}, issued {roster.issued}",
        f"coordinator key {key_id(roster.coordinator_public_key)}",
        f"{'site':<{width}}  {'key id':<16}  {'admitted':<10}  status",
    ]
    for name, entry in roster.sites.items():
        admitted = f"round {entry.admitted_round}"
        lines.append(f"{name:<{width}}  {key_id(entry.public_key)}  {admitted:<10}  {_status(entry, now)}")
    return lines


@app.command("show")
def show(directory: Path = _DIR) -> None:
    """Verify DIR/roster.json with the administrator's key and print it."""
    admin_public = _admin_public(directory)
    roster = read_roster(directory / ROSTER_FILE, admin_public)
    for line in describe_roster(roster, _now()):
        results.print(line, highlight=False, markup=False)
    results.print(f"signature verified with administrator key {key_id(admin_public)}", highlight=False)
