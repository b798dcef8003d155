"""`run.outputs.write_run`: the one run-directory writer of `fedward simulate` and a deployed coordinator."""

import json
from pathlib import Path

import pytest
from run_harness import SITES, audited_run

from fedward.core.arrays import arrays_to_bytes
from fedward.errors import UserError
from fedward.run.audit import AUDIT_DIRS
from fedward.run.outputs import write_run
from fedward.site.policy import SitePolicy


@pytest.fixture
def finished(tmp_path: Path):
    _, work, result, _ = audited_run(tmp_path, dict.fromkeys(SITES, SitePolicy.simulation_default()))
    return work, result


def test_it_writes_the_documented_layout_and_moves_the_audit_folders_in(tmp_path: Path, finished) -> None:
    work, result = finished
    out = tmp_path / "run"
    write_run(out, {"run_id": result.run_id, "note": "x"}, result, work, force=False)
    names = {p.name for p in out.iterdir()}
    assert names == {"summary.json", "metrics.jsonl", "model", "report.html", *AUDIT_DIRS}
    assert json.loads((out / "summary.json").read_text())["note"] == "x"
    assert (out / "model" / "global.safetensors").read_bytes() == arrays_to_bytes(result.params)
    rounds = [json.loads(line)["round"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rounds == [r.round for r in result.rounds]
    assert (out / "releases" / "final" / "release.json").is_file()
    assert not any((work / name).exists() for name in AUDIT_DIRS)  # moved, not copied


def test_it_refuses_a_non_empty_folder_without_force(tmp_path: Path, finished) -> None:
    work, result = finished
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        write_run(out, {"run_id": result.run_id}, result, work, force=False)
    assert (out / "keep.txt").read_text() == "mine" and all((work / n).is_dir() for n in AUDIT_DIRS)
