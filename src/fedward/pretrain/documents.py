"""`fedward pretrain docs`: a document encoder trained centrally on public synthetic pages.

A strong base model before federation begins (Tramer & Boneh 2021, "Differentially Private Learning Needs
Better Features (or Much More Data)"; De et al. 2022, "Unlocking High-Accuracy Differentially Private
Image Classification through Scale": private training on top of publicly pretrained features). The pages
come from the public corpus (documents/synth/public.py: its own hospitals, senders and seed domain, so it is
disjoint from every federation the generator writes), go through the same preprocessing pipeline a
documents federation uses, and train the same doc-cnn (fedward.models) with the same tensor names and the
same training loop a site runs (site/trainer.py). Training splits train; the later-in-time test splits,
with senders and form versions their hospital never trained on, are the held-out public split.

The output is the weights (`FILE.safetensors`, core/arrays.py) and `FILE.json`, the model card
(pretrain/card.py). Deterministic: the corpus is seeded, the model's initial weights and batch order come
from the seed, and torch runs on one thread while training, so the same command gives the same bytes.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from fedward.documents.dataset import DocumentSet, load_document_folder
from fedward.documents.pipeline import Pipeline, PipelineSpec
from fedward.documents.synth import DOCUMENT_CLASSES
from fedward.documents.synth.generate import SiteSummary
from fedward.documents.synth.public import generate_public_corpus
from fedward.models import ModelSpec, build_model, model_arrays
from fedward.pretrain.recipe import PretrainSettings
from fedward.site.trainer import TrainSettings, predict, train

__all__ = ["PretrainResult", "pretrain_documents", "public_pipeline"]


@dataclass(frozen=True)
class PretrainResult:
    """A trained encoder: its weights, what it was trained on, and how it does on held-out public pages."""

    settings: PretrainSettings
    spec: ModelSpec
    pipeline: PipelineSpec
    classes: tuple[str, ...]
    weights: dict[str, npt.NDArray[np.float32]]
    corpus: list[SiteSummary]
    rejected: int  # pages the preprocessing refused (too low a resolution), both splits
    train_accuracy: float
    heldout_accuracy: float
    heldout_pages: int


def public_pipeline(image_size: int) -> PipelineSpec:
    """The preprocessing of a documents federation with `[data]` defaults (run/data.py `pipeline_spec`)."""
    return PipelineSpec(min_dpi=90, image_size=image_size, correct_orientation=True, deskew=True)


def pretrain_documents(
    settings: PretrainSettings,
    *,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> PretrainResult:
    """Generate the public corpus in a temporary folder, load it through the pipeline, train, evaluate."""
    note = say or (lambda _: None)
    classes = tuple(sorted(DOCUMENT_CLASSES))  # a federation's class order (coordinator/setup.py)
    pipeline = public_pipeline(settings.image_size)
    with tempfile.TemporaryDirectory(prefix="fedward-pretrain-") as tmp:
        root = Path(tmp) / "corpus"
        note(f"generating {settings.sites} public hospitals x {settings.pages} pages")
        corpus = generate_public_corpus(
            root, settings.sites, settings.pages, settings.seed, workers=workers, progress=progress
        )
        note("preprocessing")
        train_set = _load(root, corpus, "train", pipeline, workers)
        test_set = _load(root, corpus, "test", pipeline, workers)
    note(f"training on {len(train_set.labels)} pages for {settings.epochs} epochs")
    return _train(settings, pipeline, classes, corpus, train_set, test_set)


def _load(
    root: Path, corpus: list[SiteSummary], split: str, pipeline: PipelineSpec, workers: int
) -> DocumentSet:
    """One split of every public hospital, stacked in hospital order."""
    sets = [load_document_folder(root / s.name / split, Pipeline(pipeline), workers=workers) for s in corpus]
    return DocumentSet(
        images=np.concatenate([s.images for s in sets]),
        labels=tuple(label for s in sets for label in s.labels),
        files=tuple(f"{c.name}/{split}/{f}" for c, s in zip(corpus, sets, strict=True) for f in s.files),
        rejected=tuple(r for s in sets for r in s.rejected),
    )


def _train(
    settings: PretrainSettings,
    pipeline: PipelineSpec,
    classes: tuple[str, ...],
    corpus: list[SiteSummary],
    train_set: DocumentSet,
    test_set: DocumentSet,
) -> PretrainResult:
    spec = ModelSpec("doc-cnn", settings.image_size, len(classes), settings.hidden, settings.channels)
    x, y = _tensors(train_set, classes)
    x_test, y_test = _tensors(test_set, classes)
    with _one_thread():
        model = build_model(spec, seed=settings.seed)
        train(model, x, y, _train_settings(settings))
        train_accuracy = float((predict(model, x) == y.numpy()).mean())
        heldout_accuracy = float((predict(model, x_test) == y_test.numpy()).mean())
    return PretrainResult(
        settings=settings,
        spec=spec,
        pipeline=pipeline,
        classes=classes,
        weights=model_arrays(model),
        corpus=corpus,
        rejected=len(train_set.rejected) + len(test_set.rejected),
        train_accuracy=train_accuracy,
        heldout_accuracy=heldout_accuracy,
        heldout_pages=len(test_set.labels),
    )


def _train_settings(settings: PretrainSettings) -> TrainSettings:
    return TrainSettings(
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        optimizer=settings.optimizer,
        max_grad_norm=settings.max_grad_norm,
        seed=settings.seed,
    )


def _tensors(data: DocumentSet, classes: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index[label] for label in data.labels], dtype=np.int64)
    return torch.from_numpy(np.ascontiguousarray(data.images)), torch.from_numpy(labels)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Torch on one thread while training: float sums then run in one order, so the bytes are the same on
    any machine with the same library versions (and two cores shared by other work lose little)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
