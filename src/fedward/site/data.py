"""A site's local data as the site node sees it: feature arrays and string labels, train and test, and
the validation split a site carves from its training records for personalization (`with_validation`).

Document sites may also know who sent each page (`sender`, from labels.csv) and whose it is (`patient`):
the sender tuples say which test records come from a sender the site's own training records hold (seen)
and which do not (unseen); the patient keys are carried for the privacy unit. Both are empty when the
site's labels.csv has no such column, and always for tabular data.

Labels stay strings at the site; the coordinator sends the federation's class list with each task and
the site maps its labels onto it, so no site has to know another site's classes in advance.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from fedward.documents.quality import PageQuality

__all__ = ["LocalData", "encode_labels", "with_validation"]


@dataclass(frozen=True)
class LocalData:
    """`train_x`/`test_x` are float32: `[n, features]` for tabular data, `[n, 1, s, s]` for page images."""

    train_x: npt.NDArray[np.float32]
    train_y: tuple[str, ...]
    test_x: npt.NDArray[np.float32]
    test_y: tuple[str, ...]
    features: tuple[str, ...] = ()
    # held out of every training run (federation, fine-tuning, the site's own model) to choose between
    # them; empty unless personalization carved it (`with_validation`)
    val_x: npt.NDArray[np.float32] | None = None
    val_y: tuple[str, ...] = ()
    # per record, in the same order as the labels ("" an unknown sender); empty: no sender column
    train_senders: tuple[str, ...] = ()
    test_senders: tuple[str, ...] = ()
    val_senders: tuple[str, ...] = ()
    # the patient each training record belongs to (labels.csv's `patient` column, `[data]
    # patient_column` for tabular data), aligned with `train_y`; empty when the data names no patients
    train_patients: tuple[str, ...] = ()
    val_patients: tuple[str, ...] = ()
    # documents: each test page's quality as the site's own preprocessing measured it, aligned with
    # `test_y` (validation groups the test results by its bands); empty for tabular data
    test_quality: tuple[PageQuality, ...] = ()

    def __post_init__(self) -> None:
        for name, values, labels in (
            ("train_senders", self.train_senders, self.train_y),
            ("test_senders", self.test_senders, self.test_y),
            ("val_senders", self.val_senders, self.val_y),
            ("train_patients", self.train_patients, self.train_y),
            ("val_patients", self.val_patients, self.val_y),
            ("test_quality", self.test_quality, self.test_y),
        ):
            if values and len(values) != len(labels):
                raise ValueError(f"{name}: {len(values)} entries for {len(labels)} records")

    @property
    def has_senders(self) -> bool:
        """Whether the site knows its test records' senders (its labels.csv has a sender column)."""
        return bool(self.test_senders)

    @property
    def seen_senders(self) -> frozenset[str]:
        """The known senders of every training record, the validation split included: a test record
        whose sender is here comes from a sender this hospital has already seen."""
        return frozenset(s for s in self.train_senders + self.val_senders if s)

    @property
    def num_patients(self) -> int:
        """How many distinct patients the training records belong to (0 when no patient keys are given)."""
        return len(set(self.train_patients))

    @property
    def standardizable(self) -> bool:
        """Tabular features get the federated standardization; images are normalized by the pipeline."""
        return self.train_x.ndim == 2

    @property
    def all_train(self) -> tuple[npt.NDArray[np.float32], tuple[str, ...]]:
        """Every training record, the validation split included (what a model refit after the choice and
        the simulation's baselines train on)."""
        if self.val_x is None or not self.val_y:
            return self.train_x, self.train_y
        return np.concatenate([self.train_x, self.val_x]), self.train_y + self.val_y


def with_validation(data: LocalData, fraction: float, seed: int, site: str) -> LocalData:
    """`data` with `fraction` of its training records moved to a validation split: stratified by label
    (each class with at least two records gives round(fraction * n), at least one, and keeps at least one
    for training), drawn by a generator seeded from `seed` and the site's name, so the split is the same
    in a simulation and in the deployed site. When the data names patients the split is by patient
    instead (`_patient_validation`): all of a patient's records land on the same side."""
    digest = int.from_bytes(hashlib.sha256(site.encode()).digest()[:8], "big")
    rng = np.random.default_rng([seed, digest])
    if data.train_patients:
        return _split(data, _patient_validation(data, fraction, rng))
    labels = np.asarray(data.train_y)
    held: list[int] = []
    for label in sorted(set(data.train_y)):
        rows = np.flatnonzero(labels == label)
        if len(rows) < 2:
            continue
        take = min(max(1, round(fraction * len(rows))), len(rows) - 1)
        held.extend(int(i) for i in rng.permutation(rows)[:take])
    val = np.zeros(len(labels), dtype=bool)
    val[held] = True
    return _split(data, val)


def _patient_validation(data: LocalData, fraction: float, rng: np.random.Generator) -> npt.NDArray[np.bool_]:
    """Which records go to validation when patients are given: round(fraction * patients) whole patients
    (at least one, and at least one patient kept for training when there are two or more), stratified by
    each patient's most frequent label (ties: the smallest), so the classes stay spread over both sides."""
    records: dict[str, list[int]] = {}
    for i, patient in enumerate(data.train_patients):
        records.setdefault(patient, []).append(i)
    strata: dict[str, list[str]] = {}
    for patient in sorted(records):
        counts = Counter(data.train_y[i] for i in records[patient])
        top = min(counts, key=lambda label: (-counts[label], label))
        strata.setdefault(top, []).append(patient)
    held: list[str] = []
    for label in sorted(strata):
        patients = strata[label]
        if len(patients) < 2:
            continue
        take = min(max(1, round(fraction * len(patients))), len(patients) - 1)
        held.extend(patients[int(i)] for i in rng.permutation(len(patients))[:take])
    val = np.zeros(len(data.train_y), dtype=bool)
    for patient in held:
        val[records[patient]] = True
    return val


def _split(data: LocalData, val: npt.NDArray[np.bool_]) -> LocalData:
    keep = np.flatnonzero(~val)
    out = np.flatnonzero(val)

    def pick(values: tuple[str, ...], rows: npt.NDArray[np.intp]) -> tuple[str, ...]:
        return tuple(values[i] for i in rows) if values else ()

    return replace(
        data,
        train_x=data.train_x[keep],
        train_y=pick(data.train_y, keep),
        val_x=data.train_x[out],
        val_y=pick(data.train_y, out),
        train_senders=pick(data.train_senders, keep),
        val_senders=pick(data.train_senders, out),
        train_patients=pick(data.train_patients, keep),
        val_patients=pick(data.train_patients, out),
    )


def encode_labels(labels: Sequence[str], classes: Sequence[str]) -> npt.NDArray[np.int64]:
    """Map string labels to class indices; a label outside `classes` is an error naming it."""
    index = {c: i for i, c in enumerate(classes)}
    try:
        return np.fromiter((index[label] for label in labels), dtype=np.int64, count=len(labels))
    except KeyError as exc:
        raise ValueError(f"label {exc.args[0]!r} is not one of the federation's classes") from None
