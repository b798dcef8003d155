"""The built-in document encoder: its file is the one its card (recipe) names, it fits the demo's private
doc-cnn, and a damaged file is refused."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from fedward.core.arrays import arrays_from_bytes
from fedward.documents.synth import DOCUMENT_CLASSES
from fedward.models import ModelSpec, build_model, load_arrays
from fedward.models.builtin import BUILTIN_MODELS, builtin_model, verified_model
from fedward.pretrain import CARD_FORMAT, PretrainSettings, public_pipeline


def test_shipped_encoder_hash_matches_its_recipe() -> None:
    path, card = builtin_model("builtin:doc-encoder")
    assert card["format"] == CARD_FORMAT
    assert hashlib.sha256(path.read_bytes()).hexdigest() == card["weights"]["sha256"]
    assert card["weights"]["file"] == path.name
    assert path.stat().st_size < 1_000_000


def test_card_records_the_command_that_made_it() -> None:
    """The card's command line is exactly the one its settings give (`fedward pretrain docs`)."""
    _, card = builtin_model("doc-encoder")
    settings = card["recipe"]["settings"]
    recipe = PretrainSettings(
        **(settings | {"channels": tuple(settings["channels"]), "hidden": tuple(settings["hidden"])})
    )
    assert card["recipe"]["command"] == " ".join(
        ["fedward", "pretrain", "docs", "--out", "doc-encoder.safetensors", *recipe.arguments()]
    )
    assert card["preprocessing"]["sha256"] == public_pipeline(recipe.image_size).sha256()
    assert card["data"]["senders"]["pool"] is True


def test_shipped_encoder_fits_the_demos_private_doc_cnn() -> None:
    """channels 8, 16, 32; hidden 32; 64 x 64 pages; the generator's eight classes in a federation's order."""
    path, card = builtin_model("doc-encoder")
    spec = ModelSpec("doc-cnn", 64, len(DOCUMENT_CLASSES), (32,), (8, 16, 32))
    assert ModelSpec.from_config(card["model"]) == spec
    assert card["classes"] == sorted(DOCUMENT_CLASSES)
    load_arrays(build_model(spec, seed=0), arrays_from_bytes(path.read_bytes()))


def test_a_damaged_file_is_refused(tmp_path: Path) -> None:
    path, _ = builtin_model("doc-encoder")
    for name in (path.name, path.with_suffix(".json").name):
        shutil.copy(path.parent / name, tmp_path / name)
    verified_model(tmp_path, "doc-encoder")  # power check: the intact copy passes
    data = bytearray((tmp_path / path.name).read_bytes())
    data[-1] ^= 1
    (tmp_path / path.name).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        verified_model(tmp_path, "doc-encoder")


def test_unknown_names_are_refused() -> None:
    assert BUILTIN_MODELS == ("doc-encoder",)
    with pytest.raises(ValueError, match="built-in models: doc-encoder"):
        builtin_model("builtin:resnet")
