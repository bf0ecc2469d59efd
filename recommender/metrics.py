"""The metrics the bench and evaluation commands share. Defined once, framework-free, in
ml/evaluate.py (percentile, Pr@k, MRR); imported here for the commands that read them from the app."""

from __future__ import annotations

from ml.evaluate import mean_reciprocal_rank, percentile, precision_at_k

__all__ = ["mean_reciprocal_rank", "percentile", "precision_at_k"]
