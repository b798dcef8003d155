"""Install anywhere: a site installs fedward without the coordinator's packages (extras in
pyproject.toml). A command that needs a missing extra exits 2 naming the extra; the simulation and the
site's modules import without them (power check: the coordinator's modules do need them)."""

import importlib.abc
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from fedward.cli import app as app_module

ROOT = Path(__file__).resolve().parents[3]
SERVER = ("fastapi", "uvicorn", "sqlalchemy", "prometheus_client", "psycopg", "faker")


class _Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] == "fastapi":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def test_a_missing_extra_exits_2_naming_it(monkeypatch, capsys):
    for mod in [
        m
        for m in sys.modules
        if m == "fastapi"
        or m.startswith(("fastapi.", "fedward.deployment.coord", "fedward.coordinator.service"))
    ]:  # every module that imports fastapi, so the import runs again whatever ran before this test
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(sys, "meta_path", [_Missing(), *sys.meta_path])
    with pytest.raises(SystemExit) as info:
        app_module.main(["coordinator", "serve", "/nonexistent-kit"])
    assert info.value.code == 2
    assert "pip install 'fedward[server]'" in capsys.readouterr().err


SCRIPT = """
import importlib, importlib.abc, sys
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] in EXTRA:
            raise ModuleNotFoundError(name, name=name)
sys.meta_path.insert(0, Missing())
for module in sys.argv[1:]:
    try:
        importlib.import_module(module)
        print(module, "ok")
    except ModuleNotFoundError as exc:
        print(module, "needs", exc.name)
"""


def test_site_and_simulation_modules_need_no_extra_and_the_coordinator_does():
    modules = ["fedward.deployment.site", "fedward.simulation", "fedward.cli.app"]
    power = "fedward.deployment.coordinator"  # power check: the blocker does block the extras
    script = f"EXTRA = {SERVER!r}\n" + SCRIPT
    out = subprocess.run(
        [sys.executable, "-c", script, *modules, power], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[:3] == [f"{m} ok" for m in modules]
    assert out[3].startswith(f"{power} needs ")


def test_every_extra_package_is_declared_in_an_extra_not_in_the_core():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"]).lower()
    extras = project["optional-dependencies"]
    names = {"prometheus_client": "prometheus-client", "PIL": "pillow"}
    for package, extra in app_module.EXTRAS.items():
        dist = names.get(package, package).lower()
        assert dist not in core and any(d.lower().startswith(dist) for d in extras[extra])
    assert "fedward[all]" in extras["dev"]
    assert "Programming Language :: Python :: 3.13" in project["classifiers"]
