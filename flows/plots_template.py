"""`python -m flows plots-template`: see flows/plots.py."""
from flows.plots import main_template as main  # noqa: F401
