"""Which patient each page belongs to (senders mode): a patient has several pages, at one hospital and
in one split.

Real hospitals file several documents per patient (a referral, the discharge summary, a laboratory
report), which is why the privacy unit must be the patient, not the page (docs/privacy.md). Within each
split, pages are shuffled and cut into patients whose page counts are 1 + a geometric draw (mean
`1 + (1 - p) / p`, capped at `MAX_PAGES_PER_PATIENT`); a patient's pages never straddle train and test,
and keys are unique within a hospital (`<hospital>-P00001`, numbered through train then test). Seeded
from (seed, hospital index) alone.

The key is the truth of which pages share a patient; the printed details (name, MRN, dates) are still
drawn per page, so the same key can show different names on its pages.
"""

from __future__ import annotations

import numpy as np

from fedward.documents.synth.split import SPLITS

__all__ = ["MAX_PAGES_PER_PATIENT", "assign_patients"]

MAX_PAGES_PER_PATIENT = 8
_EXTRA_PAGE_P = 0.45  # geometric success probability: about 2.2 pages a patient on average
_PATIENT_STREAM = 6


def assign_patients(
    seed: int, hospital_index: int, hospital: str, sizes: dict[str, int]
) -> dict[str, list[str]]:
    """Each split's page-order list of patient keys (`sizes`: pages per split)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, _PATIENT_STREAM, hospital_index]))
    out: dict[str, list[str]] = {}
    number = 0
    for split in SPLITS:
        n = sizes.get(split, 0)
        owners = np.empty(n, dtype=np.int64)
        order = rng.permutation(n)
        start = 0
        while start < n:
            pages = min(int(rng.geometric(_EXTRA_PAGE_P)), MAX_PAGES_PER_PATIENT, n - start)
            number += 1
            owners[order[start : start + pages]] = number
            start += pages
        out[split] = [f"{hospital}-P{int(k):05d}" for k in owners]
    return out
