"""examples/user-model: a user's own model in under 30 lines runs in `fedward simulate` unchanged, its
hash in the summary, the ledger and the release; a model file that returns the wrong thing stops the run
with exit 2 and a message naming the file, before any round."""

import hashlib
import json
import re
import shutil
from pathlib import Path

from federations import run_cli, tabular_federation

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "user-model"


def test_the_example_model_file_is_short():
    assert len((EXAMPLE / "my_model.py").read_text().splitlines()) < 30


def test_the_example_runs_in_simulation(tmp_path):
    for name in ("my_model.py", "federation.toml"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    assert run_cli(["synth", "tabular", "--out", str(tmp_path / "data"), "--sites", "3"]) == 0
    cfg = tmp_path / "federation.toml"  # tiny: two rounds of one epoch, no personalization
    text = re.sub(r"rounds = \d+", "rounds = 2", cfg.read_text()).replace(
        "local_epochs = 2", "local_epochs = 1"
    )
    cfg.write_text(text + "\n[personalization]\nenabled = false\n")
    out = tmp_path / "run"
    assert run_cli(["simulate", str(cfg), "--out", str(out)]) == 0
    digest = hashlib.sha256((EXAMPLE / "my_model.py").read_bytes()).hexdigest()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["model_code_sha256"] == digest and summary["model"]["code"] == "my_model.py"
    assert summary["rounds_completed"] == 2 and summary["metrics"]["federated"]["pooled"]["accuracy"] > 0.8
    assert json.loads((out / "ledger/entries.jsonl").read_text().splitlines()[0])["model_code_hash"] == digest
    assert json.loads((out / "releases/final/release.json").read_text())["model_code_sha256"] == digest


def test_a_model_of_the_wrong_shape_exits_2_naming_the_file(tmp_path, capsys):
    cfg = tabular_federation(tmp_path, rounds=1)
    (tmp_path / "bad_model.py").write_text(
        "from torch import nn\n\ndef build_model(spec):\n    return nn.Linear(spec.n_features, 5)\n"
    )
    cfg.write_text(cfg.read_text().replace('name = "logistic"', 'code = "bad_model.py"'))
    assert run_cli(["simulate", str(cfg), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "bad_model.py" in err and "expected [2, 2]" in err
