"""Prefect flows: sequencing, retries, schedules, task runners; no domain logic."""
