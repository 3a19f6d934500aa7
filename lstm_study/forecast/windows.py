"""The old home of validation, features and windows, kept so that existing imports keep working.

Validation of a user's table now lives in :mod:`lstm_study.forecast.validate`, features and
windows in :mod:`lstm_study.forecast.features`.
"""

from lstm_study.forecast.features import (
    TARGETS,
    VOLATILITY_DAYS,
    check_target,
    feature_columns,
    first_complete_row,
    make_features,
    make_inputs,
    make_windows,
)
from lstm_study.forecast.validate import (
    COLUMNS,
    SPLIT_SUSPECT_LOG_MOVE,
    VOLUME_DAYS,
    PriceSeries,
    prepare_prices,
)

__all__ = [
    "COLUMNS",
    "SPLIT_SUSPECT_LOG_MOVE",
    "TARGETS",
    "VOLATILITY_DAYS",
    "VOLUME_DAYS",
    "PriceSeries",
    "check_target",
    "feature_columns",
    "first_complete_row",
    "make_features",
    "make_inputs",
    "make_windows",
    "prepare_prices",
]
