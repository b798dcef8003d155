import numpy as np
import pytest

from fedward.core.arrays import (
    arrays_equal,
    arrays_from_bytes,
    arrays_to_bytes,
    check_finite,
    num_parameters,
    sha256_arrays,
    subtract,
)


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"w": rng.normal(size=(3, 4)).astype(np.float32), "b": rng.normal(size=4).astype(np.float32)}


def test_safetensors_round_trip_is_exact():
    a = _arrays()
    back = arrays_from_bytes(arrays_to_bytes(a))
    assert arrays_equal(a, back)
    assert all(back[k].dtype == np.float32 and back[k].flags.writeable for k in back)


def test_bytes_are_not_pickle_and_hash_is_stable():
    data = arrays_to_bytes(_arrays())
    assert not data.startswith(b"\x80")  # pickle protocol marker
    assert sha256_arrays(_arrays()) == sha256_arrays(_arrays())
    assert sha256_arrays(_arrays(0)) != sha256_arrays(_arrays(1))


def test_garbage_bytes_are_rejected():
    with pytest.raises(Exception):  # noqa: B017 - safetensors raises its own error type
        arrays_from_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")


def test_subtract_checks_layout():
    a = _arrays()
    assert np.allclose(subtract(a, a)["w"], 0)
    with pytest.raises(ValueError, match="names differ"):
        subtract(a, {"w": a["w"]})
    with pytest.raises(ValueError, match="shape"):
        subtract(a, {"w": a["w"][:2], "b": a["b"]})


def test_check_finite_names_the_tensor():
    a = _arrays()
    a["b"][1] = np.nan
    with pytest.raises(ValueError, match="'b'"):
        check_finite(a)


def test_num_parameters():
    assert num_parameters(_arrays()) == 16
