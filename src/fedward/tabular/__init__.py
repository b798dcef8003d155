"""Tabular clinical records: CSV loading and federated feature standardization."""

from fedward.tabular.csvdata import TabularTable, load_table
from fedward.tabular.standardize import FeatureStats, combine_stats, feature_sums

__all__ = ["FeatureStats", "TabularTable", "combine_stats", "feature_sums", "load_table"]
