"""Patients in the synthetic federation (senders mode): several pages a patient, each patient's pages at
one hospital and in one split, seeded, and the default output without patient keys."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from fedward.documents.synth import HOSPITAL_NAMES, SenderSettings, generate_federation
from fedward.documents.synth.patients import MAX_PAGES_PER_PATIENT, assign_patients


def test_patients_have_several_pages_in_one_split():
    keys = assign_patients(7, 0, "h", {"train": 300, "test": 100})
    assert [len(keys["train"]), len(keys["test"])] == [300, 100]
    assert not set(keys["train"]) & set(keys["test"])
    pages = Counter(keys["train"] + keys["test"])
    assert max(pages.values()) <= MAX_PAGES_PER_PATIENT
    assert 1 in pages.values() and max(pages.values()) >= 4  # both single-page and many-page patients
    assert 1.7 < 400 / len(pages) < 2.8  # about 2.2 pages a patient
    assert assign_patients(7, 0, "h", {"train": 300, "test": 100}) == keys  # seeded
    assert assign_patients(7, 1, "h", {"train": 300, "test": 100}) != keys  # per hospital


def test_the_generator_writes_each_pages_patient_in_its_truth(tmp_path: Path):
    out = tmp_path / "fed"
    generate_federation(out, 2, 24, 3, senders=SenderSettings())
    owners: dict[str, set[tuple[str, str]]] = {}
    for hospital in HOSPITAL_NAMES[:2]:
        for split in ("train", "test"):
            for line in (out / hospital / split / "truth.jsonl").read_text().splitlines():
                owners.setdefault(json.loads(line)["patient"], set()).add((hospital, split))
    assert all(len(places) == 1 for places in owners.values())  # one hospital, one split
    assert len(owners) < 48  # some patient has several pages
