"""`fedward provision FEDERATION.toml --out KITS` and `fedward revoke KITS SITE`: a deployment's startup kits.

`provision` writes the administrator's `_authority/` and one kit per participant
(`fedward.deployment.provisioning`); `revoke` takes a site out of the federation at the TLS handshake
(the certificate revocation list) and in the signed roster (`fedward.deployment.revocation`). Both read
the clock here, at the edge, and pass the time in.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from fedward.cli.progress import results

if TYPE_CHECKING:  # the deployment's heavier modules load inside the commands
    from fedward.deployment import ProvisionResult

__all__ = ["provision_command", "provision_table", "revoke_command"]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def provision_table(result: ProvisionResult) -> Table:
    """One row per folder written: whose it is and the private keys it holds (short: terminals are narrow)."""
    from fedward.deployment.kits import AUTHORITY, COORDINATOR

    roles = {AUTHORITY: "administrator (keep it)", COORDINATOR: "coordinator"}
    table = Table(title=f"startup kits of federation {result.federation!r} in {result.out}")
    for column in ("folder", "for", "private keys"):
        table.add_column(column, justify="left")
    for folder, files in result.folders.items():
        keys = ", ".join(name for name in files if name.endswith(".key"))
        table.add_row(folder, roles.get(folder, "site"), keys)
    return table


def provision_command(
    config: Path = typer.Argument(
        ..., help="the federation file (as for `fedward simulate`), with [deployment]"
    ),
    out: Path = typer.Option(..., "--out", help="folder to write the kits to (missing or empty)"),
    force: bool = typer.Option(
        False,
        "--force",
        help="replace a non-empty --out folder (its certificate authority and keys are lost)",
    ),
) -> None:
    """Make a certificate authority, keys and a signed roster, and write one startup kit per participant."""
    from fedward.config import load_config
    from fedward.deployment import AUTHORITY, COORDINATOR, provision

    cfg = load_config(config)
    result = provision(cfg, config, out, _now(), force=force)
    results.print(provision_table(result))
    for line in (
        f"sites connect to {result.coordinator}; certificates valid until "
        f"{result.not_after:%Y-%m-%d %H:%M} UTC; CA certificate SHA-256 {result.ca_sha256}",
        f"keep {out / AUTHORITY} with you: it signs revocations; never copy it to a service machine",
        f"next: copy {out / COORDINATOR} and each site's folder to its machine (keep the 0600 modes), "
        "then run `fedward coordinator serve KIT` and `fedward site run KIT`",
    ):
        results.print(line, highlight=False, markup=False)


def revoke_command(
    kits: Path = typer.Argument(..., help="the kits folder `fedward provision` wrote (with _authority/)"),
    site: str = typer.Argument(..., help="the site to revoke"),
    from_round: int = typer.Option(
        1, "--from-round", min=1, help="refuse its updates from this round on (default 1: all of them)"
    ),
) -> None:
    """Revoke SITE: its certificate goes on the CRL and the re-signed roster refuses its updates."""
    from fedward.deployment import AUTHORITY, COORDINATOR, revoke_site

    result = revoke_site(kits, site, from_round, _now())
    results.print(
        f"revoked site {site!r}: certificate {result.serial} is on CRL number {result.crl_number}; "
        f"roster version {result.roster_version} refuses its updates from round {result.from_round}",
        highlight=False,
        markup=False,
    )
    for path in result.written:
        results.print(f"wrote {path}", highlight=False, markup=False)
    updated = any(path.parent.name == COORDINATOR for path in result.written)
    results.print(
        ("the coordinator reads them from its kit: if it runs from a copy elsewhere, " if updated
         else f"no {kits / COORDINATOR} here: ")
        + f"copy crl.pem and roster.json from {kits / AUTHORITY} into the coordinator's kit",
        highlight=False,
        markup=False,
    )  # fmt: skip
