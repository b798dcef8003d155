"""Shared builders for the end-to-end tests: a small breast-cancer federation written to disk, and the
CLI run in-process returning its exit code."""

from pathlib import Path

from fedward.cli.app import main
from fedward.tabular.datasets import dirichlet_split, load_dataset, write_site_csvs

__all__ = ["run_cli", "tabular_federation"]


def tabular_federation(
    tmp: Path,
    *,
    rounds: int = 3,
    extra: str = "",
    sites: int = 3,
    model: str = "logistic",
    strategy: str = "fedavg",
) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    x, y, features = load_dataset("breast-cancer")
    lines = [
        f'[federation]\ntask = "tabular"\nrounds = {rounds}\nseed = 7\n',
        '[data]\nlabel = "target"\n',
        f'[model]\nname = "{model}"\n',
        f'[strategy]\nname = "{strategy}"\nbatch_size = 16\nlr = 0.05\n',
        extra,
    ]
    for split in dirichlet_split(y, sites, 1.0, seed=0):
        train, test = write_site_csvs(tmp, x, y, features, split, "target")
        lines.append(f'[[sites]]\nname = "{split.name}"\ntrain = "{train.name}"\ntest = "{test.name}"\n')
    cfg = tmp / "federation.toml"
    cfg.write_text("\n".join(lines))
    return cfg


def run_cli(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
