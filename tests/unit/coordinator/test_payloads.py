"""A site's payload checks: every problem with the site's bytes is `UnusablePayload` (the site's
failure); nothing else is caught there."""

import numpy as np
import pytest
from round_stubs import PARAMS, SETUP_SAMPLES, fit_reply, model

from fedward.coordinator.payloads import UnusablePayload, confusion_counts, fit_update
from fedward.core.arrays import arrays_to_bytes
from fedward.core.messages import Reply, ReplyStatus, Task, TaskKind

TASK = Task("r", 1, "s", TaskKind.FIT)
SPEND = {"dp_noise_multiplier": 1.0, "dp_sample_rate": 0.1, "dp_steps": 3}


def test_a_good_update_is_returned_with_its_spend():
    update, event = fit_update(
        fit_reply(TASK, model(2.0), info=SPEND), PARAMS, needs_spend=True, setup_samples=SETUP_SAMPLES
    )
    assert set(update) == set(PARAMS) and float(update["w"][0, 0]) == 2.0
    assert event is not None and event.steps == 3
    assert fit_update(fit_reply(TASK), PARAMS, needs_spend=False, setup_samples=SETUP_SAMPLES)[1] is None


@pytest.mark.parametrize(
    ("reply", "needs_spend", "match"),
    [
        (None, False, "safetensors"),  # bytes that are not safetensors
        (fit_reply(TASK, {"w": np.zeros((3, 2), np.float32), "b": np.zeros(2, np.float32)}), False, "shapes"),
        (fit_reply(TASK, {"w": np.zeros((2, 3), np.float32)}), False, "names"),
        (fit_reply(TASK, {**model(1.0), "b": np.array([np.nan, 0], np.float32)}), False, "non-finite"),
        (fit_reply(TASK, n=0), False, "num_samples must be positive"),
        (fit_reply(TASK, n=SETUP_SAMPLES + 1), False, "exceeds the 1000 the site described at set-up"),
        (fit_reply(TASK, info={"dp_noise_multiplier": 1.0}), True, "record-level DP spend"),
        (fit_reply(TASK, info={**SPEND, "dp_steps": "many"}), True, "must be numbers"),
    ],
)
def test_each_kind_of_bad_payload_is_the_sites_failure(reply, needs_spend, match):
    if reply is None:
        reply = Reply("r", 1, "s", TaskKind.FIT, ReplyStatus.OK, b"garbage", 10)
    with pytest.raises(UnusablePayload, match=match):
        fit_update(reply, PARAMS, needs_spend=needs_spend, setup_samples=SETUP_SAMPLES)


def _eval(matrix) -> Reply:
    body = arrays_to_bytes({"confusion": np.asarray(matrix, np.int64)})
    return Reply("r", 1, "s", TaskKind.EVALUATE, ReplyStatus.OK, body, 0)


def test_confusion_counts_are_checked():
    assert confusion_counts(_eval([[3, 1], [0, 2]]), 2).tolist() == [[3, 1], [0, 2]]
    for bad in ([[1, 2, 3]], [[-1, 0], [0, 1]]):
        with pytest.raises(UnusablePayload):
            confusion_counts(_eval(bad), 2)
    with pytest.raises(UnusablePayload, match="confusion"):
        confusion_counts(Reply("r", 1, "s", TaskKind.EVALUATE, ReplyStatus.OK, b"x", 0), 2)
    wrong_name = Reply("r", 1, "s", TaskKind.EVALUATE, ReplyStatus.OK, arrays_to_bytes({"cm": np.eye(2)}), 0)
    with pytest.raises(UnusablePayload):
        confusion_counts(wrong_name, 2)
