"""Risk models: training sets, tuning, calibration, metrics."""
