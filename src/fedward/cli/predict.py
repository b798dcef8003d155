"""`fedward predict --release DIR --input FILE_OR_FOLDER --out predictions.csv`: local inference with a
signed release (fedward.predict). The release's signature is verified before anything in it is used;
a documents release's preprocessing is checked by its hash; every refusal exits 2 naming the file."""

from __future__ import annotations

from pathlib import Path

import typer

from fedward.cli.keys import read_public_key
from fedward.cli.progress import results

__all__ = ["predict_command"]


def predict_command(
    release: Path = typer.Option(..., "--release", help="release folder, e.g. RUN/releases/final"),
    input: Path = typer.Option(
        ..., "--input", help="page image (PNG, JPEG, TIFF) or folder of them; or a CSV for a tabular release"
    ),
    out: Path = typer.Option(..., "--out", help="predictions CSV to write; review_queue.csv goes beside it"),
    threshold: float = typer.Option(
        0.5, "--threshold", min=0.0, max=1.0, help="review predictions whose confidence is under this"
    ),
    key: Path | None = typer.Option(None, "--key", help="the coordinator's public key (PEM), to pin it"),
    engine: str = typer.Option(
        "torch", "--engine", help="torch (default) or onnx (ONNX Runtime on model.onnx)"
    ),
) -> None:
    """Verify a release, preprocess the input as the federation did, and write class, confidence and a
    review flag per page or row."""
    from fedward.errors import UserError
    from fedward.predict import (
        ENGINES,
        load_release,
        predictions,
        read_documents,
        read_table,
        score,
        write_csvs,
    )

    if engine not in ENGINES:
        raise UserError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    public = None if key is None else read_public_key(key, "coordinator public key")
    loaded = load_release(release, public)  # verified first: nothing of the release is used before
    if loaded.pipeline is not None:
        inputs = read_documents(input, loaded.pipeline)
    else:
        inputs = read_table(input, loaded.spec)
    probs = score(loaded, inputs.x, engine)
    rows = predictions(inputs, probs, loaded.spec.classes, threshold)
    queue = write_csvs(out, inputs.key, rows)
    review = sum(r.review for r in rows)
    results.print(
        f"release {loaded.record.version} of run {loaded.record.run_id} verified: "
        f"{loaded.record.trust_note()}",
        highlight=False,
        markup=False,
    )
    results.print(
        f"{len(rows)} predictions -> {out}; {review} for review (confidence < {threshold:g} or unreadable) "
        f"-> {queue}",
        highlight=False,
        markup=False,
    )
