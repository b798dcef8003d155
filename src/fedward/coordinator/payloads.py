"""What a site sends back, checked before the coordinator uses any of it: a fit reply's model and its
reported privacy spend, an evaluation reply's confusion counts.

Each check raises `UnusablePayload` and nothing else for a problem with the site's bytes, so the round
records that site as failed; an error of any other type is the coordinator's own and stops the run.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from safetensors import SafetensorError

from fedward.coordinator.privacy import record_dp_event
from fedward.core.arrays import Arrays, add, arrays_from_bytes, check_finite
from fedward.core.compress import UNCOMPRESSED, CompressionSettings, decode_update
from fedward.core.messages import Reply
from fedward.privacy import PrivacyEvent

__all__ = ["UnusablePayload", "check_weight", "confusion_counts", "fit_update"]


class UnusablePayload(Exception):
    """A site's reply arrived but its payload cannot be used: the site's failure, not the coordinator's."""


def check_weight(num_samples: int, setup_samples: int) -> None:
    """A fit reply's sample count (its aggregation weight) is positive and at most the `setup_samples`
    the site described at set-up: a site cannot outweigh the federation by claiming rows it never
    had. Needs no signature; with an audit the signed count is checked too (`PackageVerifier`)."""
    if num_samples <= 0:
        raise UnusablePayload(f"num_samples must be positive, got {num_samples}")
    if num_samples > setup_samples:
        raise UnusablePayload(
            f"num_samples {num_samples} exceeds the {setup_samples} the site described at set-up"
        )


def fit_update(
    reply: Reply,
    params: Arrays,
    *,
    needs_spend: bool,
    setup_samples: int,
    compression: CompressionSettings = UNCOMPRESSED,
) -> tuple[Arrays, PrivacyEvent | None]:
    """The model in a fit reply (read-only views into its bytes), checked against the global model's
    names and shapes, finite, with a positive sample count no larger than the site's set-up count
    (`check_weight`); and its DP-SGD spend when `needs_spend`. A compressed reply (`compression`) carries
    the update instead: decoded and checked (core/compress.py `decode_update`), the model is `params`
    plus it."""
    event = _spend(reply) if needs_spend else None
    try:
        if compression.kind == "none":
            update = arrays_from_bytes(reply.parameters, copy=False)
        else:
            update = add(params, decode_update(reply.parameters, params, compression))
    except ValueError as exc:
        raise UnusablePayload(str(exc)) from None
    if update.keys() != params.keys() or any(update[k].shape != params[k].shape for k in params):
        raise UnusablePayload("parameters do not match the global model's names and shapes")
    try:
        check_finite(update)
    except ValueError as exc:
        raise UnusablePayload(str(exc)) from None
    check_weight(reply.num_samples, setup_samples)
    return update, event


def _spend(reply: Reply) -> PrivacyEvent:
    try:
        return record_dp_event(reply.info)
    except ValueError as exc:
        raise UnusablePayload(str(exc)) from None


def confusion_counts(reply: Reply, classes: int) -> npt.NDArray[np.int64]:
    """The `classes x classes` confusion matrix an evaluation reply carries: non-negative whole counts."""
    try:
        matrix = arrays_from_bytes(reply.parameters, dtype=np.float64)["confusion"]
    except (ValueError, KeyError, SafetensorError) as exc:
        raise UnusablePayload(f"no readable confusion matrix: {exc}") from None
    if matrix.shape != (classes, classes):
        raise UnusablePayload(f"confusion matrix of shape {matrix.shape}, expected {(classes, classes)}")
    if not np.all(np.isfinite(matrix)) or np.any(matrix < 0) or np.any(matrix != np.round(matrix)):
        raise UnusablePayload("confusion matrix entries must be non-negative whole numbers")
    return matrix.astype(np.int64)
