"""Writing a ready-to-run federation config next to generated data, so `synth` output runs as is."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["write_federation_file"]

Scalar = str | int | float | bool


def _value(v: Scalar | Sequence[int]) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string without control characters is a valid TOML basic string
    if isinstance(v, int | float):
        return repr(v)
    return "[" + ", ".join(repr(int(x)) for x in v) + "]"


def write_federation_file(
    path: Path,
    tables: Mapping[str, Mapping[str, Scalar | Sequence[int]]],
    sites: Sequence[tuple[str, str, str]],
    comment: str,
) -> None:
    """`tables` become `[name]` tables in order; `sites` (name, train, test) become `[[sites]]` entries."""
    lines = [f"# {line}" for line in comment.splitlines()]
    for name, table in tables.items():
        lines += ["", f"[{name}]"] + [f"{k} = {_value(v)}" for k, v in table.items()]
    for name, train, test in sites:
        lines += [
            "",
            "[[sites]]",
            f"name = {_value(name)}",
            f"train = {_value(train)}",
            f"test = {_value(test)}",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
