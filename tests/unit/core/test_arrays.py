import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from safetensors.numpy import load as library_load

from fedward.core.arrays import (
    arrays_from_bytes,
    arrays_to_bytes,
    check_finite,
    num_parameters,
    sha256_arrays,
    subtract,
    tensors_from_bytes,
)


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"w": rng.normal(size=(3, 4)).astype(np.float32), "b": rng.normal(size=4).astype(np.float32)}


def test_safetensors_round_trip_is_exact():
    a = _arrays()
    back = arrays_from_bytes(arrays_to_bytes(a))
    assert a.keys() == back.keys() and all(np.array_equal(a[k], back[k]) for k in a)
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


# --- the zero-copy reader (copy=False) against the safetensors library -----------------------------------

named_arrays = st.dictionaries(
    st.text("abcdefgh._0123", min_size=1, max_size=8),
    arrays(
        np.float32, array_shapes(min_dims=0, max_dims=3, max_side=5), elements=st.floats(-1e6, 1e6, width=32)
    ),
    min_size=1,
    max_size=5,
)


@given(named_arrays)
def test_views_equal_what_the_library_loads(a):
    data = arrays_to_bytes(a)
    views = arrays_from_bytes(data, copy=False)
    reference = library_load(data)
    assert views.keys() == reference.keys()
    for k in views:
        assert views[k].dtype == np.float32 and views[k].shape == reference[k].shape
        assert np.array_equal(views[k], reference[k])
        assert not views[k].flags.writeable  # a view into the message, never to be changed


def _forge(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return len(raw).to_bytes(8, "little") + raw + body


GOOD = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}


@pytest.mark.parametrize(
    "data",
    [
        b"\x01\x02",  # shorter than the length prefix
        (10**9).to_bytes(8, "little") + b"{}",  # header length beyond the data
        _forge({"w": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}, bytes(8)),  # wrong dtype
        _forge({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8)),  # shape vs bytes
        _forge({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}}, bytes(8)),  # past the end
        _forge(GOOD, bytes(12)),  # trailing bytes
        _forge({**GOOD, "v": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)),  # overlap
        _forge({"w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)),  # gap
        _forge({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8)),  # negative dim
        _forge({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": 1}}, bytes(8)),  # extra key
        _forge({"w": [1, 2]}, bytes(8)),  # entry not an object
        b"\x02\x00\x00\x00\x00\x00\x00\x00[]",  # header not an object
    ],
)
def test_malformed_messages_are_refused(data):
    with pytest.raises(ValueError):
        arrays_from_bytes(data, copy=False)


def test_duplicate_header_keys_are_refused():
    raw = b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}'  # noqa: E501
    with pytest.raises(ValueError, match="duplicate"):
        arrays_from_bytes(len(raw).to_bytes(8, "little") + raw + bytes(8), copy=False)


def test_a_well_formed_forged_message_is_read_like_the_library_reads_it():
    data = _forge(GOOD, np.array([1.5, -2.0], np.float32).tobytes())  # power check for the cases above
    assert np.array_equal(arrays_from_bytes(data, copy=False)["w"], library_load(data)["w"])


# --- the same reader with int8 and int32 tensors (compressed updates, core/compress.py) ------------------

mixed_arrays = st.dictionaries(
    st.text("abcdefgh._0123/", min_size=1, max_size=8),
    st.sampled_from([np.int8, np.int32, np.float32]).flatmap(
        lambda t: arrays(t, array_shapes(min_dims=0, max_dims=3, max_side=5))
    ),
    min_size=1,
    max_size=5,
)


@given(mixed_arrays)
def test_typed_views_equal_what_the_library_loads(a):
    data = arrays_to_bytes(a)
    views = tensors_from_bytes(data)
    reference = library_load(data)
    assert views.keys() == reference.keys()
    for k in views:
        assert views[k].dtype == reference[k].dtype and views[k].shape == reference[k].shape
        assert np.array_equal(views[k], reference[k], equal_nan=views[k].dtype.kind == "f")
        assert not views[k].flags.writeable


@pytest.mark.parametrize(
    "data",
    [
        _forge({"q": {"dtype": "I8", "shape": [3], "data_offsets": [0, 2]}}, bytes(2)),  # shape vs bytes
        _forge({"i": {"dtype": "I32", "shape": [2], "data_offsets": [0, 4]}}, bytes(4)),  # 4 bytes per entry
        _forge({"u": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}, bytes(2)),  # unknown dtype
        _forge({"i": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}, bytes(8)),  # not admitted
    ],
)
def test_malformed_typed_messages_are_refused(data):
    with pytest.raises(ValueError):
        tensors_from_bytes(data)


def test_the_float32_reader_still_refuses_integer_tensors():
    data = arrays_to_bytes({"q": np.arange(4, dtype=np.int8)})
    with pytest.raises(ValueError, match="expected F32"):
        arrays_from_bytes(data, copy=False)
    assert np.array_equal(tensors_from_bytes(data)["q"], np.arange(4, dtype=np.int8))  # power check
