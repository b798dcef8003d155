"""Outside senders in the synthetic federation: truth records, later-in-time test splits holding senders a
hospital never trained on (but another did), determinism, and the default output left unchanged."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import faker
import matplotlib
import numpy as np
import PIL
import pytest

from fedward.documents.synth import HOSPITAL_NAMES, SenderSettings, generate_federation
from fedward.documents.synth.classes import DOCUMENT_CLASSES
from fedward.documents.synth.exposure import draw_exposures, page_times, plan_sources
from fedward.documents.synth.hospitals import make_profiles
from fedward.documents.synth.senders import SENDER_KINDS, make_pool
from fedward.documents.synth.split import assign_labels

SITES, PAGES, SEED = 3, 32, 5
SETTINGS = SenderSettings()


def _truth(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "truth.jsonl").read_text().splitlines()]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _plans(sites: int, pages: int, seed: int) -> list[dict[str, list[tuple[int | None, int]]]]:
    """Who sends each page, as the generator plans it (no rendering: fast enough for demo-sized runs)."""
    profiles = make_profiles(seed, sites)
    labels = [assign_labels(seed, h, p.class_mix, pages, 0.25) for h, p in enumerate(profiles)]
    pool = make_pool(seed, SETTINGS)
    plans = plan_sources(seed, labels, pool, draw_exposures(seed, sites, pool, SETTINGS), SETTINGS)
    return [{k: [(s.sender, s.version) for s in v] for k, v in plan.items()} for plan in plans]


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("senders") / "out"
    generate_federation(out, SITES, PAGES, SEED, senders=SETTINGS)
    return out


def test_truth_records_who_sent_each_page(federation: Path) -> None:
    record = json.loads((federation / "senders.json").read_text())
    pool = {s["name"]: s for s in record["pool"]}
    assert set(record["exposure"]) == set(HOSPITAL_NAMES[:SITES])
    assert not set(pool) & set(HOSPITAL_NAMES)
    kinds: set[str] = set()
    for hospital in HOSPITAL_NAMES[:SITES]:
        train = _truth(federation / hospital / "train")
        test = _truth(federation / hospital / "test")
        assert all(t["seen_locally"] for t in train)
        trained = {(t["sender"], t["form_version"]) for t in train}
        for t in train + test:
            kinds.add(t["sender_kind"])
            assert t["seen_locally"] == ((t["sender"], t["form_version"]) in trained)
            if t["sender_kind"] == "hospital":
                assert (t["sender"], t["form_version"]) == (hospital, 0)
            else:
                sender = pool[t["sender"]]
                assert t["label"] in sender["classes"] and sender["kind"] == t["sender_kind"]
                assert 0 <= t["form_version"] < len(sender["versions"])
        for split, truth in (("train", train), ("test", test)):
            lines = (federation / hospital / split / "labels.csv").read_text().splitlines()
            assert lines[0] == "file,label,sender,patient"  # the columns a site may have
            rows = [line.split(",") for line in lines[1:]]
            assert [r[2] for r in rows] == [t["sender"] for t in truth]
            assert [r[3] for r in rows] == [t["patient"] for t in truth]  # patients span several pages
    assert "hospital" in kinds and len(kinds) >= 3


def test_outside_pages_are_printed_by_their_sender_and_scanned_by_the_hospital(federation: Path) -> None:
    profiles = {p["name"]: p for p in json.loads((federation / "hospitals.json").read_text())}
    for hospital in HOSPITAL_NAMES[:SITES]:
        ext = ".jpg" if profiles[hospital]["scanner"]["format"] == "jpeg" else ".png"
        assert all(t["file"].endswith(ext) for t in _truth(federation / hospital / "train"))


def test_test_splits_hold_senders_only_other_hospitals_trained_on() -> None:
    plans = _plans(5, 200, 1)
    trained = [set(p["train"]) for p in plans]
    unseen_total = 0
    for h, plan in enumerate(plans):
        others = set().union(*(t for g, t in enumerate(trained) if g != h))
        unseen = [s for s in plan["test"] if s not in trained[h]]
        assert all(s in others for s in unseen)
        unseen_total += len(unseen)
        assert (None, 0) in trained[h]  # the hospital's own pages
    # power: without the later-in-time test split there would be nothing new to a hospital
    assert unseen_total >= 0.15 * sum(len(p["test"]) for p in plans)


def test_new_senders_arrive_and_form_versions_change_over_time() -> None:
    plans = _plans(5, 200, 1)
    arrived = changed = 0
    for plan in plans:
        trained = set(plan["train"])
        trained_senders = {s for s, _ in trained}
        for sender, _version in set(plan["test"]) - trained:
            arrived += sender not in trained_senders
            changed += sender in trained_senders
    assert arrived > 0 and changed > 0


def test_page_times_put_every_test_page_after_every_training_page() -> None:
    times = page_times(150, 50)
    assert times == sorted(times) and max(times[:150]) < min(times[150:]) and 0 < times[0] < times[-1] < 1


def test_each_hospital_sees_the_pool_with_its_own_skew() -> None:
    pool = make_pool(SEED, SETTINGS)
    exposures = draw_exposures(SEED, 5, pool, SETTINGS)
    weights = np.array([e.weights for e in exposures])
    assert len(pool) == SETTINGS.per_kind * len(SENDER_KINDS)
    assert (weights == 0).any(axis=0).any() and (weights > 0).any(axis=0).all()
    assert not np.allclose(weights[0], weights[1])


def test_a_new_form_version_is_a_redesign_of_the_senders_classes() -> None:
    for sender in make_pool(SEED, SETTINGS):
        first, second = sender.versions
        assert first.letterhead == second.letterhead and first.display_name == second.display_name
        for c in sender.classes:
            k = DOCUMENT_CLASSES.index(c)
            assert first.variants[k] != second.variants[k]


def test_same_seed_gives_identical_bytes_for_any_worker_count(federation: Path, tmp_path: Path) -> None:
    generate_federation(tmp_path / "pool", SITES, PAGES, SEED, senders=SETTINGS, workers=2)
    assert _files(federation) == _files(tmp_path / "pool")


@pytest.mark.parametrize(
    "bad",
    [
        {"per_kind": 0},
        {"versions": 4},
        {"outside_share": 1.5},
        {"alpha": 0.0},
        {"arriving_rate": float("nan")},
    ],
)
def test_impossible_settings_are_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=f"senders.{next(iter(bad))}"):
        SenderSettings(**bad)


# Recorded before senders existed: generate_federation(out, 3, 16, 11) with these library versions (the
# page bytes depend on Pillow's encoders and FreeType, the fake details on Faker's data).
_DEFAULT_DIGEST = "ea90f9a57b3bd23f09d170d665de87d994191fa10d6bfc10146ad53b846afaac"
_RECORDED_WITH = {"pillow": "13.0.0", "faker": "40.63.0", "numpy": "2.4.6", "matplotlib": "3.11.2"}


def test_default_output_is_unchanged_by_senders(tmp_path: Path) -> None:
    out = tmp_path / "default"
    generate_federation(out, 3, 16, 11)
    assert not (out / "senders.json").exists()
    keys = {
        k
        for line in (out / HOSPITAL_NAMES[0] / "test" / "truth.jsonl").read_text().splitlines()
        for k in json.loads(line)
    }
    assert not keys & {"sender", "sender_kind", "form_version", "seen_locally"}
    versions = {
        "pillow": PIL.__version__,
        "faker": faker.VERSION,
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
    }
    if versions != _RECORDED_WITH:
        pytest.skip(f"digest recorded with {_RECORDED_WITH}, running {versions}")
    digest = hashlib.sha256()
    for name, content in _files(out).items():
        digest.update(name.encode())
        digest.update(content)
    assert digest.hexdigest() == _DEFAULT_DIGEST


def test_synth_docs_senders_flag_writes_the_sender_truth(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fedward.cli.synth import app

    out = tmp_path / "docs"
    result = CliRunner().invoke(
        app, ["docs", "--out", str(out), "--sites", "1", "--pages", "16", "--senders"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "senders.json").is_file() and (out / "federation.toml").is_file()
    assert all("seen_locally" in t for t in _truth(out / HOSPITAL_NAMES[0] / "test"))
