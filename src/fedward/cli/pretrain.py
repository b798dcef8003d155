"""`fedward pretrain docs`: train a document encoder on public synthetic pages, before federation begins."""

from __future__ import annotations

from pathlib import Path

import typer

from fedward.cli.progress import counter, results
from fedward.errors import UserError

__all__ = ["app"]

app = typer.Typer(help="Train base models on public data, before federation begins.", no_args_is_help=True)


def _sizes(option: str, text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise UserError(
            f"{option} must be comma-separated integers, got {text!r}", where="fedward pretrain docs"
        ) from None


@app.command("docs")
def docs(
    out: Path = typer.Option(..., "--out", help="weights to create: FILE.safetensors, card FILE.json"),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of the public corpus, the init and batch order"),
    sites: int = typer.Option(8, "--sites", min=1, help="public hospitals"),
    pages: int = typer.Option(250, "--pages", min=1, help="pages per public hospital (train and test)"),
    channels: str = typer.Option("8,16,32", "--channels", help="doc-cnn channels per block"),
    hidden: str = typer.Option("32", "--hidden", help="doc-cnn hidden layer width"),
    image_size: int = typer.Option(64, "--image-size", min=16, help="side of the preprocessed page"),
    epochs: int = typer.Option(30, "--epochs", min=1, help="training epochs"),
    workers: int = typer.Option(1, "--workers", min=1, help="processes to render and preprocess with"),
) -> None:
    """Scanned documents: a doc-cnn trained on public pages of hospitals and senders no federation has."""
    from fedward.pretrain import PretrainSettings, pretrain_documents, write_encoder

    if out.suffix != ".safetensors":
        raise UserError("the weights file must end in .safetensors", where=out)
    if out.exists() or out.with_suffix(".json").exists():
        raise UserError("output file exists", where=out, hint="choose a new --out; nothing is overwritten")
    if not out.parent.is_dir():
        raise UserError("folder not found", where=out.parent, hint="create it first")
    try:
        settings = PretrainSettings(
            seed, sites, pages, _sizes("--channels", channels), _sizes("--hidden", hidden), image_size, epochs
        )
    except ValueError as exc:
        raise UserError(str(exc), where="fedward pretrain docs") from None
    with counter(f"synthesizing {sites} public hospitals", sites * pages) as progress:
        result = pretrain_documents(settings, workers=workers, progress=progress)
    card = write_encoder(result, out)
    results.print(
        f"wrote {out} (sha256 {card['weights']['sha256'][:16]}...) and {out.with_suffix('.json')}; "
        f"held-out public accuracy {result.heldout_accuracy:.3f} on {result.heldout_pages} pages",
        highlight=False,
    )
