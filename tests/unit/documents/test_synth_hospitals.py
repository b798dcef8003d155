"""Hospital profiles and class mixes: reproducible, and different from one hospital to the next."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fedward.documents.synth import DOCUMENT_CLASSES, HOSPITAL_NAMES
from fedward.documents.synth.classes import TEMPLATE_VARIANTS
from fedward.documents.synth.hospitals import hospital_name, make_profiles
from fedward.documents.synth.split import assign_labels, split_sizes
from fedward.documents.synth.templates import print_page


def test_names_are_fictional_slugs_extended_for_large_federations() -> None:
    assert len(HOSPITAL_NAMES) == 8 and len(set(HOSPITAL_NAMES)) == 8
    assert all(name.isidentifier() and name == name.lower() for name in HOSPITAL_NAMES)
    assert [hospital_name(i) for i in (0, 7, 8, 17)] == ["st_marys", "eastbay", "st_marys_2", "northgate_3"]
    assert DOCUMENT_CLASSES[:8] == (
        "referral_letter",
        "discharge_summary",
        "consent_form",
        "pathology_report",
        "lab_report",
        "insurance_claim",
        "prescription",
        "radiology_report",
    )


def test_profiles_are_reproducible_and_json_ready() -> None:
    first, again = make_profiles(11, 10), make_profiles(11, 10)
    assert first == again
    assert make_profiles(12, 10) != first
    data = json.loads(json.dumps([p.to_json() for p in first]))
    assert set(data[0]["class_mix"]) == set(DOCUMENT_CLASSES)
    assert len({p.name for p in first}) == 10


def test_hospitals_differ_in_mix_style_and_scanner() -> None:
    profiles = make_profiles(0, 8)
    mixes = np.array([p.class_mix for p in profiles])
    assert np.allclose(mixes.sum(axis=1), 1.0)
    assert len({tuple(np.round(m, 6)) for m in mixes}) == 8
    assert len({p.scanner.dpi for p in profiles}) >= 3
    assert {p.scanner.format for p in profiles} == {"png", "jpeg"}
    assert {p.paper for p in profiles} == {"letter", "a4"}
    assert len({p.mrn_format for p in profiles}) == 8
    assert len({(p.body_font, p.letterhead, p.heading_style) for p in profiles}) == 8
    assert all(0 <= v < TEMPLATE_VARIANTS for p in profiles for v in p.variants)
    assert any(p.scanner.low_dpi_rate > 0 and p.scanner.low_dpi < 80 for p in profiles)
    assert max(p.scanner.skew_sd for p in profiles) > 5 * min(p.scanner.skew_sd for p in profiles)


@pytest.mark.parametrize(
    ("pages", "fraction", "expected"),
    [(16, 0.25, (8, 8)), (40, 0.25, (30, 10)), (100, 0.5, (50, 50)), (20, 0.9, (8, 12))],
)
def test_split_sizes_keep_room_for_every_class(
    pages: int, fraction: float, expected: tuple[int, int]
) -> None:
    assert split_sizes(pages, fraction) == expected


def test_labels_cover_every_class_and_follow_the_hospital_mix() -> None:
    profile = make_profiles(0, 1)[0]
    labels = assign_labels(0, 0, profile.class_mix, 400, 0.25)
    assert [len(labels["train"]), len(labels["test"])] == [300, 100]
    for split in ("train", "test"):
        counts = [labels[split].count(c) for c in DOCUMENT_CLASSES]
        assert min(counts) >= 2
    train = np.array([labels["train"].count(c) for c in DOCUMENT_CLASSES]) / 300
    assert np.abs(train - np.array(profile.class_mix)).max() < 0.12
    assert labels == assign_labels(0, 0, profile.class_mix, 400, 0.25)


@pytest.mark.parametrize("label", DOCUMENT_CLASSES)
def test_every_class_prints_at_a_fax_resolution(label: str) -> None:
    from faker import Faker

    profile = make_profiles(5, 2)[1]
    fake = Faker(profile.locale)
    fake.seed_instance(1)
    page = print_page(profile, label, 66, np.random.default_rng(2), fake)
    assert page.image.mode == "L" and page.image.size == (561, 726)
    kinds = {f.kind for f in page.fields}
    assert {"name", "mrn", "dob"} <= kinds
    assert np.asarray(page.image).min() < 100
