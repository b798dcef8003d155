"""Letter-like documents: referral letters (paragraphs under an address block, signed) and discharge
summaries (a full page of headed sections under a patient block).

Both classes are running text; what tells them apart on a thumbnail is the letter's address block,
salutation and signature against the summary's title, identification block and stack of headings.
"""

from __future__ import annotations

from fedward.documents.synth import blocks as b
from fedward.documents.synth import prose
from fedward.documents.synth import vocabulary as v
from fedward.documents.synth.context import PageContext
from fedward.documents.synth.letterhead import letterhead

__all__ = ["discharge_summary", "referral_letter"]


def referral_letter(ctx: PageContext) -> None:
    """A GP or clinic referral: addresses, Re: line, three or four paragraphs, signature, cc."""
    y = letterhead(ctx)
    y = _addresses(ctx, y)
    c, p, f = ctx.canvas, ctx.patient, ctx.fonts.body
    c.text(ctx.left, y, f"Dear Dr {ctx.fake.last_name()},", f)
    y = _re_line(ctx, y + ctx.step(f.size) * 2)
    justify = ctx.variant == 0
    texts = [
        prose.referral_request(ctx.rng, p),
        prose.history_paragraph(ctx.rng, p),
        prose.examination_paragraph(ctx.rng, p),
        prose.social_paragraph(ctx.rng, p),
    ]
    for text in texts:
        y = b.paragraph(ctx, y, text, justify=justify)
    if ctx.variant == 1:
        c.text(ctx.left, y, "Current medication:", ctx.fonts.bold)
        y = b.bullets(ctx, y + ctx.step(f.size), [prose.drug_line(ctx.rng) for _ in range(3)])
    thanks = "Thank you for seeing this patient. Please contact me if you require any further information."
    _sign_off(ctx, b.paragraph(ctx, y, thanks, justify=justify))


def _re_line(ctx: PageContext, y: int) -> int:
    """The bold "Re:" line naming the patient (and, in most variants, address and phone)."""
    c, p, f = ctx.canvas, ctx.patient, ctx.fonts.body
    parts: list[tuple[str, str | None]] = [
        ("Re: ", None),
        (p.name, "name"),
        (", DOB ", None),
        (p.dob, "dob"),
        (", MRN ", None),
        (p.mrn, "mrn"),
    ]
    c.spans(ctx.left, y, parts, ctx.fonts.bold, ctx.fonts.bold)
    y += ctx.step(f.size)
    if ctx.variant != 1:
        c.spans(ctx.left, y, [(p.address, "address"), ("   Tel. ", None), (p.phone, "phone")], ctx.fonts.bold)
        y += ctx.step(f.size)
    return y + ctx.step(f.size) // 2


