"""Ensemble members, fusion, quality scores and flags, FiftyOne review, Label Studio rounds, curation."""
