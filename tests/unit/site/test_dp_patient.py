"""DP-SGD with the patient as the privacy unit: a patient with many pages moves the noiseless gradient sum
by at most clip_norm (attack: one patient on 50 pages; power checks: per-record clipping, and the
per-patient clip monkeypatched away, let the same patient through at ~50 x clip_norm), sampling takes a
patient's records in or out together, and the event is accounted like any sampled Gaussian mechanism."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from opacus import GradSampleModule
from opacus.optimizers import DPOptimizer
from torch import nn

from fedward.models import ModelSpec, build_model, model_arrays
from fedward.privacy import PrivacyEvent, compute_epsilon
from fedward.site import TrainSettings, dp_trainer
from fedward.site.dp_trainer import clip_per_patient, patient_members, sample_patients, train_private

CLIP = 1.0
PAGES = 50  # the attacked patient's pages
SPEC = ModelSpec("logistic", 6, 3)
VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "dp-epsilon.json").read_text())


def _patient_pages(n: int = PAGES, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pages whose gradients each exceed the clip (large inputs), all the same class: they add up."""
    gen = torch.Generator().manual_seed(seed)
    return 20 * torch.randn(n, 6, generator=gen).abs(), torch.zeros(n, dtype=torch.long)


def _others(n: int = 9, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 6, generator=gen), torch.randint(0, 3, (n,), generator=gen)
    return x, y, [f"other-{i}" for i in range(n)]


def _per_record_grads(x: torch.Tensor, y: torch.Tensor) -> tuple[nn.Module, list[torch.Tensor]]:
    model = GradSampleModule(build_model(SPEC, seed=0), loss_reduction="sum")
    loss = nn.functional.cross_entropy(model(x.requires_grad_(True)), y, reduction="sum")
    loss.backward()
    return model, [p.grad_sample for p in model.parameters()]


def _norm(tensors) -> float:
    return float(torch.sqrt(sum((t.double() ** 2).sum() for t in tensors)))


# (a) one patient on 50 pages -------------------------------------------------------------------------


def test_one_patients_summed_clipped_gradient_is_bounded_by_clip_norm():
    x, y = _patient_pages()
    _, grads = _per_record_grads(x, y)
    assert all(_norm([g[i] for g in grads]) > CLIP for i in range(PAGES))  # every page alone is clipped
    contribution = clip_per_patient(grads, torch.zeros(PAGES, dtype=torch.long), CLIP)
    assert _norm(contribution) <= CLIP * (1 + 1e-5)


def test_power_check_per_record_clipping_lets_the_same_patient_through_at_up_to_50_clip_norms():
    """The record path (Opacus DPOptimizer, per-record clipping) on the same 50 pages."""
    x, y = _patient_pages()
    module, _ = _per_record_grads(x, y)
    optimizer = DPOptimizer(
        torch.optim.SGD(module.parameters(), lr=1.0),
        noise_multiplier=1.0,
        max_grad_norm=CLIP,
        expected_batch_size=PAGES,
    )
    optimizer.clip_and_accumulate()
    summed = [p.summed_grad for p in module.parameters()]
    assert _norm(summed) > 10 * CLIP  # far beyond the one-clip bound the patient unit gives
    assert _norm(summed) <= PAGES * CLIP * (1 + 1e-5)


def _noiseless_sum(x, y, groups, monkeypatch=None) -> np.ndarray:
    """The gradient sum one full-batch DP-SGD step adds (noise 1e-12, SGD lr 1, no momentum): recovered
    from the model change times the expected batch (units, since q = 1)."""
    model = build_model(SPEC, seed=0)
    before = model_arrays(model)
    settings = TrainSettings(epochs=1, batch_size=10_000, lr=1.0, momentum=0.0)
    gen = torch.Generator().manual_seed(0)
    _, event = train_private(
        model, x, y, settings, noise_multiplier=1e-12, clip_norm=CLIP, generator=gen, groups=groups
    )
    assert event.sample_rate == 1.0 and event.steps == 1
    units = len(x) if groups is None else len(set(groups))
    after = model_arrays(model)
    return np.concatenate([(before[k] - after[k]).ravel() * units for k in sorted(before)])


def _with_and_without_patient():
    px, py = _patient_pages()
    ox, oy, ogroups = _others()
    with_p = (torch.cat([ox, px]), torch.cat([oy, py]), ogroups + ["patient-P"] * PAGES)
    return with_p, (ox, oy, ogroups)


def test_training_with_the_patient_moves_the_noiseless_sum_by_at_most_clip_norm():
    (x1, y1, g1), (x0, y0, g0) = _with_and_without_patient()
    moved = np.linalg.norm(_noiseless_sum(x1, y1, g1) - _noiseless_sum(x0, y0, g0))
    assert moved <= CLIP * (1 + 1e-4)
    assert moved > 0.5 * CLIP  # the patient is really there, clipped to (about) the bound


def test_power_check_training_per_record_moves_the_sum_by_far_more_than_clip_norm():
    (x1, y1, _), (x0, y0, _) = _with_and_without_patient()
    moved = np.linalg.norm(_noiseless_sum(x1, y1, None) - _noiseless_sum(x0, y0, None))
    assert moved > 10 * CLIP


