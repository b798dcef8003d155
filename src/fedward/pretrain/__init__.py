"""Pretraining base models on public data before federation begins: `fedward pretrain docs` trains a
document encoder on the public synthetic corpus (documents/synth/public.py), writes weights and a card."""

from fedward.pretrain.card import CARD_FORMAT, write_encoder
from fedward.pretrain.documents import PretrainResult, pretrain_documents, public_pipeline
from fedward.pretrain.recipe import PretrainSettings

__all__ = [
    "CARD_FORMAT",
    "PretrainResult",
    "PretrainSettings",
    "pretrain_documents",
    "public_pipeline",
    "write_encoder",
]
