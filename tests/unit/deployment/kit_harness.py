"""Shared builders for the startup-kit tests: a small federation file and its provisioned kits, and
readers of what a folder holds (every file's bytes, a file's permission bits)."""

import stat
from datetime import UTC, datetime
from pathlib import Path

from fedward.config import load_config
from fedward.deployment import provision

__all__ = ["NOW", "SITES", "listing", "mode", "provisioned", "write_federation"]

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SITES = ["st-olav", "haukeland"]


def write_federation(folder: Path, deployment: str | None = None, sites: list[str] = SITES) -> Path:
    """A small tabular federation file; provisioning never reads the site data, so none is written."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "policy.json").write_text("{}")
    if deployment is None:
        deployment = '[deployment]\ncoordinator = "https://127.0.0.1:8443"\ncertificate_days = 30\n'
    text = '[federation]\ntask = "tabular"\nname = "oncology"\n\n[model]\nname = "logistic"\n\n' + deployment
    for i, name in enumerate(sites):
        policy = 'policy = "policy.json"\n' if i == 0 else ""
        text += (
            f'\n[[sites]]\nname = "{name}"\ntrain = "data/{name}-train.csv"\ntest = "data/{name}-test.csv"\n'
        )
        text += policy
    path = folder / "federation.toml"
    path.write_text(text)
    return path


def provisioned(tmp_path: Path, now: datetime = NOW, **kwargs) -> Path:
    """Kits of `write_federation(tmp_path / "fed", **kwargs)` in `tmp_path / "kits"`."""
    config = write_federation(tmp_path / "fed", **kwargs)
    out = tmp_path / "kits"
    provision(load_config(config), config, out, now)
    return out


def listing(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
