"""Built-in base models shipped in the package, each a safetensors file with its card beside it.

`doc-encoder`: a doc-cnn (channels 8, 16, 32; hidden 32; 64 x 64 pages; the generator's eight classes)
trained by `fedward pretrain docs` on public synthetic pages (documents/synth/public.py), sized for the
demo's private recipe. Its card (`doc-encoder.json`, pretrain/card.py) holds the exact command that
reproduces it, the data description, the held-out accuracy and the weights' sha256. `builtin_model`
checks that hash on every call (fail closed: a damaged or swapped file is refused, never loaded).
A federation config names one as `[model] init = "builtin:doc-encoder"`.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

from fedward.config import BUILTIN_PREFIX

__all__ = ["BUILTIN_MODELS", "BUILTIN_PREFIX", "builtin_model", "verified_model"]

BUILTIN_MODELS = ("doc-encoder",)


def builtin_model(name: str) -> tuple[Path, dict[str, Any]]:
    """The weights file of built-in model `name` (with or without the `builtin:` prefix) and its card.

    Raises ValueError for an unknown name (naming the built-in ones), or when the file's sha256 differs
    from the card's."""
    bare = name.removeprefix(BUILTIN_PREFIX)
    if bare not in BUILTIN_MODELS:
        raise ValueError(f"unknown built-in model {name!r}; built-in models: {', '.join(BUILTIN_MODELS)}")
    return verified_model(Path(str(resources.files(__name__))), bare)


def verified_model(folder: Path, name: str) -> tuple[Path, dict[str, Any]]:
    """`folder/name.safetensors` and its card `folder/name.json`, once the file's sha256 is the card's."""
    path = folder / f"{name}.safetensors"
    card: dict[str, Any] = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != card["weights"]["sha256"]:
        raise ValueError(
            f"base model {name}: {path} has sha256 {digest}, its card says {card['weights']['sha256']}; "
            "reinstall fedward"
        )
    return path, card
