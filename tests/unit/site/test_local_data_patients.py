"""LocalData's patient keys: aligned with the training records, and the validation split keeps each
patient's records on one side (a patient split across it would leak into the records that choose the
model, and break the per-patient bound of DP-SGD for the records left in training)."""

import numpy as np
import pytest

from fedward.site.data import LocalData, with_validation


def _data(patients: tuple[str, ...], labels: tuple[str, ...]) -> LocalData:
    n = len(labels)
    x = np.arange(n, dtype=np.float32).reshape(n, 1)
    return LocalData(x, labels, x[:2], labels[:2], ("f",), train_patients=patients)


def test_patient_keys_must_match_the_training_records():
    with pytest.raises(ValueError, match="train_patients: 2 entries for 3 records"):
        _data(("a", "b"), ("0", "1", "0"))


@pytest.mark.parametrize("seed", range(5))
def test_the_validation_split_keeps_each_patients_records_together(seed):
    rng = np.random.default_rng(seed)
    patients = tuple(f"p{int(i)}" for i in rng.integers(0, 30, size=200))  # 1 to ~15 pages a patient
    labels = tuple(str(int(i)) for i in rng.integers(0, 3, size=200))
    data = _data(patients, labels)
    split = with_validation(data, 0.2, seed, "site_a")
    assert split.val_x is not None
    val_rows = {int(v) for v in split.val_x[:, 0]}
    train_rows = {int(v) for v in split.train_x[:, 0]}
    assert val_rows.isdisjoint(train_rows) and len(val_rows) + len(train_rows) == 200
    val_patients = {patients[i] for i in val_rows}
    assert val_patients.isdisjoint(set(split.train_patients))
    assert split.train_patients == tuple(patients[i] for i in sorted(train_rows))
    assert 0.1 < len(val_patients) / data.num_patients < 0.3
    assert split.num_patients + len(val_patients) == data.num_patients


def test_without_patients_the_record_split_is_unchanged():
    labels = tuple(str(i % 2) for i in range(20))
    split = with_validation(_data((), labels), 0.25, 0, "s")
    assert split.train_patients == () and len(split.val_y) == 4  # round(0.25 * 10) = 2 per class
