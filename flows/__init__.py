"""Prefect flows: sequencing, retries, schedules, task runners; no domain logic."""
import datasets  # noqa: F401  (environment defaults)
