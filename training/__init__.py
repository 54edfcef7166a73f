"""Model, losses, metrics, data loading, train, evaluate, export, speed benchmark, video inference."""
import os

import datasets  # noqa: F401  (environment defaults)

# OpenMP threads that sleep when idle instead of spinning (before torch is imported). With spinning
# (the default), two processes on a busy 2-core machine made a training step 50x slower (0.2 s ->
# 10-14 s); passive waiting costs little on an idle machine. A value set by the caller wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
