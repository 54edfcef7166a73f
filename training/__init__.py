"""Model, losses, metrics, data loading, train, evaluate, export, speed benchmark, video inference."""
