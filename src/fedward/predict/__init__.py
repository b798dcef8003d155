"""Local inference with a signed release (`fedward predict`): verify the release first, run the same
preprocessing the federation trained with (checked by its hash), score with PyTorch or ONNX Runtime, and
write the predictions with a review flag for those under the confidence threshold."""

from fedward.predict.inputs import Inputs, read_documents, read_table
from fedward.predict.loaded import InferenceRelease, load_release
from fedward.predict.output import DEFAULT_THRESHOLD, REVIEW_QUEUE_FILE, Prediction, predictions, write_csvs
from fedward.predict.scoring import ENGINES, score

__all__ = [
    "DEFAULT_THRESHOLD",
    "ENGINES",
    "REVIEW_QUEUE_FILE",
    "InferenceRelease",
    "Inputs",
    "Prediction",
    "load_release",
    "predictions",
    "read_documents",
    "read_table",
    "score",
    "write_csvs",
]