def test_power_check_with_the_per_patient_clip_monkeypatched_to_per_record(monkeypatch):
    real = dp_trainer.clip_per_patient

    def per_record(grads, patient_of, clip_norm):  # each record its own "patient": the defence is off
        return real(grads, torch.arange(len(patient_of)), clip_norm)

    monkeypatch.setattr(dp_trainer, "clip_per_patient", per_record)
    (x1, y1, g1), (x0, y0, g0) = _with_and_without_patient()
    moved = np.linalg.norm(_noiseless_sum(x1, y1, g1) - _noiseless_sum(x0, y0, g0))
    assert moved > 10 * CLIP


# (c) sampling is over patients -----------------------------------------------------------------------


def test_sampling_takes_a_patients_records_in_or_out_together():
    groups = [f"p{i % 7}" for i in range(60)]  # 7 patients, their pages interleaved
    members = patient_members(groups)
    owner = {i: groups[i] for i in range(60)}
    gen = torch.Generator().manual_seed(3)
    sizes = []
    for idx in sample_patients(members, 0.4, 200, gen):
        drawn = {owner[int(i)] for i in idx}
        assert sorted(int(i) for i in idx) == sorted(i for i in range(60) if owner[i] in drawn)
        sizes.append(len(drawn))
    assert 0 in sizes and max(sizes) >= 5  # Poisson: empty and large samples both happen
    assert np.mean(sizes) == pytest.approx(0.4 * 7, rel=0.15)


def test_train_private_samples_patients_and_reports_q_over_patients(monkeypatch):
    x, y = torch.randn(60, 6), torch.randint(0, 3, (60,))
    groups = [f"p{i // 6}" for i in range(60)]  # 10 patients with 6 pages each
    seen: list[set[str]] = []
    real = dp_trainer._patient_step

    def spy(module, params, optimizer, batch, noise, weight):
        bx = batch[0]
        rows = [int(torch.nonzero((x == r).all(dim=1))[0]) for r in bx]
        seen.append({groups[i] for i in rows})
        assert len(rows) == 6 * len(seen[-1])  # every page of every drawn patient
        return real(module, params, optimizer, batch, noise, weight)

    monkeypatch.setattr(dp_trainer, "_patient_step", spy)
    settings = TrainSettings(epochs=2, batch_size=2, lr=0.1)
    _, event = train_private(
        build_model(SPEC, seed=0),
        x,
        y,
        settings,
        noise_multiplier=1.0,
        clip_norm=CLIP,
        generator=torch.Generator().manual_seed(0),
        groups=groups,
    )
    assert event == PrivacyEvent(1.0, 0.2, 10)  # q = 2 / 10 patients, round(1/q) steps an epoch
    assert len(seen) == 10


def test_groups_must_name_every_record():
    with pytest.raises(ValueError, match="3 patient keys for 4 records"):
        train_private(
            build_model(SPEC, seed=0),
            torch.randn(4, 6),
            torch.zeros(4, dtype=torch.long),
            TrainSettings(),
            noise_multiplier=1.0,
            clip_norm=CLIP,
            generator=torch.Generator(),
            groups=["a", "b", "c"],
        )


# (b) accounting --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row",
    VECTORS["poisson_subsampled_gaussian"],
    ids=lambda r: f"s{r['noise_multiplier']}-q{r['sample_rate']}-T{r['steps']}",
)
def test_the_patient_recipes_event_gives_dp_accountings_epsilon(row):
    """The patient path reports (sigma, q over patients, steps); accounted, that is dp-accounting's
    epsilon for the sampled Gaussian mechanism with those figures, per patient."""
    patients = 200
    batch = round(row["sample_rate"] * patients)
    if batch / patients != row["sample_rate"]:
        pytest.skip("sample rate not a multiple of 1/200")
    q, _ = dp_trainer.poisson_schedule(TrainSettings(batch_size=batch), patients)
    assert q == row["sample_rate"]
    event = PrivacyEvent(row["noise_multiplier"], q, row["steps"])
    report = compute_epsilon([event], row["delta"])
    assert report.values["rdp"] == pytest.approx(row["epsilon_rdp_dp_accounting_0_6"], abs=2e-6)
    assert report.values["pld"] == pytest.approx(row["epsilon_pld_disc_1e-4"], abs=2e-6)


def test_a_training_runs_event_accounts_to_dp_accounting_directly():
    """One real patient-unit run's event, checked against dp-accounting itself (not stored vectors)."""
    dp_accounting = pytest.importorskip("dp_accounting")
    x, y = torch.randn(90, 6), torch.randint(0, 3, (90,))
    groups = [f"p{i // 3}" for i in range(90)]  # 30 patients
    _, event = train_private(
        build_model(SPEC, seed=0),
        x,
        y,
        TrainSettings(epochs=3, batch_size=6, lr=0.1),
        noise_multiplier=1.3,
        clip_norm=CLIP,
        generator=torch.Generator().manual_seed(0),
        groups=groups,
    )
    assert event == PrivacyEvent(1.3, 0.2, 15)
    acc = dp_accounting.rdp.RdpAccountant()
    acc.compose(dp_accounting.PoissonSampledDpEvent(0.2, dp_accounting.GaussianDpEvent(1.3)), count=15)
    expected = acc.get_epsilon(1e-5)
    assert compute_epsilon([event], 1e-5).values["rdp"] == pytest.approx(expected, rel=1e-6)
