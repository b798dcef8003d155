"""A site exports the latest checkpoint it accepted (`KIT/witness/RUN_ID.json`), in the format
`fedward ledger verify --checkpoint` reads back."""

from pathlib import Path

import pytest

from fedward.crypto import SigningKey
from fedward.ledger import CheckpointWitness, LedgerWriter, utc_clock
from fedward.ledger.verify import check_extends, read_checkpoint_file, read_verified_ledger
from fedward.site.trust import export_witnessed


def test_the_exported_checkpoint_is_the_latest_and_the_ledger_extends_it(tmp_path: Path) -> None:
    key = SigningKey.generate()
    ledger = LedgerWriter(tmp_path / "run", key, "run-1", utc_clock)
    ledger.append("run_started", run_id="run-1", federation="f", config_hash="a" * 64, code_hash="b" * 64)
    first = ledger.checkpoint()
    witness = CheckpointWitness("run-1")
    assert export_witnessed(tmp_path / "witness", witness) is None  # nothing seen yet
    witness.observe(first, key.public)
    path = export_witnessed(tmp_path / "witness", witness)
    assert path == tmp_path / "witness" / "run-1.json"
    assert read_checkpoint_file(path) == first
    assert [p.name for p in (tmp_path / "witness").iterdir()] == ["run-1.json"]  # no temporary left

    ledger.append("site_admitted", site="s", key_id="0" * 16)
    second = ledger.checkpoint()
    witness.observe(second, key.public, ledger.consistency_proof(1, 2))
    export_witnessed(tmp_path / "witness", witness)
    assert read_checkpoint_file(path) == second  # replaced, not appended
    ledger.close()
    verified = read_verified_ledger(tmp_path / "run", key.public)
    assert check_extends(verified, second, key.public, where=path).tree_size == 2


def test_a_run_id_that_is_no_safe_file_name_is_refused(tmp_path: Path) -> None:
    key = SigningKey.generate()
    ledger = LedgerWriter(tmp_path / "run", key, "../escape", utc_clock)
    ledger.append("run_started", run_id="x", federation="f", config_hash="a" * 64, code_hash="b" * 64)
    witness = CheckpointWitness("../escape")
    witness.observe(ledger.checkpoint(), key.public)
    ledger.close()
    with pytest.raises(ValueError, match="not a safe file name"):
        export_witnessed(tmp_path / "witness", witness)
    assert not (tmp_path / "escape.json").exists()
