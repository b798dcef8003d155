"""`fedward.models.usercode`: the user's `build_model(spec)` file, read, verified and checked.

Bad model files are the user's mistakes: a `ConfigError` (exit 2) naming the file, never a traceback.
A source that does not match its declared hash is never executed."""

import builtins
from pathlib import Path

import pytest
import torch
from torch import nn

from fedward.errors import ConfigError
from fedward.models import USER_CODE, CodeMismatch, ModelSpec, build_model, code_sha256, read_user_code
from fedward.models.usercode import MAX_CODE_BYTES, UserCode, build_user_model

GOOD = (
    "from torch import nn\n\ndef build_model(spec):\n    return nn.Linear(spec.n_features, spec.n_classes)\n"
)
IMAGE = (
    "from torch import nn\n\ndef build_model(spec):\n"
    "    return nn.Sequential(nn.Flatten(), nn.Linear(spec.image_size ** 2, spec.n_classes))\n"
)


def _code(tmp_path: Path, source: str, inputs: str = "features") -> UserCode:
    path = tmp_path / "my_model.py"
    path.write_text(source)
    return read_user_code(path, inputs)  # type: ignore[arg-type]


def test_a_good_file_builds_its_model_seeded_and_travels_in_the_spec(tmp_path) -> None:
    code = _code(tmp_path, GOOD)
    assert code.sha256 == code_sha256(GOOD) and code.filename == "my_model.py"
    spec = ModelSpec(USER_CODE, 5, 3, code=code)
    a, b = build_model(spec, seed=1), build_model(spec, seed=1)
    assert isinstance(a, nn.Linear) and a.weight.shape == (3, 5)
    assert torch.equal(a.weight, b.weight)  # the seed decides the initial weights
    assert not torch.equal(a.weight, build_model(spec, seed=2).weight)
    assert ModelSpec.from_config(spec.to_config()) == spec


def test_an_image_model_gets_the_image_size(tmp_path) -> None:
    model = build_user_model(_code(tmp_path, IMAGE, "image"), 16, 4)
    assert model(torch.zeros(3, 1, 16, 16)).shape == (3, 4)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("def build_model(spec):\n    return 42\n", "returned int, not a torch.nn.Module"),
        (
            "from torch import nn\ndef build_model(spec):\n    return nn.Linear(spec.n_features, 7)\n",
            r"output for a batch of shape \[2, 5\] is \[2, 7\], expected \[2, 3\]",
        ),
        (
            "from torch import nn\ndef build_model(spec):\n    return nn.Linear(4, spec.n_classes)\n",
            r"the model fails on a batch of shape \[2, 5\]",
        ),
        (
            "from torch import nn\ndef build_model(spec):\n"
            "    return nn.Sequential(nn.Linear(spec.n_features, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))\n",
            "buffers",
        ),
        ("x = 1\n", "defines no build_model"),
    ],
)
def test_a_bad_model_is_a_config_error_naming_the_file(tmp_path, body, message) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        build_user_model(_code(tmp_path, body), 5, 3)
    assert info.value.where == "my_model.py"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"def build_model(:\n", "not valid Python"),
        (b"\xff\xfe", "not UTF-8"),
        (b"#" * (MAX_CODE_BYTES + 1), "more than"),
    ],
)
def test_an_unreadable_file_is_a_config_error_naming_it(tmp_path, data, message) -> None:
    path = tmp_path / "my_model.py"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=message) as info:
        read_user_code(path, "features")
    assert info.value.where == str(path)
    with pytest.raises(ConfigError, match="cannot be read"):
        read_user_code(tmp_path / "missing.py", "features")


def test_a_source_that_does_not_match_its_hash_is_never_run(tmp_path) -> None:
    code = _code(tmp_path, GOOD)
    evil = UserCode(
        code.filename, GOOD + "import builtins\nbuiltins.FEDWARD_RAN = 1\n", code.sha256, "features"
    )
    with pytest.raises(CodeMismatch, match="does not match its declared hash"):
        build_user_model(evil, 5, 3)
    assert not hasattr(builtins, "FEDWARD_RAN")


def test_the_spec_name_and_the_code_go_together() -> None:
    with pytest.raises(ValueError, match="user code goes with the name"):
        ModelSpec(USER_CODE, 5, 3)
    with pytest.raises(ValueError, match="user code goes with the name"):
        ModelSpec("logistic", 5, 3, code=UserCode("m.py", GOOD, code_sha256(GOOD), "features"))
