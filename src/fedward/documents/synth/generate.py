"""Generating a synthetic federation of scanned medical documents on disk.

Layout written under `out` (the contract the dataset loader and the CLI rely on)::

    hospitals.json                      the hospital profiles, for the record
    <hospital>/<split>/labels.csv       header `file,label` (with senders `file,label,sender,patient`);
                                        file relative to the split folder
    <hospital>/<split>/truth.jsonl      one JSON object per page, in labels.csv order
    <hospital>/<split>/pages/pNNNNN.png|jpg

A truth record holds `file`, `label`, `hospital`, `dpi` (also in the image metadata), `width`, `height`,
`skew_deg` and `orientation` (the page content was turned counter-clockwise by orientation + skew_deg in
total, as PIL's `Image.rotate`), and `fields`: the patient details drawn on the page, each with `kind`
(name, mrn, dob, address, phone), `text`, `box` (x0, y0, x1, y1 on the saved image, clipped to it) and
`box_upright` (the same on the upright page before any rotation).

With `senders` (opt-in, `SenderSettings`), many pages come from a shared pool of outside senders (see
`senders` and `exposure`): `senders.json` records the pool and each hospital's exposure to it, and every
truth record also holds `sender` (the pool sender's slug, or the hospital's own name), `sender_kind`
("hospital" for its own pages), `form_version`, `seen_locally` (whether this hospital's own training
split holds a page of the same sender and form version; always true on training pages) and `patient`, the
key of the patient the page belongs to: patients have several pages, each patient's at one hospital and
in one split (`patients`). labels.csv carries the columns a site may have: `sender` (the same slug) and
`patient` (the same key). Without `senders` the output is byte for byte what it was before senders
existed.

Each page's generators are seeded from (seed, hospital index, page index) alone, so the bytes on disk do
not depend on `workers` or on the order in which a process pool finishes pages.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import multiprocessing
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from faker import Faker

from fedward.documents.synth.cast import FEDERATION_CAST, MAX_SEED, Cast
from fedward.documents.synth.classes import DOCUMENT_CLASSES
from fedward.documents.synth.exposure import PageSource, draw_exposures, plan_sources
from fedward.documents.synth.hospitals import HospitalProfile, make_profiles
from fedward.documents.synth.patients import assign_patients
from fedward.documents.synth.scanner import Scan, scan
from fedward.documents.synth.senders import Sender, SenderSettings, make_pool, received
from fedward.documents.synth.split import SPLITS, assign_labels
from fedward.documents.synth.templates import print_page

__all__ = ["SiteSummary", "generate_federation"]

_PAGE_STREAM = 1


@dataclass(frozen=True)
class SiteSummary:
    """What was generated for one hospital: page counts, class counts (both splits together, and per
    split) and a short description of its profile."""

    name: str
    train_pages: int
    test_pages: int
    class_counts: dict[str, int]
    split_class_counts: dict[str, dict[str, int]]
    profile: dict[str, Any]


@dataclass(frozen=True)
class _Sent:
    """Who sent a page (for its truth record): sender slug, kind, form version, seen in local training."""

    name: str
    kind: str
    version: int
    seen_locally: bool


@dataclass(frozen=True)
class _PageJob:
    """Everything a (possibly separate) process needs to render and save one page."""

    out: str
    seed: int
    hospital_index: int
    hospital: HospitalProfile
    page_index: int
    split: str
    label: str
    printer: HospitalProfile | None = None  # whose print identity, when not the hospital's own
    sent: _Sent | None = None  # only with senders
    patient: str | None = None  # only with senders: the key of the patient the page belongs to

    @property
    def file(self) -> str:
        ext = "jpg" if self.hospital.scanner.format == "jpeg" else "png"
        return f"pages/p{self.page_index:05d}.{ext}"


def generate_federation(
    out: Path,
    sites: int,
    pages: int,
    seed: int,
    *,
    test_fraction: float = 0.25,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    senders: SenderSettings | None = None,
    cast: Cast = FEDERATION_CAST,
) -> list[SiteSummary]:
    """Write `sites` hospitals with `pages` scanned pages each (train + test) under `out`.

        `test_fraction` of each hospital's pages go to its test split (rounded, and never fewer pages than
        classes in either split). `progress(done, total)` is called in this process after each page, in page
        order. `workers > 1` renders in spawned processes, which import the caller's `__main__`: a script must
        guard its entry point with `if __name__ == "__main__":`. The output is the same for any `workers`.
    `senders` switches on the shared pool of outside senders and the later-in-time test splits (module
    docstring); None keeps the output of a federation without them. `cast` names the hospitals and senders
    and sets the seed domain (cast.py); the default is a federation's.

        Raises ValueError for impossible sizes and FileExistsError when `out` holds anything already. On any
        failure the partial output is removed, so `out` is as it was before the call.
    """
    _validate(sites, pages, seed, test_fraction, workers)
    out = Path(out)
    existed = out.exists()
    if existed and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out}: output folder exists and is not empty; choose a new folder")
    try:
        return _generate(
            out, sites, pages, cast.entropy_seed(seed), test_fraction, workers, progress, senders, cast
        )
    except BaseException:
        _remove_partial(out, existed)
        raise


def _validate(sites: int, pages: int, seed: int, test_fraction: float, workers: int) -> None:
    """Reject arguments that cannot give every hospital a usable train and test split."""
    minimum = 2 * len(DOCUMENT_CLASSES)
    if sites < 1:
        raise ValueError(f"sites must be at least 1, got {sites}")
    if pages < minimum:
        raise ValueError(
            f"pages must be at least {minimum} (2 x {len(DOCUMENT_CLASSES)} classes) per hospital, "
            f"so that train and test can each hold every class; got {pages}"
        )
    if not (math.isfinite(test_fraction) and 0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction}")
    if not 0 <= seed < MAX_SEED:
        raise ValueError(f"seed must be an integer from 0 to 2**32 - 1, got {seed}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")


def _remove_partial(out: Path, existed: bool) -> None:
    """Undo a failed run: `out` was missing or empty before, so everything in it now is ours."""
    if not out.exists():
        return
    if not existed:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _generate(
    out: Path,
    sites: int,
    pages: int,
    seed: int,
    test_fraction: float,
    workers: int,
    progress: Callable[[int, int], None] | None,
    senders: SenderSettings | None,
    cast: Cast,
) -> list[SiteSummary]:
    """Profiles, labels, pages, then the per-split index files (`seed`: the cast's entropy seed)."""
    profiles = make_profiles(seed, sites, cast.hospitals)
    out.mkdir(parents=True, exist_ok=True)
    (out / "hospitals.json").write_text(json.dumps([p.to_json() for p in profiles], indent=2) + "\n")
    jobs = _jobs(out, seed, profiles, pages, test_fraction)
    if senders is not None:
        labels = _labels(seed, profiles, pages, test_fraction)
        jobs = _with_senders(out, seed, profiles, labels, jobs, senders, cast)
    for profile in profiles:
        for split in SPLITS:
            (out / profile.name / split / "pages").mkdir(parents=True)
    truths: list[dict[str, Any]] = []
    for done, truth in enumerate(_run(jobs, workers), start=1):
        truths.append(truth)
        if progress is not None:
            progress(done, len(jobs))
    _write_indexes(out, jobs, truths)
    return [_summary(p, [j for j in jobs if j.hospital.name == p.name]) for p in profiles]


def _labels(
    seed: int, profiles: list[HospitalProfile], pages: int, test_fraction: float
) -> list[dict[str, list[str]]]:
    """Every hospital's train and test labels, in page order."""
    return [assign_labels(seed, h, p.class_mix, pages, test_fraction) for h, p in enumerate(profiles)]


def _jobs(
    out: Path, seed: int, profiles: list[HospitalProfile], pages: int, test_fraction: float
) -> list[_PageJob]:
    """One job per page: train pages first, then test, numbered through the hospital."""
    labels = _labels(seed, profiles, pages, test_fraction)
    jobs: list[_PageJob] = []
    for h, profile in enumerate(profiles):
        index = 0
        for split in SPLITS:
            for label in labels[h][split]:
                jobs.append(_PageJob(str(out), seed, h, profile, index, split, label))
                index += 1
    return jobs


def _with_senders(
    out: Path,
    seed: int,
    profiles: list[HospitalProfile],
    labels: list[dict[str, list[str]]],
    jobs: list[_PageJob],
    settings: SenderSettings,
    cast: Cast,
) -> list[_PageJob]:
    """The same jobs, each told who sent its page; `senders.json` records the pool and the exposures."""
    pool = make_pool(seed, settings, cast.senders)
    exposures = draw_exposures(seed, len(profiles), pool, settings)
    record = {
        "settings": settings.to_json(),
        "pool": [s.to_json() for s in pool],
        "exposure": {p.name: e.to_json(pool) for p, e in zip(profiles, exposures, strict=True)},
    }
    (out / "senders.json").write_text(json.dumps(record, indent=2) + "\n")
    plans = plan_sources(seed, labels, pool, exposures, settings)
    sources = [s for plan in plans for split in SPLITS for s in plan[split]]
    seen = [{(s.sender, s.version) for s in plan["train"]} for plan in plans]
    patients = [
        key
        for h, profile in enumerate(profiles)
        for split, keys in assign_patients(
            seed, h, profile.name, {s: len(labels[h][s]) for s in SPLITS}
        ).items()
        for key in keys
    ]
    return [
        dataclasses.replace(
            _sent_job(job, source, pool, (source.sender, source.version) in seen[job.hospital_index]),
            patient=patient,
        )
        for job, source, patient in zip(jobs, sources, patients, strict=True)
    ]


def _sent_job(job: _PageJob, source: PageSource, pool: tuple[Sender, ...], seen: bool) -> _PageJob:
    """`job` printed by its sender (its own hospital when `source.sender` is None)."""
    if source.sender is None:
        return dataclasses.replace(job, sent=_Sent(job.hospital.name, "hospital", 0, seen))
    sender = pool[source.sender]
    printer = received(sender.versions[source.version], job.hospital)
    return dataclasses.replace(
        job, printer=printer, sent=_Sent(sender.name, sender.kind, source.version, seen)
    )


def _run(jobs: list[_PageJob], workers: int) -> Iterator[dict[str, Any]]:
    """Render the jobs in order, here or in a pool of spawned processes (results come back in order)."""
    if workers == 1 or len(jobs) < 2:
        yield from map(_render_job, jobs)
        return
    chunk = max(1, min(16, len(jobs) // (workers * 8)))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(_render_job, jobs, chunksize=chunk)


@functools.lru_cache(maxsize=4)
def _faker(locale: str) -> Any:
    """One Faker per locale per process; it is re-seeded for every page."""
    return Faker(locale)


def _render_job(job: _PageJob) -> dict[str, Any]:
    """Print, scan and save one page; return its truth record."""
    entropy = np.random.SeedSequence([job.seed, _PAGE_STREAM, job.hospital_index, job.page_index])
    rng = np.random.default_rng(entropy)
    printer = job.hospital if job.printer is None else job.printer
    fake = _faker(printer.locale)
    fake.seed_instance(int(entropy.generate_state(1)[0]))
    scanner = job.hospital.scanner
    dpi = scanner.low_dpi if rng.random() < scanner.low_dpi_rate else scanner.dpi
    printed = print_page(printer, job.label, dpi, rng, fake)
    result = scan(printed.image, printed.fields, scanner, rng)
    path = Path(job.out) / job.hospital.name / job.split / job.file
    if scanner.format == "jpeg":
        result.image.save(path, "JPEG", quality=scanner.jpeg_quality, dpi=(dpi, dpi))
    else:
        result.image.save(path, "PNG", compress_level=3, dpi=(dpi, dpi))
    return _truth(job, dpi, result)


def _truth(job: _PageJob, dpi: int, result: Scan) -> dict[str, Any]:
    """The truth record of one page (see the module docstring for where it is written)."""
    record = {
        "file": job.file,
        "label": job.label,
        "hospital": job.hospital.name,
        "dpi": dpi,
        "width": result.image.width,
        "height": result.image.height,
        "skew_deg": result.skew_deg,
        "orientation": result.orientation,
        "fields": [
            {"kind": f.kind, "text": f.text, "box": list(f.box), "box_upright": list(f.box_upright)}
            for f in result.fields
        ],
    }
    if job.sent is None:
        return record
    sent = job.sent
    return record | {
        "sender": sent.name,
        "sender_kind": sent.kind,
        "form_version": sent.version,
        "seen_locally": sent.seen_locally,
        "patient": job.patient,
    }


def _write_indexes(out: Path, jobs: list[_PageJob], truths: list[dict[str, Any]]) -> None:
    """labels.csv and truth.jsonl of every split, rows in page order."""
    grouped: dict[Path, list[dict[str, Any]]] = {}
    for job, truth in zip(jobs, truths, strict=True):
        grouped.setdefault(out / job.hospital.name / job.split, []).append(truth)
    for folder, rows in grouped.items():
        with (folder / "labels.csv").open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            if "sender" not in rows[0]:  # without senders: the two columns, byte for byte as before
                writer.writerow(["file", "label"])
                writer.writerows([row["file"], row["label"]] for row in rows)
            else:
                writer.writerow(["file", "label", "sender", "patient"])
                writer.writerows([row["file"], row["label"], row["sender"], row["patient"]] for row in rows)
        with (folder / "truth.jsonl").open("w") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)


def _summary(profile: HospitalProfile, jobs: list[_PageJob]) -> SiteSummary:
    """Counts and a profile description for one hospital."""
    per_split = {
        s: {c: sum(1 for j in jobs if j.split == s and j.label == c) for c in DOCUMENT_CLASSES}
        for s in SPLITS
    }
    totals = {c: per_split["train"][c] + per_split["test"][c] for c in DOCUMENT_CLASSES}
    return SiteSummary(
        name=profile.name,
        train_pages=sum(per_split["train"].values()),
        test_pages=sum(per_split["test"].values()),
        class_counts=totals,
        split_class_counts=per_split,
        profile=profile.summary(),
    )
