"""Record-level differentially private local training: DP-SGD (Abadi et al. 2016) through Opacus.

Each step draws a Poisson sample (every record joins independently with probability q = batch_size / n),
computes per-record gradients (Opacus `GradSampleModule`), clips each to L2 norm `clip_norm`, sums them,
adds N(0, (noise_multiplier * clip_norm)^2) noise per coordinate and divides by the expected batch size q*n
(Opacus `DPOptimizer`); the base optimizer (SGD or Adam from `TrainSettings`) then takes its step, which is
post-processing. Sampling and noise both come from the caller's generator, which must be secret
(`fedward.privacy.secure_torch_generator`): the guarantee needs both to be unpredictable. One call is
`epochs * round(1/q)` compositions of the sampled Gaussian mechanism, returned as a `PrivacyEvent` for the
accountant (Mironov, Talwar & Zhang 2019).

How `TrainSettings` maps: `batch_size` sets q (and q = 1, the full batch, when batch_size >= n);
`epochs`, `lr`, `momentum`, `optimizer`, `weight_decay` apply as in `train`; `train_part = "head"` freezes
all but the final layer (`training_part`), so per-record gradients are computed, clipped and noised for
the head's parameters only and the frozen tensors leave unchanged; `max_grad_norm` is ignored,
superseded by the per-record `clip_norm`; `seed` is unused (randomness comes from `generator`).
`class_weights` weight each record's loss by its class's weight (see `_step`).
`proximal_mu > 0` is refused: FedProx's proximal term is not a sum of per-record terms, so Opacus cannot
clip it per record.

The patient as the unit (`groups` given, one patient key per record; `[privacy] unit = "patient"`): each
step Poisson-samples PATIENTS (each joins with probability q = batch_size / patients; q = 1 when
batch_size >= patients) and takes all their records, computes per-record gradients (Opacus
`GradSampleModule`), sums them per patient, clips each patient's sum to `clip_norm`, sums over patients,
adds N(0, (noise_multiplier * clip_norm)^2) per coordinate (Opacus's secure-mode noise from the same
generator) and divides by the expected number of patients q * patients. Adding or removing one patient
with any number of records then moves the noiseless sum by at most `clip_norm`: the sampled Gaussian
mechanism with the patient as the unit, so the event (noise_multiplier, q over patients, steps) is
accounted exactly as the record path's. Opacus's `DPOptimizer` clips per record, so this path is a small
hand-written part (`_patient_step`, `clip_per_patient`, `sample_patients`); the record path is Opacus's.
Class weights apply to each record's loss before its patient's sum is clipped, so the bound is unchanged.

The caller's module is trained in place and handed back clean: Opacus's hooks and the attributes it puts on
modules and parameters are removed even when training fails, so the same module can be reused for private
or plain training. The returned loss is computed on the raw data without noise: it is NOT covered by the
privacy guarantee and must not leave the site as is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from opacus import GradSampleModule
from opacus.optimizers import DPOptimizer
from opacus.optimizers.optimizer import _generate_noise
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from torch import nn

from fedward.privacy import PrivacyEvent, dpsgd_schedule
from fedward.settings import TrainSettings
from fedward.site.trainer import build_optimizer, class_weight_tensor, training_part

__all__ = ["clip_per_patient", "patient_members", "poisson_schedule", "sample_patients", "train_private"]

_Snapshot = tuple[dict[int, set[str]], dict[int, set[str]]]


def poisson_schedule(settings: TrainSettings, num_samples: int) -> tuple[float, int]:
    """(sample_rate, steps) that `train_private` will use on `num_samples` records: for calibrating
    the noise multiplier before training (`fedward.privacy.dpsgd_schedule` with these settings)."""
    return dpsgd_schedule(settings.batch_size, settings.epochs, num_samples)


def _check(settings: TrainSettings, noise_multiplier: float, clip_norm: float) -> None:
    if settings.proximal_mu > 0:
        raise ValueError(
            "DP-SGD cannot use FedProx's proximal term (proximal_mu > 0): it is not a per-record loss, so "
            "its gradient cannot be clipped per record; set proximal_mu = 0 or use fedavg"
        )
    if not (math.isfinite(noise_multiplier) and noise_multiplier > 0):
        raise ValueError(f"noise_multiplier must be a finite number > 0, got {noise_multiplier}")
    if not (math.isfinite(clip_norm) and clip_norm > 0):
        raise ValueError(f"clip_norm must be a finite number > 0, got {clip_norm}")


def _snapshot(model: nn.Module) -> _Snapshot:
    modules = {id(m): set(vars(m)) for m in model.modules()}
    params = {id(p): set(vars(p)) for p in model.parameters()}
    return modules, params


def _restore(model: nn.Module, snapshot: _Snapshot) -> None:
    """Delete every attribute Opacus added to the model's modules and parameters, and the noisy grads."""
    modules, params = snapshot
    for m in model.modules():
        for name in set(vars(m)) - modules.get(id(m), set()):
            delattr(m, name)
    for p in model.parameters():
        for name in set(vars(p)) - params.get(id(p), set()):
            delattr(p, name)
        p.grad = None


