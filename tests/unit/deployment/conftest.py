"""Fixtures of the startup-kit tests: one provisioned set of kits per module, and a private copy per test."""

import shutil
from pathlib import Path

import pytest
from kit_harness import provisioned


@pytest.fixture(scope="module")
def clean_kits(tmp_path_factory) -> Path:
    return provisioned(tmp_path_factory.mktemp("kits"))


@pytest.fixture
def kits(clean_kits, tmp_path) -> Path:
    copy = tmp_path / "kits"
    shutil.copytree(clean_kits, copy)
    return copy
