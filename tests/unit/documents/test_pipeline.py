"""PipelineSpec identity (canonical JSON, hash, strict parsing) and Pipeline results."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fedward.documents.pipeline import PIPELINE_VERSION, PageResult, Pipeline, PipelineSpec
from fedward.errors import ConfigError

PageMaker = Callable[..., Image.Image]  # the page makers of conftest.py, handed in as fixtures

# Pinned: a change here means every ledger entry that recorded the default spec no longer matches.
DEFAULT_JSON = (
    '{"correct_orientation":true,"cover_scanner_bed":true,"crop_margin":0.02,"deskew":true,'
    '"erase_streaks":true,"flatten_illumination":true,"image_size":64,"max_skew_deg":12.0,"min_dpi":90,'
    '"page_width_in":8.4,"version":"fedward.documents.pipeline/1","working_dpi":100}'
)


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    return value + 0.01 if value < 1.0 else value - 0.5


def test_canonical_json_and_hash_are_pinned() -> None:
    spec = PipelineSpec()
    assert spec.canonical_json() == DEFAULT_JSON
    assert spec.sha256() == hashlib.sha256(DEFAULT_JSON.encode()).hexdigest()
    assert PipelineSpec().sha256() == spec.sha256()


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(PipelineSpec)])
def test_hash_changes_with_every_field(name: str) -> None:
    base = PipelineSpec()
    other = dataclasses.replace(base, **{name: _changed(getattr(base, name))})
    assert other.sha256() != base.sha256()


def test_hash_includes_the_code_version() -> None:
    assert PipelineSpec().to_dict()["version"] == PIPELINE_VERSION
    assert PIPELINE_VERSION in PipelineSpec().canonical_json()


def test_from_dict_round_trips() -> None:
    spec = PipelineSpec(min_dpi=120, image_size=32, deskew=False, max_skew_deg=8, crop_margin=0.1)
    again = PipelineSpec.from_dict(json.loads(spec.canonical_json()))
    assert again == spec and again.sha256() == spec.sha256()
    assert PipelineSpec.from_dict({}) == PipelineSpec()


def test_int_and_float_spell_the_same_spec() -> None:
    assert PipelineSpec(max_skew_deg=8).sha256() == PipelineSpec(max_skew_deg=8.0).sha256()
    assert isinstance(PipelineSpec(max_skew_deg=8).max_skew_deg, float)


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match=r"unknown pipeline key.*colour"):
        PipelineSpec.from_dict({"min_dpi": 90, "colour": True})


@pytest.mark.parametrize(
    "data",
    [
        {"min_dpi": "90"},
        {"min_dpi": 90.5},
        {"image_size": True},
        {"deskew": 1},
        {"max_skew_deg": "12"},
        {"max_skew_deg": float("nan")},
    ],
)
def test_from_dict_rejects_wrong_types(data: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        PipelineSpec.from_dict(data)
    assert info.value.where == f"pipeline.{next(iter(data))}"


def test_from_dict_rejects_another_code_version() -> None:
    with pytest.raises(ConfigError, match="version"):
        PipelineSpec.from_dict({"version": "fedward.documents.pipeline/0"})


@pytest.mark.parametrize(
    "kwargs", [{"min_dpi": 0}, {"image_size": 4}, {"max_skew_deg": 60.0}, {"crop_margin": -0.1}]
)
def test_out_of_range_values_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        PipelineSpec(**kwargs)


def test_accepted_page_result(render_page: PageMaker, scan: PageMaker) -> None:
    result = Pipeline(PipelineSpec(image_size=32)).process(scan(render_page(1), skew=2.0), file="pages/a.png")
    assert isinstance(result, PageResult)
    assert result.file == "pages/a.png" and result.accepted and result.reason is None
    assert result.image is not None and result.image.shape == (32, 32) and result.image.dtype == np.float32
    assert result.dpi == 100 and result.dpi_source == "metadata"
    assert result.estimated_orientation == 0 and result.estimated_skew_deg is not None


def test_rejected_page_has_no_image(render_page: PageMaker, scan: PageMaker) -> None:
    result = Pipeline(PipelineSpec(min_dpi=150)).process(scan(render_page(1)), file="a.png")
    assert not result.accepted and result.image is None
    assert result.estimated_orientation is None and result.estimated_skew_deg is None


def test_processing_is_deterministic(render_page: PageMaker, scan: PageMaker) -> None:
    page = scan(render_page(2), orientation=270, skew=-3.0)
    first = Pipeline().process(page, file="a.png")
    second = Pipeline().process(page.copy(), file="a.png")
    assert first.image is not None and second.image is not None
    assert first.image.tobytes() == second.image.tobytes()
    assert first.estimated_skew_deg == second.estimated_skew_deg


def test_default_pipeline_uses_the_default_spec() -> None:
    assert Pipeline().spec == PipelineSpec()