def _wrap(model: nn.Module) -> GradSampleModule:
    try:
        return GradSampleModule(model, batch_first=True, loss_reduction="sum", strict=True)
    except NotImplementedError as exc:
        raise ValueError(f"model not supported by DP-SGD (Opacus): {exc}") from exc


def _step(
    module: GradSampleModule,
    optimizer: DPOptimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> float:
    """One DP-SGD step on the drawn batch (possibly empty: then only noise moves the model)."""
    optimizer.zero_grad(set_to_none=True)
    # Inputs that require grad keep torch's full backward hooks firing on inputs, as Opacus expects, and
    # avoid torch's "no inputs require gradients" warning on the first layer.
    # With class weights the summed loss is sum_i w_{y_i} l_i: still a sum of per-record terms, so each
    # record's gradient is w_{y_i} grad l_i, which Opacus clips to clip_norm like any other. The weights
    # (public: computed from label counts before training) change what a record's gradient points at,
    # never the bound on it, so the sensitivity and the privacy analysis are unchanged. Reduction "sum"
    # (not PyTorch's weighted mean, which divides by the batch's summed weights and would couple the
    # records) and the optimizer's division by the expected batch size keep it per record; "balanced"
    # weights average 1 over the training set, so the step size stays what it was on average. A record
    # whose weighted gradient exceeds clip_norm is rescaled to clip_norm, so its weight then drops out:
    # the weights act only on records below the clip.
    logits = module(x.detach().requires_grad_(True))
    loss = nn.functional.cross_entropy(logits, y, weight=weight, reduction="sum")
    torch.autograd.backward(loss)
    optimizer.step()
    return float(loss.detach())


def _run(
    module: GradSampleModule,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    settings: TrainSettings,
    noise_multiplier: float,
    clip_norm: float,
    generator: torch.Generator,
) -> tuple[float, int]:
    """The DP-SGD loop; returns (summed loss, records drawn)."""
    q, steps = poisson_schedule(settings, len(x))
    optimizer = DPOptimizer(
        build_optimizer(model, settings),
        noise_multiplier=noise_multiplier,
        max_grad_norm=clip_norm,
        expected_batch_size=q * len(x),
        loss_reduction="mean",  # divide the noisy sum by the expected batch size q*n
        generator=generator,
        secure_mode=True,  # noise robust to floating-point attacks (Mironov 2012; Opacus docs)
    )
    sampler = UniformWithReplacementSampler(
        num_samples=len(x), sample_rate=q, generator=generator, steps=steps
    )
    weight = class_weight_tensor(settings)
    total, drawn = 0.0, 0
    for batch in sampler:
        idx = torch.as_tensor(batch, dtype=torch.long)
        total += _step(module, optimizer, x[idx], y[idx], weight)
        drawn += len(idx)
    return total, drawn


def patient_members(groups: Sequence[str]) -> list[torch.Tensor]:
    """The record indices of each patient, patients in sorted key order."""
    rows: dict[str, list[int]] = {}
    for i, key in enumerate(groups):
        rows.setdefault(key, []).append(i)
    return [torch.as_tensor(rows[k], dtype=torch.long) for k in sorted(rows)]


def sample_patients(
    members: Sequence[torch.Tensor], sample_rate: float, steps: int, generator: torch.Generator
) -> Iterator[torch.Tensor]:
    """`steps` Poisson samples over patients: each patient joins a step with probability `sample_rate`,
    independently, and brings all of their records; yields (patient indices, record indices)."""
    sampler = UniformWithReplacementSampler(
        num_samples=len(members), sample_rate=sample_rate, generator=generator, steps=steps
    )
    for batch in sampler:
        chosen = [int(i) for i in batch]
        if chosen:
            yield torch.cat([members[i] for i in chosen])
        else:
            yield torch.zeros(0, dtype=torch.long)


def clip_per_patient(
    grad_samples: Sequence[torch.Tensor], patient_of: torch.Tensor, clip_norm: float
) -> list[torch.Tensor]:
    """Sum per-record gradients (one `[records, *shape]` tensor per parameter) by patient (`patient_of`:
    each record's patient index, 0..k-1), clip each patient's summed gradient to L2 norm `clip_norm`
    over all parameters together, and return the sum over patients, one tensor per parameter."""
    k = int(patient_of.max()) + 1 if len(patient_of) else 0
    summed = [
        torch.zeros((k, *g.shape[1:]), dtype=g.dtype).index_add_(0, patient_of, g) for g in grad_samples
    ]
    norms = torch.stack([s.reshape(k, -1).norm(dim=1) for s in summed]).norm(dim=0)
    factor = (clip_norm / (norms + 1e-6)).clamp(max=1.0)
    return [torch.einsum("k,k...->...", factor, s) for s in summed]


def _grad_sample(p: nn.Parameter) -> torch.Tensor:
    """The per-record gradients Opacus put on `p` for this step's one forward pass."""
    sample = vars(p).get("grad_sample")
    if not isinstance(sample, torch.Tensor):
        raise RuntimeError("Opacus computed no per-record gradients for a trained parameter")
    return sample


def _patient_step(
    module: GradSampleModule,
    params: list[nn.Parameter],
    optimizer: torch.optim.Optimizer,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    noise: tuple[float, float, float, torch.Generator],
    weight: torch.Tensor | None,
) -> float:
    """One DP-SGD step with the patient as the unit on the drawn patients' records (`batch`: inputs,
    labels, each record's patient index within the batch); `noise` is (multiplier, clip_norm, expected
    patients per step, generator)."""
    x, y, patient_of = batch
    sigma, clip_norm, expected, generator = noise
    module.zero_grad(set_to_none=True)
    optimizer.zero_grad(set_to_none=True)
    loss_value = 0.0
    if len(x):
        logits = module(x.detach().requires_grad_(True))
        loss = nn.functional.cross_entropy(logits, y, weight=weight, reduction="sum")
        torch.autograd.backward(loss)
        loss_value = float(loss.detach())
        clipped = clip_per_patient([_grad_sample(p) for p in params], patient_of, clip_norm)
    else:  # no patient drawn: only noise moves the model
        clipped = [torch.zeros_like(p) for p in params]
    module.set_grad_sample_to_none()  # the per-record gradients are spent
    for p, c in zip(params, clipped, strict=True):  # replaces the raw batch gradient backward left
        p.grad = (c + _generate_noise(sigma * clip_norm, p, generator, secure_mode=True)) / expected
    optimizer.step()
    return loss_value


def _run_patients(
    module: GradSampleModule,
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    groups: Sequence[str],
    settings: TrainSettings,
    noise_multiplier: float,
    clip_norm: float,
    generator: torch.Generator,
) -> tuple[float, int]:
    """The DP-SGD loop with the patient as the unit; returns (summed loss, records drawn)."""
    x, y = data
    members = patient_members(groups)
    q, steps = poisson_schedule(settings, len(members))
    patient_index = torch.empty(len(x), dtype=torch.long)
    for i, rows in enumerate(members):
        patient_index[rows] = i
    optimizer = build_optimizer(model, settings)
    params = [p for p in model.parameters() if p.requires_grad]
    weight = class_weight_tensor(settings)
    noise = (noise_multiplier, clip_norm, q * len(members), generator)
    total, drawn = 0.0, 0
    for idx in sample_patients(members, q, steps, generator):
        _, local = torch.unique(patient_index[idx], return_inverse=True)
        total += _patient_step(module, params, optimizer, (x[idx], y[idx], local), noise, weight)
        drawn += len(idx)
    return total, drawn


def train_private(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    settings: TrainSettings,
    *,
    noise_multiplier: float,
    clip_norm: float,
    generator: torch.Generator,
    groups: Sequence[str] | None = None,
) -> tuple[float, PrivacyEvent]:
    """DP-SGD in place on (x, y); returns the mean training loss per drawn record (NaN if none was drawn;
    not private) and the privacy event spent. With `groups` (each record's patient key) the patient is
    the unit: patients are sampled and each patient's summed gradient is clipped."""
    _check(settings, noise_multiplier, clip_norm)
    if groups is not None and len(groups) != len(x):
        raise ValueError(f"groups has {len(groups)} patient keys for {len(x)} records")
    units = len(x) if groups is None else len(set(groups))
    q, steps = poisson_schedule(settings, units)
    snapshot = _snapshot(model)
    model.train()
    module: GradSampleModule | None = None
    with training_part(model, settings.train_part):
        try:
            module = _wrap(model)
            if groups is None:
                total, drawn = _run(module, model, x, y, settings, noise_multiplier, clip_norm, generator)
            else:
                total, drawn = _run_patients(
                    module, model, (x, y), groups, settings, noise_multiplier, clip_norm, generator
                )
        finally:
            if module is not None:
                module.to_standard_module()
            _restore(model, snapshot)
    return (total / drawn if drawn else math.nan), PrivacyEvent(noise_multiplier, q, steps)
