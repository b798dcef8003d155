"""The release's lineage names the `[model] init` file the run started from (`init_model_sha256`), only
when there is one: a release without it has exactly the fields (and bytes) it always had, and a release
with it verifies, with the field covered by the signature."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from release_harness import KEY, publish, resign

from fedward.release import RECORD_FILE, ReleaseError, verify_release
from fedward.release.record import ReleaseRecord

INIT = hashlib.sha256(b"base model").hexdigest()


def test_without_an_init_file_the_record_has_its_old_fields(tmp_path: Path) -> None:
    folder = publish(tmp_path)
    assert "init_model_sha256" not in json.loads((folder / RECORD_FILE).read_text())
    assert verify_release(folder, KEY.public).init_model_sha256 is None


def test_with_an_init_file_the_record_names_it_and_verifies(tmp_path: Path) -> None:
    folder = publish(tmp_path, init_model_sha256=INIT)
    assert json.loads((folder / RECORD_FILE).read_text())["init_model_sha256"] == INIT
    assert verify_release(folder, KEY.public).init_model_sha256 == INIT


def test_a_changed_init_hash_breaks_the_signature(tmp_path: Path) -> None:
    folder = publish(tmp_path, init_model_sha256=INIT)
    record = (folder / RECORD_FILE).read_bytes()
    (folder / RECORD_FILE).write_bytes(record.replace(INIT.encode(), b"0" * 64))
    with pytest.raises(ReleaseError, match="signature"):
        verify_release(folder, KEY.public)


@pytest.mark.parametrize("value", [None, "abc"])
def test_a_null_or_malformed_init_hash_is_refused_even_when_signed(tmp_path: Path, value: object) -> None:
    folder = publish(tmp_path)
    resign(folder, KEY, lambda record: record.update(init_model_sha256=value))
    with pytest.raises(ReleaseError):
        verify_release(folder, KEY.public)
    with pytest.raises(ValueError, match="init_model_sha256"):
        ReleaseRecord.from_bytes((folder / RECORD_FILE).read_bytes())
