"""Compressed updates (core/compress.py): int8 decodes within half a step, top-k keeps exactly k entries
and its error feedback carries what was not sent; every malformed payload is the site's failure."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import fedward.core.compress as compress
from fedward.coordinator.payloads import UnusablePayload, fit_update
from fedward.core.arrays import arrays_to_bytes, tensors_from_bytes
from fedward.core.compress import CompressionSettings, decode_update, encode_int8, encode_topk, topk_count
from fedward.core.messages import Reply, ReplyStatus, TaskKind
from fedward.site.node import Site

INT8, TOPK = CompressionSettings("int8"), CompressionSettings("topk", 0.1)
PARAMS = {"w": np.zeros((4, 5), np.float32), "b": np.zeros(5, np.float32)}  # 25 entries: k = 3

updates = st.dictionaries(
    st.sampled_from(["w", "b", "layer.0.weight", "x"]),
    arrays(
        np.float32, array_shapes(min_dims=0, max_dims=3, max_side=6), elements=st.floats(-1e4, 1e4, width=32)
    ),
    min_size=1,
    max_size=4,
)


@given(updates)
def test_int8_decodes_within_half_a_step_per_tensor(update):
    data = encode_int8(update)
    decoded = decode_update(data, update, INT8)
    scales = dict(zip(sorted(update), tensors_from_bytes(data)["scale"].tolist(), strict=True))
    for name, a in update.items():
        scale = scales[name]
        assert scale == pytest.approx(float(np.max(np.abs(a), initial=0.0)) / 127, rel=1e-6)
        err = np.max(np.abs(decoded[name].astype(np.float64) - a), initial=0.0)
        assert err <= scale / 2 * (1 + 1e-5) + 1e-30  # the rounding, plus float32's own


def test_int8_is_about_a_quarter_of_the_float32_bytes():
    update = {"w": np.random.default_rng(0).normal(size=(100, 100)).astype(np.float32)}
    assert len(arrays_to_bytes(update)) / len(encode_int8(update)) > 3.9


@settings(max_examples=50)
@given(updates, st.floats(0.001, 1.0))
def test_topk_keeps_exactly_k_largest_entries(update, fraction):
    data, residual = encode_topk(update, fraction)
    decoded = decode_update(data, update, CompressionSettings("topk", fraction))
    n = sum(a.size for a in update.values())
    k = topk_count(n, fraction)
    assert k == (min(n, max(1, math.ceil(fraction * n))) if n else 0)
    assert tensors_from_bytes(data)["idx"].size == k
    everything = np.concatenate([np.abs(a).reshape(-1) for a in update.values()])
    kept = np.concatenate(
        [np.abs(decoded[name][update[name] == decoded[name]]).reshape(-1) for name in update]
    )
    if k:  # no dropped entry is larger than the smallest kept one
        assert np.sort(everything)[-k] <= np.max(kept) + 0
    for name, a in update.items():  # what is sent plus what is kept is the update, exactly
        np.testing.assert_array_equal(decoded[name] + residual[name], a)


def test_error_feedback_makes_the_sent_sum_converge_to_the_true_sum():
    rng = np.random.default_rng(1)
    site, sent_sum, true_sum, plain_sum = Site("a", None), np.zeros(25), np.zeros(25), np.zeros(25)
    for _ in range(300):
        update = {
            "w": rng.normal(1.0, 0.5, size=(4, 5)).astype(np.float32),
            "b": rng.normal(size=5).astype(np.float32),
        }
        true_sum += np.concatenate([update["w"].ravel(), update["b"]])
        for total, carry in ((sent_sum, True), (plain_sum, False)):
            if carry:
                got = decode_update(site._compressed("run", update, TOPK), PARAMS, TOPK)
            else:  # power check: top-k without the residual loses most of the update for good
                got = decode_update(encode_topk(update, 0.1)[0], PARAMS, TOPK)
            total += np.concatenate([got["w"].ravel(), got["b"]])
    residual = np.concatenate([site.residuals["run"]["w"].ravel(), site.residuals["run"]["b"]])
    np.testing.assert_allclose(sent_sum + residual, true_sum, rtol=1e-4, atol=1e-2)  # nothing is lost
    assert np.linalg.norm(sent_sum - true_sum) / np.linalg.norm(true_sum) < 0.05
    assert np.linalg.norm(plain_sum - true_sum) / np.linalg.norm(true_sum) > 0.5


def test_the_residual_is_kept_per_run_and_waits_through_skipped_rounds():
    site = Site("a", None)
    update = {"w": np.arange(20, dtype=np.float32).reshape(4, 5), "b": np.zeros(5, np.float32)}
    site._compressed("run-1", update, TOPK)
    assert set(site.residuals) == {"run-1"}
    kept = site.residuals["run-1"]["w"].copy()
    site._compressed("run-2", update, TOPK)  # another run's rounds leave it alone
    np.testing.assert_array_equal(site.residuals["run-1"]["w"], kept)
    zero = {k: np.zeros_like(v) for k, v in update.items()}
    got = decode_update(site._compressed("run-1", zero, TOPK), PARAMS, TOPK)  # the next round it joins
    assert float(got["w"].max()) == 16.0  # the largest entry it held back (17, 18, 19 went first)


def _reply(payload: dict) -> Reply:
    return Reply("r", 1, "s", TaskKind.FIT, ReplyStatus.OK, arrays_to_bytes(payload), 10)


def _topk(idx, val=None) -> dict:
    idx = np.asarray(idx, np.int32)
    val = np.ones(idx.size, np.float32) if val is None else np.asarray(val, np.float32)
    return {"idx": idx, "val": val}


def _int8(q=None, scale=(0.1, 0.1)) -> dict:
    q = np.ones(25, np.int8) if q is None else q
    return {"q": q, "scale": np.array(scale, np.float32)}


@pytest.mark.parametrize(
    ("payload", "kind", "match"),
    [
        (_topk([0, 1, 25]), TOPK, r"in \[0, 25\)"),  # one past the end
        (_topk([-1, 0, 1]), TOPK, "ascending"),  # negative: would overwrite the last entry
        (_topk([0, 1, 1]), TOPK, "distinct"),  # repeated
        (_topk([2, 1, 0]), TOPK, "ascending"),
        (_topk([0, 1]), TOPK, "expected exactly 3"),  # too few
        (_topk(range(25)), TOPK, "expected exactly 3"),  # a dense update in disguise
        (_topk([0, 1, 2], [1, np.nan, 1]), TOPK, "non-finite"),
        (_topk([0, 1, 2], [1, 2]), TOPK, "one length"),
        ({**_topk([0, 1, 2]), "idx": np.array([0, 1, 2], np.float32)}, TOPK, "int32"),
        ({**_topk([0, 1, 2]), "extra": np.zeros(1, np.float32)}, TOPK, "expected \\['idx', 'val'\\]"),
        (_int8(scale=(0.1, np.inf)), INT8, "finite and non-negative"),
        (_int8(scale=(-0.1, 0.1)), INT8, "finite and non-negative"),
        (_int8(scale=(0.1,)), INT8, "one per tensor"),
        (_int8(q=np.ones(24, np.int8)), INT8, "shape"),
        (_int8(q=np.ones((5, 5), np.int8)), INT8, "shape"),
        (_int8(q=np.ones(25, np.int32)), INT8, "int8"),
        (_int8(q=np.full(25, -128, np.int8)), INT8, "-128"),
        ({"q": np.ones(25, np.int8)}, INT8, "expected \\['q', 'scale'\\]"),
        (_topk([0, 1, 2]), INT8, "expected \\['q', 'scale'\\]"),  # the wrong kind
        ({"q": np.ones(25, np.int64)}, INT8, "dtype"),  # not a dtype the reader admits
    ],
)
def test_malformed_compressed_payloads_are_the_sites_failure(payload, kind, match):
    with pytest.raises(UnusablePayload, match=match):
        fit_update(_reply(payload), PARAMS, needs_spend=False, setup_samples=100, compression=kind)


def test_a_good_compressed_payload_is_the_model_plus_the_update():
    start = {k: np.full(v.shape, 2.0, np.float32) for k, v in PARAMS.items()}
    model, _ = fit_update(
        _reply(_topk([0, 7, 19], [1, -1, 3])), start, needs_spend=False, setup_samples=100, compression=TOPK
    )
    # sorted names: b's 5 entries first (positions 0-4), then w's 20 (positions 5-24)
    assert model["b"].tolist() == [3.0, 2.0, 2.0, 2.0, 2.0]
    assert model["w"].ravel()[[2, 14]].tolist() == [1.0, 5.0] and float(model["w"].sum()) == 40.0 + 2.0


def test_power_check_without_the_index_check_a_bad_index_corrupts_or_crashes(monkeypatch):
    monkeypatch.setattr(compress, "_check_indices", lambda idx, size: None)
    # a negative index passes and writes the tensor's last entries: the update is silently changed
    model, _ = fit_update(
        _reply(_topk([-1, 0, 1], [9, 1, 1])), PARAMS, needs_spend=False, setup_samples=100, compression=TOPK
    )
    assert float(model["w"].ravel()[-1]) == 9.0  # position -1: w's last entry
    # one past the end: an IndexError, which is not UnusablePayload, so it would stop the coordinator's run
    with pytest.raises(IndexError):
        fit_update(_reply(_topk([0, 1, 25])), PARAMS, needs_spend=False, setup_samples=100, compression=TOPK)
