"""The command starts fast: `fedward --help`, every group's help and `fedward ledger verify` run without
loading torch, Opacus or the round's modules (issue 15, "start fast"). Each check runs in a fresh
interpreter, since this test process has loaded them already."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from federations import run_cli, tabular_federation

HEAVY = ("torch", "opacus", "fedward.coordinator", "fedward.site", "fedward.simulation", "sklearn")

_PROBE = """
import json, sys
from fedward.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _loaded(*argv: str) -> list[str]:
    code = _PROBE.format(heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["ledger", "--help"],
        ["release", "--help"],
        ["keys", "--help"],
        ["roster", "--help"],
        ["coordinator", "--help"],
        ["site", "--help"],
        ["synth", "--help"],
        ["simulate", "--help"],
        ["demo", "--help"],
        ["predict", "--help"],
    ],
)
def test_help_loads_no_heavy_module(argv):
    assert _loaded(*argv) == []


def test_ledger_and_release_verify_load_no_heavy_module(tmp_path: Path):
    run = tmp_path / "run"
    assert run_cli(["simulate", str(tabular_federation(tmp_path / "fed", rounds=2)), "--out", str(run)]) == 0
    assert _loaded("ledger", "verify", str(run)) == []
    assert _loaded("release", "verify", str(run / "releases" / "final")) == []


def test_the_probe_sees_a_heavy_import():
    """Power check: a command that does load torch is reported."""
    code = _PROBE.replace(
        "from fedward.cli.app import main", "import torch\nfrom fedward.cli.app import main"
    )
    out = subprocess.run(
        [sys.executable, "-c", code.format(heavy=HEAVY), "--help"], capture_output=True, text=True, check=True
    )
    assert "torch" in json.loads(out.stdout.strip().splitlines()[-1])
