"""The public pretraining corpus is disjoint from every federation the generator writes: names and
identities by construction, random draws by the seed domain (documents/synth/public.py, cast.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fedward.documents.synth import HOSPITAL_NAMES, SenderSettings, generate_federation
from fedward.documents.synth import public as public_module
from fedward.documents.synth.cast import FEDERATION_CAST, MAX_SEED, Cast
from fedward.documents.synth.hospitals import FEDERATION_HOSPITALS, HospitalNames, make_profiles
from fedward.documents.synth.public import (
    PUBLIC_CAST,
    PUBLIC_DOMAIN,
    PUBLIC_HOSPITALS,
    PUBLIC_SENDER_NAMES,
    check_disjoint,
    generate_public_corpus,
)
from fedward.documents.synth.senders import SENDER_NAMES, make_pool

SITES = 40  # well past the eight names, so the `_2`, `_3`... forms are covered too


def _slug(display: str) -> str:
    return "_".join(display.lower().split())


def test_public_names_are_never_a_federations() -> None:
    federation = {FEDERATION_HOSPITALS.name(i) for i in range(SITES)}
    public = {PUBLIC_HOSPITALS.name(i) for i in range(SITES)}
    assert len(public) == SITES and not public & federation
    assert not {PUBLIC_HOSPITALS.display_name(i) for i in range(SITES)} & {
        FEDERATION_HOSPITALS.display_name(i) for i in range(SITES)
    }
    public_senders = {n for names in PUBLIC_SENDER_NAMES.values() for n in names}
    federation_senders = {n for names in SENDER_NAMES.values() for n in names}
    assert not public_senders & federation_senders
    assert not {_slug(n) for n in public_senders} & ({_slug(n) for n in federation_senders} | federation)
    check_disjoint(SITES)


def test_check_disjoint_refuses_a_federation_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Power check: a public list holding a federation hospital's name (even its `_3` form) is refused."""
    clashing = HospitalNames(
        (*PUBLIC_HOSPITALS.slugs[:-1], f"{HOSPITAL_NAMES[2]}_3"),
        PUBLIC_HOSPITALS.display,
        PUBLIC_HOSPITALS.locales,
    )
    monkeypatch.setattr(public_module, "PUBLIC_HOSPITALS", clashing)
    with pytest.raises(ValueError, match="riverside_3"):
        check_disjoint(8)
    monkeypatch.setattr(public_module, "PUBLIC_HOSPITALS", PUBLIC_HOSPITALS)
    senders = dict(PUBLIC_SENDER_NAMES) | {
        "insurer": (SENDER_NAMES["insurer"][0], *PUBLIC_SENDER_NAMES["insurer"])
    }
    monkeypatch.setattr(public_module, "PUBLIC_SENDER_NAMES", senders)
    with pytest.raises(ValueError, match=SENDER_NAMES["insurer"][0]):
        check_disjoint(8)


@pytest.mark.parametrize("seed", [0, 1, 2024, MAX_SEED - 1])
def test_public_draws_differ_from_a_federation_with_the_same_seed(seed: int) -> None:
    public = make_profiles(PUBLIC_CAST.entropy_seed(seed), 8, PUBLIC_HOSPITALS)
    federation = make_profiles(seed, 8)
    for p, f in zip(public, federation, strict=True):
        assert p.class_mix != f.class_mix and (*p.variants, p.body_pt) != (*f.variants, f.body_pt)
    public_pool = make_pool(PUBLIC_CAST.entropy_seed(seed), SenderSettings(), PUBLIC_SENDER_NAMES)
    federation_pool = make_pool(seed, SenderSettings())
    assert [s.versions[0].accent_grey for s in public_pool] != [
        s.versions[0].accent_grey for s in federation_pool
    ]


def test_without_the_seed_domain_the_draws_coincide() -> None:
    """Power check: the same names with the federation's seed domain repeat a federation's draws exactly."""
    same_domain = make_profiles(FEDERATION_CAST.entropy_seed(7), 4, PUBLIC_HOSPITALS)
    federation = make_profiles(7, 4)
    assert [p.class_mix for p in same_domain] == [f.class_mix for f in federation]


def test_every_public_stream_has_the_domain_as_its_second_entropy_word() -> None:
    """The argument of cast.py: numpy reads a public stream's input as the words [seed, PUBLIC_DOMAIN, ...],
    where a federation's second word is a stream number (< 2**16), so no SeedSequence input is shared."""
    for seed in (0, 5, MAX_SEED - 1):
        for tail in ([0], [1, 3, 17], [5, 2]):
            public = np.random.SeedSequence([PUBLIC_CAST.entropy_seed(seed), *tail])
            as_words = np.random.SeedSequence([seed, PUBLIC_DOMAIN, *tail])
            assert list(public.generate_state(8)) == list(as_words.generate_state(8))
            assert PUBLIC_DOMAIN >= 2**16


def test_seeds_and_domains_are_bounded() -> None:
    """The argument needs one-word seeds and a domain above every stream number: both are enforced."""
    with pytest.raises(ValueError, match="2\\*\\*32"):
        FEDERATION_CAST.entropy_seed(MAX_SEED)
    with pytest.raises(ValueError, match="domain"):
        Cast(domain=5)
    with pytest.raises(ValueError, match="seed"):
        generate_federation(Path("unused"), 1, 16, MAX_SEED)


def test_a_public_corpus_holds_only_public_hospitals_and_senders(tmp_path: Path) -> None:
    summaries = generate_public_corpus(tmp_path / "corpus", 1, 16, 3)
    assert [s.name for s in summaries] == [PUBLIC_HOSPITALS.name(0)]
    record = json.loads((tmp_path / "corpus" / "senders.json").read_text())
    public_slugs = {_slug(n) for names in PUBLIC_SENDER_NAMES.values() for n in names}
    assert {s["name"] for s in record["pool"]} <= public_slugs
    truth_file = tmp_path / "corpus" / summaries[0].name / "train" / "truth.jsonl"
    truth = [json.loads(line) for line in truth_file.read_text().splitlines()]
    assert {t["sender"] for t in truth} <= public_slugs | {PUBLIC_HOSPITALS.name(0)}
