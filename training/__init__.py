"""Model, losses, metrics, data loading, train, evaluate, export, speed benchmark, video inference."""
import datasets  # noqa: F401  (environment defaults)
