"""The site (hospital) role: local data, local training and evaluation, answering the coordinator's tasks."""

from fedward.settings import TrainSettings
from fedward.site.data import LocalData
from fedward.site.node import Site
from fedward.site.trainer import predict, train

__all__ = ["LocalData", "Site", "TrainSettings", "predict", "train"]
