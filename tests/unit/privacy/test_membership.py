"""Membership inference against DP-SGD: the loss-threshold attack (Yeom et al. 2018) on a model that
memorizes its training records.

The bound. Fix a record z and let the model be trained on D with z (member) or without it (non-member);
(epsilon, delta)-DP says every test that reads the model to decide between the two has
TPR <= e^eps FPR + delta and 1 - FPR <= e^eps (1 - TPR) + delta (Kairouz, Oh & Viswanath 2015). Adding the
two and maximizing TPR - FPR over that region gives the membership advantage bound

    TPR - FPR <= (e^eps - 1 + 2 delta) / (e^eps + 1),

reached at the corner where both constraints are tight (Humphries et al. 2020 derive it for the
member/non-member game with independently drawn records, which is what we play: members and
non-members are i.i.d. from one distribution). At epsilon 1, delta 1e-5 it is 0.462.

The measurement. We score m members and m' fresh non-members by their loss under one trained model and
take the best threshold, knowing the truth: an optimistic attacker. Uniformly over all thresholds, the
empirical CDFs stay within sqrt(ln(2/alpha) / 2k) of the true ones (Dvoretzky-Kiefer-Wolfowitz,
Massart's constant) for a sample of k, so the empirical best advantage exceeds the true one by at most
the two DKW radii, except with probability 2 alpha. Caveat: members' scores share one model, so they are
not strictly independent; this is a sanity check of the whole pipeline (calibration, accounting, Opacus
training), not a proof.

Power check: the same attack without DP must clear the DP allowance by a wide margin, or the DP half of
the test could not fail.
"""

import math

import numpy as np
import torch
from torch import nn

from fedward.models import ModelSpec, build_model
from fedward.privacy import calibrate_noise_multiplier
from fedward.site import TrainSettings, train
from fedward.site.dp_trainer import poisson_schedule, train_private

FEATURES, MEMBERS, NON_MEMBERS = 500, 100, 2000
EPSILON, DELTA, ALPHA = 1.0, 1e-5, 1e-3
SETTINGS = TrainSettings(epochs=50, batch_size=20, lr=0.5, momentum=0.9)


def _population(n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features and random labels: nothing to learn, so any advantage is memorization."""
    x = rng.normal(size=(n, FEATURES)).astype(np.float32) / math.sqrt(FEATURES)
    return torch.from_numpy(x), torch.from_numpy(rng.integers(0, 2, n))


def _losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    model.train(False)
    with torch.no_grad():
        return nn.functional.cross_entropy(model(x), y, reduction="none").numpy()


def _best_advantage(member_loss: np.ndarray, non_member_loss: np.ndarray) -> float:
    """max over thresholds t of P(member loss <= t) - P(non-member loss <= t)."""
    thresholds = np.concatenate([member_loss, non_member_loss])
    tpr = (member_loss[None, :] <= thresholds[:, None]).mean(axis=1)
    fpr = (non_member_loss[None, :] <= thresholds[:, None]).mean(axis=1)
    return float(np.max(tpr - fpr))


def _allowed(epsilon: float, delta: float) -> float:
    dp_bound = (math.exp(epsilon) - 1 + 2 * delta) / (math.exp(epsilon) + 1)
    dkw = sum(math.sqrt(math.log(2 / ALPHA) / (2 * k)) for k in (MEMBERS, NON_MEMBERS))
    return dp_bound + dkw


def _attack(private: bool) -> float:
    rng = np.random.default_rng(11)
    (xm, ym), (xn, yn) = _population(MEMBERS, rng), _population(NON_MEMBERS, rng)
    model = build_model(ModelSpec("logistic", FEATURES, 2), seed=0)
    if private:
        q, steps = poisson_schedule(SETTINGS, MEMBERS)
        sigma = calibrate_noise_multiplier(EPSILON, DELTA, q, steps)
        gen = torch.Generator().manual_seed(12)
        train_private(model, xm, ym, SETTINGS, noise_multiplier=sigma, clip_norm=1.0, generator=gen)
    else:
        train(model, xm, ym, SETTINGS)
    return _best_advantage(_losses(model, xm, ym), _losses(model, xn, yn))


def test_without_dp_the_attack_beats_what_dp_would_allow():
    assert _attack(private=False) > _allowed(EPSILON, DELTA) + 0.1


def test_with_dp_the_attack_stays_within_the_dp_bound():
    assert _attack(private=True) <= _allowed(EPSILON, DELTA)