def _addresses(ctx: PageContext, y: int) -> int:
    """Date and references plus the recipient's address block; returns the y below them."""
    c, f = ctx.canvas, ctx.fonts.body
    step = ctx.step(f.size)
    recipient = [
        ctx.clinician(),
        f"Department of {prose.choose(ctx.rng, v.SPECIALTIES)}",
        f"{ctx.fake.city()} {prose.choose(ctx.rng, ('Hospital', 'Clinic', 'Medical Centre'))}",
        str(ctx.fake.street_address()).replace("\n", ", "),
    ]
    if ctx.variant == 1:
        c.text(ctx.left, y, ctx.patient.doc_date, f)
        y += step * 2
    else:
        c.text_right(ctx.right, y, ctx.patient.doc_date, f)
        c.text_right(ctx.right, y + step, f"Our ref: {ctx.fake.bothify('??/####').upper()}", ctx.fonts.small)
    for i, line in enumerate(recipient):
        c.text(ctx.left, y + i * step, line, f)
    if ctx.variant == 2:
        box = (ctx.left + ctx.width * 3 // 5, y + step * 2, ctx.right, y + step * 5)
        c.rect(box, outline=c.ink, width=max(1, ctx.pt(0.8)))
        c.text(
            box[0] + ctx.pt(4),
            box[1] + ctx.pt(4),
            "URGENT REFERRAL" if ctx.chance(0.4) else "ROUTINE",
            ctx.fonts.bold,
        )
    return y + step * (len(recipient) + 2)


def _sign_off(ctx: PageContext, y: int) -> None:
    """Yours sincerely, a signature, the sender's name and role, and a cc line."""
    c, f = ctx.canvas, ctx.fonts.body
    step = ctx.step(f.size)
    c.text(ctx.left, y, "Yours sincerely," if ctx.variant != 2 else "Kind regards,", f)
    y = b.signature(ctx, ctx.left, y + step // 2, ctx.pt(150), "")
    c.text(ctx.left, y - ctx.pt(4), ctx.clinician(), ctx.fonts.bold)
    c.text(ctx.left, y - ctx.pt(4) + step, prose.choose(ctx.rng, _ROLES), ctx.fonts.italic)
    c.text(ctx.left, y - ctx.pt(4) + step * 3, "cc: Patient; Practice records", ctx.fonts.small)


_ROLES = ("General Practitioner", "Consultant Physician", "Specialty Registrar", "Nurse Practitioner")


def discharge_summary(ctx: PageContext) -> None:
    """A discharge summary: title, identification block, headed sections down the whole page."""
    y = letterhead(ctx)
    y = b.title(ctx, y, "DISCHARGE SUMMARY", center=ctx.variant == 1)
    stay = int(ctx.rng.integers(1, 15))
    meta = [
        ("Admitted", ctx.patient.date(stay)),
        ("Ward", f"{prose.choose(ctx.rng, _WARDS)}"),
        ("Consultant", ctx.clinician()),
        ("Discharged", ctx.patient.doc_date),
    ]
    y = b.patient_block(ctx, y, meta)
    y = _diagnoses(ctx, y)
    y = b.sections(ctx, y, _sections(ctx), reserve=ctx.pt(60))
    y = _medications(ctx, y)
    if y < ctx.limit - ctx.pt(50):
        b.signature(ctx, ctx.left, y, ctx.pt(170), f"Discharging clinician: {ctx.clinician()}")


def _diagnoses(ctx: PageContext, y: int) -> int:
    """Principal and secondary diagnoses, boxed in variant 2."""
    main, code = prose.choose(ctx.rng, v.DIAGNOSES)
    others = [f"{d} ({c})" for d, c in prose.sample(ctx.rng, v.DIAGNOSES, 2)]
    top = y
    y = b.heading(ctx, y, "Diagnosis")
    ctx.canvas.text(ctx.left + ctx.pt(6), y, f"Principal: {main} ({code})", ctx.fonts.bold)
    y = b.bullets(ctx, y + ctx.step(ctx.fonts.body.size), others)
    if ctx.variant == 2:
        ctx.canvas.rect(
            (ctx.left - ctx.pt(3), top - ctx.pt(3), ctx.right + ctx.pt(3), y),
            outline=ctx.canvas.ink,
            width=ctx.pt(1.2),
        )
        y += ctx.pt(8)
    return y


def _sections(ctx: PageContext) -> list[tuple[str, str]]:
    """The narrative sections, in the order this hospital's template prints them."""
    p, rng = ctx.patient, ctx.rng
    sections = [
        ("Presenting complaint", prose.history_paragraph(rng, p)),
        ("Hospital course", prose.course_paragraph(rng, p)),
        ("Social history", prose.social_paragraph(rng, p)),
        ("Follow-up", prose.follow_up_paragraph(rng, p)),
    ]
    if ctx.variant == 1:
        sections.insert(
            2, ("Procedures", "; ".join(d for d, _, _ in prose.sample(rng, v.PROCEDURES, 2)) + ".")
        )
    return sections


def _medications(ctx: PageContext, y: int) -> int:
    """Discharge medications as a table (variant 0) or a list."""
    count = int(ctx.rng.integers(3, 7))
    drugs = prose.sample(ctx.rng, v.DRUGS, count)
    room = ctx.limit - y - ctx.pt(70)
    count = max(0, min(count, room // max(1, ctx.step(ctx.fonts.body.size)) - 3))
    if count == 0:
        return y
    y = b.heading(ctx, y, "Medications on discharge")
    if ctx.variant == 0:
        cols = [b.Column("Medication", 3), b.Column("Dose", 1.2), b.Column("Directions", 4)]
        rows = [[name, strength, prose.choose(ctx.rng, v.SIGS)] for name, strength, _ in drugs[:count]]
        return b.table(ctx, y, cols, rows)
    return b.bullets(ctx, y, [f"{n} {s} {f}" for n, s, f in drugs[:count]])


_WARDS = ("Ward 7B", "Cedar Ward", "Acute Medical Unit", "Surgical Ward 3", "Coronary Care", "Elm Ward")
