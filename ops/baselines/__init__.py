"""Statistical alert baselines: the causal anomaly detector behind dynamic thresholds."""

from ops.baselines.detector import Detection, DetectorConfig, detect, score_series

__all__ = ["Detection", "DetectorConfig", "detect", "score_series"]
