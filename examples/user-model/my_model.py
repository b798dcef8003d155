"""A federation's own model: fedward calls build_model(spec) at the coordinator and at every site."""

from torch import nn


class TwoLayer(nn.Module):
    """A small network with a LayerNorm (not BatchNorm: its running statistics would not be federated)."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, 32), nn.LayerNorm(32), nn.GELU())
        self.head = nn.Linear(32, n_classes)  # the last Linear: what [model] train = "head" trains

    def forward(self, x):
        return self.head(self.body(x))


def build_model(spec):
    # spec.n_features (tables) or spec.image_size (page images), and spec.n_classes
    return TwoLayer(spec.n_features, spec.n_classes)
