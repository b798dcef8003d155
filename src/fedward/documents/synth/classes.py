"""The document classes of the synthetic corpus, in the fixed order that labels and class mixes use.

A page's class is its label: what the downstream classifier learns to tell apart from a small grey
thumbnail. Each class has `TEMPLATE_VARIANTS` layout variants; a hospital prints each class with one of
them, so the broad structure of a class is shared across hospitals while the details differ.
"""

from __future__ import annotations

__all__ = ["DOCUMENT_CLASSES", "TEMPLATE_VARIANTS"]

DOCUMENT_CLASSES: tuple[str, ...] = (
    "referral_letter",
    "discharge_summary",
    "consent_form",
    "pathology_report",
    "lab_report",
    "insurance_claim",
    "prescription",
    "radiology_report",
)

TEMPLATE_VARIANTS = 3
