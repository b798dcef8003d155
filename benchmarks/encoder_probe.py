"""Benchmark: do the built-in document encoder's features carry over to a federation's hospitals?

`fedward pretrain docs` trains the doc-cnn on public pages of hospitals and senders no federation has
(documents/synth/public.py). This probe generates the demo's federation with outside senders (5 hospitals x
200 pages, seed 2024 unless told), runs every hospital's pages through the federation's preprocessing, and
at each hospital trains a linear classifier (multinomial logistic regression, non-private) on frozen
features of its training pages, then scores its test pages (later in time, with senders it never saw):

- `hidden`: the encoder's hidden layer (after its ReLU; 32 values for the built-in encoder), and
- `conv`: the flattened map of its convolutional blocks (2048 values),

each from the pretrained weights and from a random initialisation of the same architecture (seed 0), the
control that says what pretraining adds. `zero_shot` is the pretrained encoder's own head, unchanged, on
each hospital's test pages (the public corpus has the same eight classes). A linear probe on frozen
features is the standard test of transferable features (Tramer & Boneh 2021, section 3).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from common import console, limited_threads, machine_info, parser_for, print_table, write_result
from fedward.core.arrays import arrays_from_bytes
from fedward.documents.dataset import DocumentSet, load_document_folder
from fedward.documents.pipeline import Pipeline
from fedward.documents.synth import SenderSettings, generate_federation
from fedward.models import ModelSpec, build_model, load_arrays
from fedward.models.builtin import builtin_model
from fedward.pretrain import public_pipeline

NAME = "encoder_probe"
FEATURES = ("hidden", "conv")


def encoder(path: Path | None) -> tuple[Path, dict[str, Any]]:
    if path is None:
        return builtin_model("doc-encoder")
    return path, json.loads(path.with_suffix(".json").read_text())


def hospitals(data: Path, image_size: int) -> dict[str, dict[str, Any]]:
    """Per hospital: the train and test pages through the federation's pipeline, and which test pages' sender
    (and form version) the hospital saw in training (truth.jsonl)."""
    pipeline = Pipeline(public_pipeline(image_size))
    out: dict[str, dict[str, Any]] = {}
    for folder in sorted(p for p in data.iterdir() if (p / "train").is_dir()):
        test = load_document_folder(folder / "test", pipeline)
        truth = {
            t["file"]: t for t in map(json.loads, (folder / "test" / "truth.jsonl").read_text().splitlines())
        }
        seen = np.array([truth[f]["seen_locally"] for f in test.files])
        out[folder.name] = {
            "train": load_document_folder(folder / "train", pipeline),
            "test": test,
            "seen": seen,
        }
    return out


def features(model: torch.nn.Module, pages: DocumentSet, kind: str) -> np.ndarray:
    """Frozen features of `pages`: the conv map, or the hidden layer after its ReLU."""
    with torch.no_grad():
        conv = model.features(torch.from_numpy(pages.images))  # type: ignore[operator]
        flat = torch.flatten(conv, 1)
        if kind == "conv":
            return flat.numpy()
        return model.head[2](model.head[1](flat)).numpy()  # type: ignore[index]


def probe(model: torch.nn.Module, site: dict[str, Any], classes: list[str], kind: str) -> dict[str, float]:
    index = {c: i for i, c in enumerate(classes)}
    y_train = np.array([index[c] for c in site["train"].labels])
    y_test = np.array([index[c] for c in site["test"].labels])
    scaler = StandardScaler().fit(features(model, site["train"], kind))
    fit = LogisticRegression(max_iter=3000, C=1.0).fit(
        scaler.transform(features(model, site["train"], kind)), y_train
    )
    right = fit.predict(scaler.transform(features(model, site["test"], kind))) == y_test
    return _scores(right, site["seen"])


def zero_shot(model: torch.nn.Module, site: dict[str, Any], classes: list[str]) -> dict[str, float]:
    index = {c: i for i, c in enumerate(classes)}
    y_test = np.array([index[c] for c in site["test"].labels])
    with torch.no_grad():
        right = model(torch.from_numpy(site["test"].images)).argmax(1).numpy() == y_test
    return _scores(right, site["seen"])


def _scores(right: np.ndarray, seen: np.ndarray) -> dict[str, float]:
    return {
        "accuracy": float(right.mean()),
        "seen": float(right[seen].mean()) if seen.any() else float("nan"),
        "unseen": float(right[~seen].mean()) if (~seen).any() else float("nan"),
    }


def measure(args: argparse.Namespace, data: Path) -> dict[str, Any]:
    path, card = encoder(args.encoder)
    spec = ModelSpec.from_config(card["model"])
    pretrained = build_model(spec, seed=0)
    load_arrays(pretrained, arrays_from_bytes(path.read_bytes()))
    models = {"pretrained": pretrained.eval(), "random": build_model(spec, seed=0).eval()}
    sites = hospitals(data, spec.input_dim)
    results: dict[str, dict[str, Any]] = {}
    for name, site in sites.items():
        row: dict[str, Any] = {"zero_shot": zero_shot(pretrained, site, card["classes"])}
        for init, model in models.items():
            for kind in FEATURES:
                row[f"{kind}_{init}"] = probe(model, site, card["classes"], kind)
        results[name] = row
    arms = list(next(iter(results.values())))
    means = {arm: float(np.mean([r[arm]["accuracy"] for r in results.values()])) for arm in arms}
    return {
        "encoder": {"path": str(path), "sha256": card["weights"]["sha256"]},
        "hospitals": results,
        "mean_site_accuracy": means,
    }


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(NAME, __doc__.splitlines()[0])
    parser.add_argument("--encoder", type=Path, default=None, help="weights (default: builtin doc-encoder)")
    parser.add_argument("--data", type=Path, default=None, help="an already generated sender federation")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    sites, pages = (2, 48) if args.quick else (5, 200)
    machine = machine_info()
    with limited_threads(args.threads), tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "data"
            generate_federation(data, sites, pages, args.seed, workers=args.workers, senders=SenderSettings())
        body = measure(args, data)
    rows = [[arm, f"{v:.3f}"] for arm, v in body["mean_site_accuracy"].items()]
    print_table("linear probe, mean-site accuracy", ["features", "accuracy"], rows)
    write_result(args.out, NAME, args, machine, body)
    console.print("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
