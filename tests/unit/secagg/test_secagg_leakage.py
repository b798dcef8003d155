"""What the coordinator sees of one site: uniform noise, from which a single record cannot be inverted.

Without secure aggregation, one SGD step of a linear layer on a single record reveals the record exactly:
dL/dW = delta x^T and dL/db = delta, so x = dW[i] / db[i] for any row with db[i] != 0 (the analytic
inversion of Phong et al. 2017, also used by Geiping et al. 2020). Under Bonawitz et al. (2017) the
coordinator only sees x + masks in Z_{2^r}, which is uniform: the same inversion returns noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from scipy import stats
from secagg_harness import advance_to, make_params, new_session

from fedward.secagg import FixedPoint, MaskedInput

D_IN, D_OUT = 2000, 3


def _coordinator_view(vector: npt.NDArray[Any], ring_bits: int) -> npt.NDArray[Any]:
    """The masked input of site-00 in a 4-site session where site-00 holds `vector`."""
    params = make_params(4, length=len(vector), ring_bits=ring_bits)
    vectors = {name: np.zeros(len(vector), params.dtype) for name in params.sites}
    session = new_session(params, {**vectors, "site-00": vector})
    inbox = advance_to(session, 2)["site-00"]
    return MaskedInput.from_bytes(session.sites["site-00"].receive(inbox)).vector


def _uniformity_p_values(vector: npt.NDArray[Any]) -> tuple[float, float]:
    """Chi-square p-values against uniform of the histogram of all bytes and of the top (sign) byte."""
    as_bytes = vector.astype(vector.dtype.newbyteorder("<")).view(np.uint8)
    all_bytes = np.bincount(as_bytes, minlength=256)
    top_byte = np.bincount(as_bytes[vector.dtype.itemsize - 1 :: vector.dtype.itemsize], minlength=256)
    return float(stats.chisquare(all_bytes).pvalue), float(stats.chisquare(top_byte).pvalue)


def _encoded_update(ring_bits: int) -> tuple[FixedPoint, npt.NDArray[Any]]:
    codec = FixedPoint(1.0, 16, 32 if ring_bits == 32 else 64)
    update = np.random.default_rng(3).normal(0.0, 0.05, 50_000)
    return codec, codec.encode(update)


@pytest.mark.parametrize("ring_bits", [32, 64])
def test_masked_input_is_uniform_while_the_plain_encoding_is_not(ring_bits: int) -> None:
    _, encoded = _encoded_update(ring_bits)
    assert max(_uniformity_p_values(encoded)) < 1e-3  # power check: the test can see structure
    for attempt in range(2):  # a true uniform stream fails p > 1e-3 once in 1000 runs; twice in 10^6
        if min(_uniformity_p_values(_coordinator_view(encoded, ring_bits))) > 1e-3:
            break
        assert attempt == 0, "the masked input is not uniform in two independent sessions"


def _one_record_update() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(x, flat update) for one SGD step of nn.Linear(D_IN, D_OUT) on a single record x."""
    generator = torch.Generator().manual_seed(7)
    layer = torch.nn.utils.skip_init(torch.nn.Linear, D_IN, D_OUT)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(D_OUT, D_IN, generator=generator) * 0.02)
        layer.bias.copy_(torch.randn(D_OUT, generator=generator) * 0.02)
    x = torch.randn(1, D_IN, generator=generator)
    target = torch.randn(1, D_OUT, generator=generator)
    loss = ((layer(x) - target) ** 2).sum()
    loss.backward()
    lr = 0.1
    assert layer.weight.grad is not None and layer.bias.grad is not None
    update = torch.cat([(-lr * layer.weight.grad).flatten(), -lr * layer.bias.grad])
    return x[0].numpy(), update.numpy()


def _invert(update: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    weight = update[: D_OUT * D_IN].reshape(D_OUT, D_IN).astype(np.float64)
    bias = update[D_OUT * D_IN :].astype(np.float64)
    row = int(np.argmax(np.abs(bias)))
    result: npt.NDArray[np.float64] = weight[row] / bias[row]
    return result


@pytest.mark.parametrize("ring_bits", [32, 64])
def test_single_record_inversion_works_on_the_plain_update_only(ring_bits: int) -> None:
    x, update = _one_record_update()
    np.testing.assert_allclose(_invert(update), x, rtol=1e-5, atol=1e-6)  # plain update: exact record
    codec = FixedPoint(1.0, 24 if ring_bits == 32 else 40, 32 if ring_bits == 32 else 64)
    encoded = codec.encode(update)
    assert stats.pearsonr(_invert(codec.decode(encoded)), x).statistic > 0.99  # encoding alone hides nothing
    guess = _invert(codec.decode(_coordinator_view(encoded, ring_bits)))
    assert abs(stats.pearsonr(guess, x).statistic) < 0.15
    assert abs(stats.spearmanr(guess, x).statistic) < 0.15
