"""Clinical prose: sentences and paragraphs assembled from the vocabulary with the page's generator.

Prose never names the patient (it says "this patient", "she", "he"): every patient detail on a page is
drawn as a recorded field, so the field boxes cover all identifying text a redaction step must find.

The text only has to read like a real letter or summary at full resolution; the generator never needs
it to be medically coherent. Every choice comes from the page's numpy generator, so text is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from fedward.documents.synth import vocabulary as v
from fedward.documents.synth.patient import Patient

__all__ = [
    "choose",
    "course_paragraph",
    "diagnosis",
    "drug_line",
    "examination_paragraph",
    "follow_up_paragraph",
    "history_paragraph",
    "referral_request",
    "sample",
    "social_paragraph",
]

T = TypeVar("T")


def choose(rng: np.random.Generator, options: Sequence[T]) -> T:
    """One element of `options`, uniformly."""
    return options[int(rng.integers(len(options)))]


def sample(rng: np.random.Generator, options: Sequence[T], k: int) -> list[T]:
    """`k` distinct elements of `options` (fewer when there are not enough)."""
    picks = rng.permutation(len(options))[: min(k, len(options))]
    return [options[int(i)] for i in picks]


def diagnosis(rng: np.random.Generator) -> str:
    """A diagnosis name."""
    return choose(rng, v.DIAGNOSES)[0]


def drug_line(rng: np.random.Generator) -> str:
    """A medication with strength and directions, as on a medication list."""
    name, strength, _ = choose(rng, v.DRUGS)
    return f"{name} {strength} - {choose(rng, v.SIGS).lower()}"


def history_paragraph(rng: np.random.Generator, p: Patient) -> str:
    """How the patient presented."""
    s1, s2 = sample(rng, v.SYMPTOMS, 2)
    d1, d2 = sample(rng, v.DIAGNOSES, 2)
    days = int(rng.integers(2, 21))
    return (
        f"This {p.age}-year-old {'woman' if p.sex == 'F' else 'man'} presented with a "
        f"{days}-day history of {s1} and {s2}. {p.he.capitalize()} has a background of {d1[0].lower()} and "
        f"{d2[0].lower()}. On examination {p.he} was {choose(rng, v.EXAM_FINDINGS)}. "
        f"{choose(rng, _INVESTIGATIONS)}"
    )


def course_paragraph(rng: np.random.Generator, p: Patient) -> str:
    """What happened during the admission."""
    drug = choose(rng, v.DRUGS)[0]
    team = choose(rng, v.SPECIALTIES)
    return (
        f"{p.he.capitalize()} was commenced on {drug.lower()} and supportive treatment and was reviewed "
        f"by the {team} team, who recommended {choose(rng, _PLANS)}. {choose(rng, _PROGRESS)} "
        f"{p.he.capitalize()} was mobilising independently at the time of discharge."
    )


def examination_paragraph(rng: np.random.Generator, p: Patient) -> str:
    """Findings at today's review and the investigations so far."""
    tests = sample(rng, _INVESTIGATIONS, 2)
    return (
        f"When I saw {p.him} today {p.he} was {choose(rng, v.EXAM_FINDINGS)}. {tests[0]} {tests[1]} "
        f"{p.he.capitalize()} has tried {choose(rng, v.DRUGS)[0].lower()} with {choose(rng, _RESPONSES)}."
    )


def social_paragraph(rng: np.random.Generator, p: Patient) -> str:
    """Social history in one or two sentences."""
    habit = choose(rng, _HABITS).format(He=p.he.capitalize(), His=p.his.capitalize())
    return f"{p.he.capitalize()} {choose(rng, _SOCIAL)}. {habit}."


def follow_up_paragraph(rng: np.random.Generator, p: Patient) -> str:
    """Follow-up arrangements."""
    weeks = int(rng.integers(2, 13))
    return (
        f"Follow-up in the {choose(rng, v.SPECIALTIES)} clinic in {weeks} weeks. "
        f"Please repeat {choose(rng, _REPEATS)} in {int(rng.integers(2, 5))} weeks and review "
        f"{p.his} medication. {choose(rng, _SAFETY)}"
    )


def referral_request(rng: np.random.Generator, p: Patient) -> str:
    """The request sentence of a referral letter."""
    reason = choose(rng, _REASONS).format(symptom=choose(rng, v.SYMPTOMS), dx=diagnosis(rng).lower())
    return (
        f"I would be grateful if you could see this patient {reason}. {choose(rng, _URGENCY)} "
        f"I enclose a copy of {p.his} recent results and current medication list."
    )


_INVESTIGATIONS = (
    "Initial blood tests showed a raised C-reactive protein and a mild neutrophilia.",
    "An ECG showed sinus rhythm with no acute ischaemic changes.",
    "A chest radiograph demonstrated right basal consolidation.",
    "Renal function was impaired compared with previous results.",
    "Urinalysis was positive for leucocytes and nitrites.",
    "CT imaging was performed and is reported separately.",
)
_RESPONSES = ("little benefit", "partial relief of symptoms", "intolerable side effects", "no improvement")
_PLANS = (
    "a course of intravenous antibiotics",
    "anticoagulation for at least three months",
    "optimisation of heart failure therapy",
    "outpatient endoscopy",
    "a short course of oral steroids",
    "surgical review",
    "physiotherapy and a graded return to activity",
)
_PROGRESS = (
    "Inflammatory markers improved steadily over the admission.",
    "Observations remained stable throughout the admission.",
    "There was a brief episode of delirium, which resolved with supportive care.",
    "Renal function returned to baseline with intravenous fluids.",
    "Pain was well controlled with regular analgesia.",
)
_SOCIAL = (
    "lives alone in a ground-floor flat and is independent with activities of daily living",
    "lives with a partner and works part-time as a teacher",
    "is retired and lives with family, who provide some support",
    "lives in a residential care home and mobilises with a frame",
)
_HABITS = (
    "{His} alcohol intake is within recommended limits and there is a ten pack-year smoking history",
    "{He} is a non-smoker and drinks alcohol only occasionally",
    "Smoking cessation advice was given during the admission",
)
_REPEATS = (
    "renal function and electrolytes",
    "a full blood count",
    "liver function tests",
    "thyroid function tests",
    "a chest radiograph",
)
_SAFETY = (
    "The patient has been advised to return if symptoms recur or worsen.",
    "Written information about warning signs has been provided.",
    "Please do not hesitate to contact the ward if you have any questions.",
)
_REASONS = (
    "for further assessment of {symptom}",
    "for specialist review of {dx}",
    "for consideration of further investigation of {symptom}",
    "regarding ongoing management of {dx}",
)
_URGENCY = (
    "I would consider this a routine referral.",
    "I would be grateful for an urgent appointment.",
    "Symptoms have not settled despite a trial of first-line treatment.",
)
