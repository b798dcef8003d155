"""Tabular clinical records: CSV loading and federated feature standardization."""

from fedward.tabular.csvdata import TabularTable, load_table
from fedward.tabular.impute import MISSING_SUFFIX, federated_context, impute_values, prepare
from fedward.tabular.standardize import FeatureStats, combine_stats, feature_sums

__all__ = [
    "MISSING_SUFFIX",
    "FeatureStats",
    "TabularTable",
    "combine_stats",
    "feature_sums",
    "federated_context",
    "impute_values",
    "load_table",
    "prepare",
]
