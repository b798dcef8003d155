"""Synthetic scanned medical documents for a federation of fictional hospitals.

`generate_federation` writes, per hospital, train and test splits of greyscale page scans with labels
and ground truth (scan resolution, skew, orientation, boxes of patient details). Hospitals differ in
class mix (label skew) and in letterhead, fonts, templates and scanner (feature shift), so a classifier
trained at one site transfers imperfectly to the others. With `senders` (`SenderSettings`, opt-in), many
pages come from a shared pool of outside senders and each test split is later in time than its training
split, holding senders and form versions only other hospitals trained on. Every patient detail is fake
(Faker).
"""

from fedward.documents.synth.classes import DOCUMENT_CLASSES
from fedward.documents.synth.generate import SiteSummary, generate_federation
from fedward.documents.synth.hospitals import HOSPITAL_NAMES
from fedward.documents.synth.senders import SenderSettings

__all__ = ["DOCUMENT_CLASSES", "HOSPITAL_NAMES", "SenderSettings", "SiteSummary", "generate_federation"]
