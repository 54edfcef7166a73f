"""Ensemble members, fusion, quality scores and flags, FiftyOne review, Label Studio rounds, curation."""
import datasets  # noqa: F401  (environment defaults)
