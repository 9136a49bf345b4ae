"""Evaluation metrics: Frechet distances, Inception Score, I3D, the judge."""
