"""`fedward pretrain docs`: deterministic bytes, a card that matches its weights, and user errors."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from fedward.cli.app import main
from fedward.core.arrays import arrays_from_bytes
from fedward.documents.synth import DOCUMENT_CLASSES
from fedward.models import ModelSpec, build_model, load_arrays
from fedward.pretrain import CARD_FORMAT, PretrainSettings, pretrain_documents, write_encoder

# A tiny corpus: one public hospital, 16 pages, one epoch on 32 x 32 pages.
TINY = PretrainSettings(seed=5, sites=1, pages=16, channels=(4, 8), hidden=(8,), image_size=32, epochs=1)


@pytest.fixture(scope="module")
def by_cli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "enc.safetensors"
    with pytest.raises(SystemExit) as exit_:
        main(["pretrain", "docs", "--out", str(out), *TINY.arguments()])
    assert exit_.value.code == 0
    return out


def test_same_command_same_bytes(by_cli: Path, tmp_path: Path) -> None:
    """The command run again (here through the library, the same settings) writes the same bytes."""
    again = tmp_path / "enc.safetensors"
    write_encoder(pretrain_documents(TINY), again)
    assert again.read_bytes() == by_cli.read_bytes()
    assert again.with_suffix(".json").read_bytes() == by_cli.with_suffix(".json").read_bytes()


def test_a_different_seed_gives_different_weights(by_cli: Path, tmp_path: Path) -> None:
    """Power check for the test above: the bytes do depend on the recipe."""
    other = tmp_path / "enc.safetensors"
    write_encoder(pretrain_documents(dataclasses.replace(TINY, seed=6)), other)
    assert other.read_bytes() != by_cli.read_bytes()


def test_card_matches_the_weights_and_reproduces_the_command(by_cli: Path) -> None:
    card = json.loads(by_cli.with_suffix(".json").read_text())
    assert card["format"] == CARD_FORMAT
    assert card["weights"]["sha256"] == hashlib.sha256(by_cli.read_bytes()).hexdigest()
    assert card["recipe"]["command"] == " ".join(
        ["fedward", "pretrain", "docs", "--out", by_cli.name, *TINY.arguments()]
    )
    assert card["recipe"]["settings"] == json.loads(json.dumps(TINY.to_json()))
    assert card["classes"] == sorted(DOCUMENT_CLASSES)
    assert set(card["data"]["hospitals"]) == {"ashford_teaching"} and card["data"]["senders"]["pool"]
    assert 0.0 <= card["evaluation"]["heldout_accuracy"] <= 1.0


def test_weights_load_into_the_federations_doc_cnn(by_cli: Path) -> None:
    """Same architecture and tensor names as a federation's doc-cnn of the card's spec."""
    card = json.loads(by_cli.with_suffix(".json").read_text())
    model = build_model(ModelSpec.from_config(card["model"]), seed=0)
    load_arrays(model, arrays_from_bytes(by_cli.read_bytes()))


def test_user_errors_exit_2(by_cli: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        ["--out", str(by_cli)],  # exists: nothing is overwritten
        ["--out", str(tmp_path / "enc.bin")],
        ["--out", str(tmp_path / "missing" / "enc.safetensors")],
        ["--out", str(tmp_path / "enc.safetensors"), "--channels", "8,x"],
        ["--out", str(tmp_path / "enc.safetensors"), "--image-size", "16", "--channels", "2,2,2,2,2"],
    ]
    for args in cases:
        with pytest.raises(SystemExit) as exit_:
            main(["pretrain", "docs", *args])
        assert exit_.value.code == 2, args
        assert capsys.readouterr().err.startswith("error:")
    assert not list(tmp_path.iterdir())
